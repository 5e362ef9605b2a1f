// `regbucket gc --delete-untagged` on an S3 store full of old garbage while pushes land, started
// at seeded moments during the gc (the filesystem twin is gc-race.test.ts). The pushes bring back
// images whose blobs gc is about to delete (orphans of deleted manifests, blobs of untagged
// revisions), images sharing kept layers and new ones. A push reusing an old blob refreshes its
// time (a copy onto itself) before linking it; gc reads each blob's time (HEAD) right before the
// request that deletes it. No blob of any pushed image may be lost.
//
// Also here, sharing the wait: two gc runs at once on S3 (concurrent-gc.test.ts is the filesystem
// twin). S3 has no exclusive create, so the store lock does not apply there: both runs go on,
// each re-checking before it deletes, and both must exit 0 with nothing referenced lost.
//
// S3 times cannot be set back, so every copy of the garbage store is written first and the test
// waits until it is older than --min-age before the first repetition. --min-age is 65s, just
// above the minute past which a push refreshes the time of an old blob it reuses (below that,
// gc racing pushes is documented as unsafe); the gc that times the repetitions runs during the
// wait, with --min-age 0 (same work).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import type { StorageDriver } from '../../src/drivers/driver.js';
import type { Digest } from '../../src/image/digest.js';
import { eachLimit } from '../../src/util/each-limit.js';
import { makeLayerTar, makeLayout } from '../lab/images.js';
import { freshS3Store, type S3TestStore } from '../lab/swift.js';
import { tempDir } from '../lab/tools.js';
import { garbageStore } from './garbage-store.js';
import { prng, runSeed, start, tagsComplete, trialCount, verifyStore } from './harness.js';

const MIN_AGE_MS = 65_000;
const GC = ['gc', '--delete-untagged', '--min-age', '65s'];

async function copyStore(from: StorageDriver, to: StorageDriver): Promise<number> {
  const files: string[] = [];
  for await (const f of from.walk('/')) files.push(f.path);
  await eachLimit(files, 32, async (p) => to.putContent(p, await from.getContent(p)));
  return files.length;
}

async function blobKeys(d: StorageDriver): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const f of d.walk('/docker/registry/v2/blobs')) out.add(f.path);
  return out;
}

