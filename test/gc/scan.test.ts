// Flat-listing scans (S3's shape, on the memory driver): a prefix of more than one listing page is
// split into its children and walked in parallel without losing or repeating a key, and tag links
// whose listed ETag is the MD5 of a revision's digest are resolved without a read.
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../src/image/digest.js';
import { runGc } from '../../src/gc/run.js';
import { scanBlobs, scanRepositories } from '../../src/gc/scan.js';
import { BlobTable, LISTED } from '../../src/gc/store-scan.js';
import { putBlobContent } from '../../src/store/blobs.js';
import * as P from '../../src/store/paths.js';
import { image } from './store-builder.js';
import { S3LikeDriver } from '../lab/s3-like.js';

const opts = { dryRun: true, deleteUntagged: true, minAgeMs: 0, uploadsOlderThanMs: 1e12, concurrency: 4 };

describe('flat-listing scan', () => {
  it('splits long prefixes into children walked in parallel, and finds every key once', async () => {
    const d = new S3LikeDriver();
    const orphans = Array.from({ length: 1500 }, (_, i) => Buffer.from(`orphan ${i}`));
    for (const o of orphans) await putBlobContent(d, sha256(o), o);
    const img = await image(d, 'big', { tag: 'v1', layers: Array.from({ length: 1100 }, (_, i) => Buffer.from(`layer ${i}`)) });
    await image(d, 'big', { tag: 'v2' });
    const scan = async (splitAfter?: number) => {
      const table = new BlobTable();
      d.walks = [];
      const [repos] = await Promise.all([scanRepositories(d, table, { concurrency: 4, splitAfter }), scanBlobs(d, table, { concurrency: 4, splitAfter })]);
      let listed = 0;
      for (let i = 0; i < table.set.size; i++) if (table.has(i, LISTED)) listed++;
      const r = repos[0]!;
      const digests = (xs: number[]) => xs.map((x) => table.set.digest(x)).sort();
      return { listed, layers: digests(r.layers), times: r.layerTimes.length, revisions: digests(r.revisions), tags: r.tags.map((t) => [t.name, t.history!.length]) };
    };
    const whole = await scan();
    expect(d.walks).toEqual(expect.arrayContaining([P.BLOBS, P.REPOSITORIES]));
    expect(d.walks).toHaveLength(2);
    const split = await scan(1000);
    expect(split).toEqual(whole);
    expect(whole.listed).toBe(1500 + 1100 + 2 + 3);
    expect(whole.layers).toHaveLength(img.layers.length + 3); // and its config, and the second image's config and layer
    expect(whole.times).toBe(whole.layers.length);
    expect(whole.tags).toEqual([
      ['v1', 1],
      ['v2', 1],
    ]);
    // The blob listing was split into shards, and the repository into its sections.
    expect(d.walks.filter((w) => w.startsWith(`${P.BLOBS}/`)).length).toBeGreaterThan(100);
    expect(d.walks).toContain(`${P.repoDir('big')}/_layers`);
  });

  it('resolves tag current links from their ETag, reading only manifests', async () => {
    const d = new S3LikeDriver();
    for (let i = 0; i < 3; i++) await image(d, 'app', { tag: `t${i}` });
    await image(d, 'app'); // untagged
    d.reads = [];
    const r = await runGc(d, { ...opts, now: Date.now() + 1000 });
    expect(r.planned.manifests).toBe(1);
    expect(d.reads.filter((p) => p.includes('/_manifests/tags/'))).toEqual([]);
    expect(d.reads.every((p) => p.startsWith(`${P.BLOBS}/`))).toBe(true);
  });

  it('reads a tag link whose ETag matches no revision (a multipart ETag, a dangling tag)', async () => {
    const d = new S3LikeDriver();
    const img = await image(d, 'app', { tag: 'v1' });
    const dangling = sha256(Buffer.from('gone'));
    await d.putContent(P.tagCurrentLinkPath('app', 'old'), dangling);
    d.reads = [];
    const r = await runGc(d, { ...opts, now: Date.now() + 1000 });
    expect(d.reads).toContain(P.tagCurrentLinkPath('app', 'old'));
    expect(d.reads).not.toContain(P.tagCurrentLinkPath('app', 'v1'));
    expect(r.planned.blobs).toBe(0);
    expect(img.manifest.digest).toBeTruthy();
  });
});
