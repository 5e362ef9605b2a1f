// Storage round trips per blob for push, pull and copy, counted (never timed): driver calls on a
// filesystem store, S3 requests on the Swift lab. An image of 10 small layers + config (11 blobs
// and one manifest); the numbers are the layout's needs, and a change that adds a round trip per
// blob shows here first. Where each one goes is in bench/RESULTS.md ("per-blob round trips").
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StorageDriver } from '../../src/drivers/driver.js';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import type { S3Driver } from '../../src/drivers/s3.js';
import { ImageCopier } from '../../src/image/image-copier.js';
import { OciLayoutSink, OciLayoutSource } from '../../src/image/oci-layout.js';
import { pushInto } from '../../src/store/import.js';
import { StoreSink, StoreSource } from '../../src/store/source-sink.js';
import { CountingDriver } from '../lab/counting-driver.js';
import { makeLayout } from '../lab/images.js';
import { freshS3Store } from '../lab/swift.js';
import { tempDir } from '../lab/tools.js';

const LAYERS = 10;
let src: string;

beforeAll(async () => {
  src = join(tempDir(), 'layout');
  await makeLayout(src, [{ ref: 'v1', layers: LAYERS, layerSize: 1000 }]);
});

function push(d: StorageDriver, opts: { repair?: boolean } = {}) {
  return pushInto(d, new OciLayoutSource(src, 'v1'), `oci:${src}:v1`, { repo: 'a/b', tag: 'v1' }, { concurrency: 4, referrers: false, ...opts });
}

async function pull(d: StorageDriver, dir: string): Promise<void> {
  const source = new StoreSource(d, { repo: 'a/b', tag: 'v1' });
  const sink = new OciLayoutSink(dir);
  const [img] = await source.images();
  await new ImageCopier(source, sink, { concurrency: 4, referrers: false }).copy(img!.descriptor);
  await sink.commit();
}

async function copy(from: StorageDriver, to: StorageDriver): Promise<void> {
  const source = new StoreSource(from, { repo: 'a/b', tag: 'v1' });
  const sink = new StoreSink(to, 'c/d');
  const [img] = await source.images();
  const desc = await new ImageCopier(source, sink, { concurrency: 4, referrers: false }).copy(img!.descriptor);
  await sink.tag('v1', desc);
}

interface Counter {
  counts(): Record<string, number>;
  reset(): void;
}

/**
 * Round trips of `f`, by kind. A reused blob older than a minute (by the storage's clock) also
 * gets its time refreshed (a filesystem touch, an S3 copy onto itself: see checkExisting), which
 * depends on how long the steps before took on a loaded machine: those are left out.
 */
async function counted(c: Counter, f: () => Promise<unknown>): Promise<Record<string, number>> {
  c.reset();
  await f();
  const { touch: _t, CopyObject: _c, ...rest } = c.counts();
  return rest;
}

describe('round trips on a filesystem store (driver calls)', () => {
  const d = new CountingDriver(new FilesystemDriver(tempDir()));
  const c: Counter = { counts: () => d.snapshot(), reset: () => d.reset() };

  it('push, push again, push --repair, pull, pull again, copy', async () => {
    // New: per blob a stat (absent), the data put, the link put; the manifest: revision link
    // read (absent), stat, put, link read and put; the tag: revision read, current read, two puts.
    expect(await counted(c, () => push(d))).toEqual({ getContent: 6, putContent: 26, stat: 12 });
    // Again: per blob the layer link read and a stat (is it there, with its size?).
    expect(await counted(c, () => push(d))).toEqual({ getContent: 16, stat: 12 });
    // --repair: as again, and each blob and the manifest read back and hashed (the manifest put
    // reads its revision link and the links again).
    expect(await counted(c, () => push(d, { repair: true }))).toEqual({ getContent: 16, reader: 12, stat: 12 });
    const out = join(tempDir(), 'out');
    // Pull: the tag, revision link and manifest, then per blob a stat (StoreSource.checkBlob: a
    // damaged store fails before anything is written) and one read.
    expect(await counted(c, () => pull(d, out))).toEqual({ getContent: 5, reader: 11, stat: 11 });
    // Into a layout that has it all: no blob read from the store (the layout's copies are checked locally).
    expect(await counted(c, () => pull(d, out))).toEqual({ getContent: 5 });
    const to = new CountingDriver(new FilesystemDriver(tempDir()));
    expect(await counted({ counts: () => to.snapshot(), reset: () => to.reset() }, () => copy(d, to))).toEqual({ getContent: 6, putContent: 26, stat: 12 });
  });
});

describe('round trips on S3 (requests)', () => {
  let d: S3Driver;
  let c: Counter;
  beforeAll(async () => {
    const s3 = await freshS3Store({ prefix: 'store', tag: 'rtrips' });
    d = s3.driver();
    c = { counts: () => d.requestCounts(), reset: () => d.resetRequestCounts() };
  }, 300_000);
  afterAll(async () => {
    await d?.close();
  });

  it('push, push again, push --repair, pull, pull again', async () => {
    expect(await counted(c, () => push(d))).toEqual({ GetObject: 6, HeadObject: 12, PutObject: 26 });
    expect(await counted(c, () => push(d))).toEqual({ GetObject: 16, HeadObject: 12 });
    expect(await counted(c, () => push(d, { repair: true }))).toEqual({ GetObject: 28, HeadObject: 12 });
    const out = join(tempDir(), 'out');
    expect(await counted(c, () => pull(d, out))).toEqual({ GetObject: 16, HeadObject: 11 });
    expect(await counted(c, () => pull(d, out))).toEqual({ GetObject: 5 });
  }, 300_000);
});
