// `regbucket gc` (default --min-age 1h, --delete-untagged) on a store full of old garbage while
// pushes land, started at seeded moments during the gc: the pushes bring back images whose blobs
// gc is about to delete (orphans of deleted manifests, blobs of untagged revisions), images
// sharing kept layers and new ones. No blob of any pushed image may be lost.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import type { Digest } from '../../src/image/digest.js';
import { regbucketOk } from '../lab/cli.js';
import { makeLayerTar, makeLayout } from '../lab/images.js';
import { tempDir } from '../lab/tools.js';
import { garbageStore } from './garbage-store.js';
import { age, blobSet, copyTree, prng, runSeed, servedByRegistry, start, tagsComplete, trialCount, verifyStore } from './harness.js';

const HOUR = 3_600_000;
const GC = ['gc', '--delete-untagged'];

describe('gc racing pushes (filesystem)', () => {
  let work: string;
  let template: string;
  let layout: string;
  let fresh: string;
  let kept: Map<string, Digest>;
  let digest: Map<string, Digest>;
  let freshDigest: Digest;
  let gcMs = 0;

  beforeAll(async () => {
    work = tempDir('regbucket-gc-race-');
    ({ store: template, layout, tags: kept, digest } = await garbageStore(work));
    fresh = join(work, 'fresh');
    const { roots } = await makeLayout(fresh, [{ ref: 'new', layers: 4, layerSize: 256 * 1024, sharedLayers: [await makeLayerTar(4096)] }]);
    freshDigest = roots[0]!.digest as Digest;
    const ref = join(work, 'reference');
    copyTree(template, ref);
    age(ref, 2 * HOUR);
    const t0 = Date.now();
    await regbucketOk(['--store', ref, ...GC]);
    gcMs = Date.now() - t0;
    rmSync(ref, { recursive: true, force: true });
  }, 900_000); // generous: building the garbage store takes minutes on a loaded machine
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  // A few repetitions in CI; REGBUCKET_TRIALS=20 for the soak (docs/reliability.md).
  const reps = trialCount(3);

  it(`loses no blob of any pushed image over ${reps} repetitions`, async () => {
    const seed = runSeed('gc-race fs');
    const random = prng(seed);
    const stats = { reps: 0, pushes: 0, gcDeleted: 0, revived: 0 };
    const started = Date.now();
    const store = join(work, 'race');
    for (let r = 0; r < reps; r++) {
      copyTree(template, store);
      age(store, 2 * HOUR);
      const before = blobSet(store);
      const delay = Math.floor(random() * gcMs);
      const where = `repetition ${r} (seed ${seed}, pushes start ${delay} ms into a ~${gcMs} ms gc)`;
      // Images whose blobs are garbage right now: a deleted manifest's, an untagged revision's.
      const gone = `gone-${r % 10}`;
      const churn = `churn-${r % 11}`;
      const pushes: [string, string, Digest][] = [
        [`oci:${layout}:${gone}`, 'back:g', digest.get(gone)!],
        [`oci:${layout}:${churn}`, 'revived:c', digest.get(churn)!],
        [`oci:${layout}:keep-b`, 'copy:k', digest.get('keep-b')!],
        [`oci:${fresh}:new`, 'fresh:v', freshDigest],
      ];
      const gc = start(['--store', store, ...GC]);
      await new Promise((res) => setTimeout(res, delay));
      const runs = await Promise.all(pushes.map(([src, dest]) => start(['--store', store, 'push', src, dest])));
      const g = await gc;
      stats.reps++;
      stats.pushes += runs.length;
      expect(g.code, `${where}: gc: ${g.stderr}`).toBe(0);
      runs.forEach((x, i) => expect(x.code, `${where}: push ${pushes[i]![1]}: ${x.stderr}`).toBe(0));
      const after = blobSet(store);
      stats.gcDeleted += [...before].filter((b) => !after.has(b)).length;
      const v = await verifyStore(['--store', store]);
      expect(v.problems, where).toEqual([]);
      const tags = await tagsComplete(new FilesystemDriver(store));
      for (const [, dest, want] of pushes) expect(tags.get(dest), `${where}: ${dest}`).toBe(want);
      for (const [t, want] of kept) expect(tags.get(t), `${where}: ${t}`).toBe(want);
      stats.revived += 2;
    }
    const last = await tagsComplete(new FilesystemDriver(store));
    const served = await servedByRegistry(store, last.keys());
    expect(Object.fromEntries(served)).toEqual(Object.fromEntries(last));
    console.log(
      `[gc-race fs] repetitions ${stats.reps}, pushes during gc ${stats.pushes} (${stats.revived} of images whose blobs were garbage), ` +
        `blobs gc deleted meanwhile ${stats.gcDeleted}, problems 0, pushed tags broken 0, objects lost or corrupt 0, registry served ${served.size} tags; ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }, 900_000); // generous: the figures come from a shared, loaded machine
});
