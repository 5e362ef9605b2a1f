// Two `regbucket gc --delete-untagged` runs at once on a filesystem store full of old garbage, the
// second started at a seeded moment during the first. The store lock (src/store/lock.ts) lets one
// run: the other exits 1 with the documented one-line message naming the holder and --break-lock
// (or runs after the other released it, and exits 0; either may be the one that waits). Nothing
// referenced is lost, a third gc ends exactly where an uncut gc ends, and the real registry serves
// every tag after.
// The S3 twin is in gc-race-s3.test.ts (it shares that file's wait for old garbage).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import type { Digest } from '../../src/image/digest.js';
import { regbucketOk } from '../lab/cli.js';
import { tempDir } from '../lab/tools.js';
import { garbageStore } from './garbage-store.js';
import { age, blobSet, copyTree, fileSet, prng, runSeed, servedByRegistry, start, tagsComplete, trialCount, verifyStore } from './harness.js';

const HOUR = 3_600_000;
const GC = ['gc', '--delete-untagged'];
const LOCKED_RE =
  /^regbucket: error: the store is locked by regbucket gc \(pid \d+ on [^,]+, started [^)]+\): wait for it to finish; if it is not running, pass --break-lock \(the lock is \.regbucket-gc\.lock in the store root and expires \d+ minutes after its last refresh\)\n?$/;

describe('two gc runs at once (filesystem)', () => {
  let work: string;
  let template: string;
  let tags: Map<string, Digest>;
  let endFiles: Map<string, number>;
  let gcMs = 0;
  // A few repetitions in CI; REGBUCKET_TRIALS=20 for the soak (docs/reliability.md).
  const reps = trialCount(3);

  beforeAll(async () => {
    work = tempDir('regbucket-concurrent-gc-');
    ({ store: template, tags } = await garbageStore(work));
    const ref = join(work, 'reference');
    copyTree(template, ref);
    age(ref, 2 * HOUR);
    const t0 = Date.now();
    await regbucketOk(['--store', ref, ...GC]);
    gcMs = Date.now() - t0;
    endFiles = fileSet(ref);
  }, 900_000); // generous: building the garbage store takes minutes on a loaded machine
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it(`one runs, the other waits its turn or exits 1 naming the lock; nothing referenced lost, over ${reps} repetitions`, async () => {
    const seed = runSeed('concurrent-gc fs');
    const random = prng(seed);
    const stats = { reps: 0, locked: 0, bothRan: 0, deleted: 0 };
    const started = Date.now();
    const store = join(work, 'race');
    for (let r = 0; r < reps; r++) {
      copyTree(template, store);
      age(store, 2 * HOUR);
      const before = blobSet(store);
      const delay = Math.floor(random() * gcMs);
      const where = `repetition ${r} (seed ${seed}, second gc ${delay} ms into a ~${gcMs} ms gc)`;
      const first = start(['--store', store, ...GC]);
      await new Promise((res) => setTimeout(res, delay));
      const second = await start(['--store', store, ...GC]);
      const one = await first;
      stats.reps++;
      // Which of the two takes the lock is the scheduler's choice: with a delay of a few ms the
      // second process can reach the lock before the first one has finished starting.
      const runs = [one, second];
      const refused = runs.filter((run) => run.code !== 0);
      expect(refused.length, `${where}: first gc: ${one.code} ${one.stderr}; second gc: ${second.code} ${second.stderr}`).toBeLessThan(2);
      for (const run of refused) {
        expect(run.code, `${where}: ${run.stderr}`).toBe(1);
        expect(run.stderr, where).toMatch(LOCKED_RE);
      }
      if (refused.length === 0) stats.bothRan++;
      else stats.locked++;
      stats.deleted += [...before].filter((b) => !blobSet(store).has(b)).length;
      expect((await verifyStore(['--store', store])).problems, where).toEqual([]);
      expect(await tagsComplete(new FilesystemDriver(store)), where).toEqual(tags);
      // No lock left behind, and the job is done: a third run ends where an uncut gc ends.
      await regbucketOk(['--store', store, ...GC]);
      expect(Object.fromEntries(fileSet(store)), where).toEqual(Object.fromEntries(endFiles));
    }
    const served = await servedByRegistry(store, tags.keys());
    expect(Object.fromEntries(served)).toEqual(Object.fromEntries(tags));
    console.log(
      `[concurrent-gc fs] repetitions ${stats.reps}: one gc refused by the lock ${stats.locked}, both ran (one after the other) ${stats.bothRan}; ` +
        `blobs deleted ${stats.deleted}, problems 0, tags broken 0 of ${tags.size}, registry served ${served.size} tags; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }, 900_000);
});