describe('gc racing pushes (S3)', () => {
  let work: string;
  let layout: string;
  let fresh: string;
  let kept: Map<string, Digest>;
  let digest: Map<string, Digest>;
  let freshDigest: Digest;
  let bucket: S3TestStore;
  // Each repetition needs its own copy written before the wait: two by default, REGBUCKET_TRIALS=20 for the soak.
  const reps = trialCount(2);
  let gcMs = 0;
  let endBlobs: Set<string>;

  const store = (name: string) => ({ args: ['--store', `s3://${bucket.bucket}/${name}`, '--s3-endpoint', bucket.endpoint] });

  beforeAll(async () => {
    work = tempDir('regbucket-gc-race-s3-');
    let template: string;
    ({ store: template, layout, tags: kept, digest } = await garbageStore(work));
    fresh = join(work, 'fresh');
    const { roots } = await makeLayout(fresh, [{ ref: 'new', layers: 4, layerSize: 256 * 1024, sharedLayers: [await makeLayerTar(4096)] }]);
    freshDigest = roots[0]!.digest as Digest;
    bucket = await freshS3Store({ tag: 'gcrace' });
    const src = new FilesystemDriver(template);
    const copies = ['reference', ...Array.from({ length: reps }, (_, r) => [`race-${r}`, `gcgc-${r}`]).flat()];
    await eachLimit(copies, 2, async (name) => {
      const d = bucket.driver({ prefix: name });
      try {
        await copyStore(src, d);
      } finally {
        await d.close();
      }
    });
    // Everything written above must be older than --min-age (by Swift's clock: its own times).
    const old = new Promise((r) => setTimeout(r, MIN_AGE_MS + 5_000));
    const t0 = Date.now();
    const ref = await start([...store('reference').args, 'gc', '--delete-untagged', '--min-age', '0'], bucket.env);
    expect(ref.code, ref.stderr).toBe(0);
    gcMs = Date.now() - t0;
    const refDriver = bucket.driver({ prefix: 'reference' });
    endBlobs = await blobKeys(refDriver).finally(() => refDriver.close());
    await old;
  }, 3_600_000);
  afterAll(() => undefined);

  it(`loses no blob of any pushed image over ${reps} repetitions`, async () => {
    const seed = runSeed('gc-race s3');
    const random = prng(seed);
    const stats = { reps: 0, pushes: 0, gcDeleted: 0, revived: 0 };
    const started = Date.now();
    for (let r = 0; r < reps; r++) {
      const name = `race-${r}`;
      const s = store(name);
      const d = bucket.driver({ prefix: name });
      try {
        const before = await blobKeys(d);
        const delay = Math.floor(random() * gcMs);
        const where = `repetition ${r} (seed ${seed}, pushes start ${delay} ms into a ~${gcMs} ms gc)`;
        const gone = `gone-${r % 10}`;
        const churn = `churn-${r % 11}`;
        const pushes: [string, string, Digest][] = [
          [`oci:${layout}:${gone}`, 'back:g', digest.get(gone)!],
          [`oci:${layout}:${churn}`, 'revived:c', digest.get(churn)!],
          [`oci:${layout}:keep-b`, 'copy:k', digest.get('keep-b')!],
          [`oci:${fresh}:new`, 'fresh:v', freshDigest],
        ];
        const gc = start([...s.args, ...GC], bucket.env);
        await new Promise((res) => setTimeout(res, delay));
        const runs = await Promise.all(pushes.map(([src, dest]) => start([...s.args, 'push', src, dest], bucket.env)));
        const g = await gc;
        stats.reps++;
        stats.pushes += runs.length;
        expect(g.code, `${where}: gc: ${g.stderr}`).toBe(0);
        runs.forEach((x, i) => expect(x.code, `${where}: push ${pushes[i]![1]}: ${x.stderr}`).toBe(0));
        const after = await blobKeys(d);
        stats.gcDeleted += [...before].filter((b) => !after.has(b)).length;
        const v = await verifyStore(s.args, bucket.env);
        expect(v.problems, where).toEqual([]);
        const tags = await tagsComplete(d);
        for (const [, dest, want] of pushes) expect(tags.get(dest), `${where}: ${dest}`).toBe(want);
        for (const [t, want] of kept) expect(tags.get(t), `${where}: ${t}`).toBe(want);
        stats.revived += 2;
      } finally {
        await d.close();
      }
    }
    console.log(
      `[gc-race s3] repetitions ${stats.reps}, pushes during gc ${stats.pushes} (${stats.revived} of images whose blobs were garbage), ` +
        `blob objects gc deleted meanwhile ${stats.gcDeleted}, problems 0, pushed tags broken 0, objects lost or corrupt 0; ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }, 1_800_000);

  it(`two gc runs at once: both exit 0, nothing referenced lost, over ${reps} repetitions`, async () => {
    const seed = runSeed('concurrent-gc s3');
    const random = prng(seed);
    const stats = { reps: 0, deleted: 0 };
    const started = Date.now();
    for (let r = 0; r < reps; r++) {
      const s = store(`gcgc-${r}`);
      const d = bucket.driver({ prefix: `gcgc-${r}` });
      try {
        const before = await blobKeys(d);
        const delay = Math.floor(random() * gcMs);
        const where = `repetition ${r} (seed ${seed}, second gc ${delay} ms into a ~${gcMs} ms gc)`;
        const first = start([...s.args, ...GC], bucket.env);
        await new Promise((res) => setTimeout(res, delay));
        const second = await start([...s.args, ...GC], bucket.env);
        const one = await first;
        stats.reps++;
        expect(one.code, `${where}: first gc: ${one.stderr}`).toBe(0);
        expect(second.code, `${where}: second gc: ${second.stderr}`).toBe(0);
        const after = await blobKeys(d);
        stats.deleted += [...before].filter((b) => !after.has(b)).length;
        expect((await verifyStore(s.args, bucket.env)).problems, where).toEqual([]);
        const tags = await tagsComplete(d);
        expect(Object.fromEntries(tags), where).toEqual(Object.fromEntries(kept));
        // The job is done: a third run leaves the blobs an uncut gc leaves.
        const third = await start([...s.args, ...GC], bucket.env);
        expect(third.code, `${where}: third gc: ${third.stderr}`).toBe(0);
        expect([...(await blobKeys(d))].sort(), where).toEqual([...endBlobs].sort());
      } finally {
        await d.close();
      }
    }
    console.log(
      `[concurrent-gc s3] repetitions ${stats.reps}, both gc runs exit 0 every time, blob objects deleted ${stats.deleted}, problems 0, ` +
        `tags broken 0 of ${kept.size}; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }, 1_800_000);
});
