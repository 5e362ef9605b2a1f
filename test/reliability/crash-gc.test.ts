// kill -9 at random moments during `regbucket gc` on a store full of garbage: after each kill
// verify finds no problem, every tag is the complete image it was, and running gc again ends
// exactly where an uncut gc ends. Seeded: REGBUCKET_SEED replays a run.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import type { Digest } from '../../src/image/digest.js';
import { regbucketOk } from '../lab/cli.js';
import { tempDir } from '../lab/tools.js';
import { garbageStore } from './garbage-store.js';
import { age, blobSet, copyTree, fileSet, KillTrials, runSeed, servedByRegistry, tagsComplete, trialCount, verifyStore } from './harness.js';

const HOUR = 3_600_000;
const GC = ['gc', '--delete-untagged']; // default --min-age (1h): the template is aged 2h

describe('gc killed with SIGKILL at random moments (filesystem)', () => {
  let work: string;
  let template: string;
  let tags: Map<string, Digest>;
  let endBlobs: Set<string>;
  let endFiles: Map<string, number>;
  let fullMs = 0;

  beforeAll(async () => {
    work = tempDir('regbucket-crash-gc-');
    ({ store: template, tags } = await garbageStore(work));
    // The reference: an uncut gc on a copy, timed, so kills spread over the whole run.
    const ref = join(work, 'reference');
    copyTree(template, ref);
    age(ref, 2 * HOUR);
    const before = blobSet(ref).size;
    const t0 = Date.now();
    await regbucketOk(['--store', ref, ...GC]);
    fullMs = Date.now() - t0;
    endBlobs = blobSet(ref);
    endFiles = fileSet(ref);
    expect(endBlobs.size).toBeLessThan(before - 100); // plenty of garbage to kill gc in the middle of
    expect((await verifyStore(['--store', ref])).problems).toEqual([]);
    expect(await tagsComplete(new FilesystemDriver(ref))).toEqual(tags);
  }, 900_000); // generous: building the garbage store takes minutes on a loaded machine
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('leaves every tag complete after each kill, and a second gc ends where an uncut one does', async () => {
    const seed = runSeed('crash-gc fs');
    const trials = trialCount(6); // CI; REGBUCKET_TRIALS=30 for the soak
    const stats = { partial: 0, warnings: {} as Record<string, number> };
    const kills = new KillTrials(seed, fullMs);
    const started = Date.now();
    const debris = { tmp: 0 };
    const store = join(work, 'trial');
    for (let t = 0; t < trials; t++) {
      copyTree(template, store);
      age(store, 2 * HOUR);
      const before = blobSet(store).size;
      const { where } = await kills.run(t, ['--store', store, ...GC]);
      const left = blobSet(store).size;
      if (left < before && left > endBlobs.size) stats.partial++;
      const d = new FilesystemDriver(store);
      const v = await verifyStore(['--store', store]);
      expect(v.problems, where).toEqual([]);
      for (const [k, n] of Object.entries(v.warnings)) stats.warnings[k] = (stats.warnings[k] ?? 0) + n;
      expect(await tagsComplete(d), where).toEqual(tags);
      // The second run finishes the job: exactly the files an uncut gc leaves (that store is verified).
      await regbucketOk(['--store', store, ...GC]);
      expect(Object.fromEntries(fileSet(store, debris)), where).toEqual(Object.fromEntries(endFiles));
      expect(await tagsComplete(d), where).toEqual(tags);
    }
    expect((await verifyStore(['--store', store])).problems).toEqual([]);
    const served = await servedByRegistry(store, tags.keys());
    expect(Object.fromEntries(served)).toEqual(Object.fromEntries(tags));
    console.log(
      `[crash-gc fs] trials ${kills.trials}, killed mid-run ${kills.killed} (${stats.partial} with part of the garbage deleted), ` +
        `finished before the kill ${kills.finished}, warnings after kills ${JSON.stringify(stats.warnings)}, problems 0, unrenamed .tmp files left ${debris.tmp}, ` +
        `tags broken 0 of ${tags.size}, objects lost or corrupt 0, registry served ${served.size} tags; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    expect(kills.killed, 'no trial was killed mid-run').toBeGreaterThan(0);
  }, 900_000); // generous: the figures come from a shared, loaded machine
});
