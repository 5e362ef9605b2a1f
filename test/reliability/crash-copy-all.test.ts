// kill -9 at seeded moments during `regbucket copy --all-repositories` (filesystem to filesystem):
// every tag the cut run left resolves to a complete image, and the run started again ends with
// exactly the files of an uncut copy. Seeded: REGBUCKET_SEED replays a run, REGBUCKET_TRIALS
// runs more trials.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import { regbucketOk } from '../lab/cli.js';
import { manyRepoStore } from '../lab/many-repos.js';
import { tempDir } from '../lab/tools.js';
import { fileSet, KillTrials, runSeed, tagsComplete, trialCount, verifyStore } from './harness.js';

const MB = 1 << 20;

describe('copy --all-repositories killed with SIGKILL and started again', () => {
  let work: string;
  let src: string;
  let tags: Map<string, string>;
  let endFiles: Map<string, number>;
  let fullMs = 0;

  beforeAll(async () => {
    work = tempDir('regbucket-crash-copy-all-');
    src = join(work, 'src');
    // 2 MiB layers: most of a copy is spent streaming blobs (through upload directories).
    tags = await manyRepoStore(src, { layerSize: 2 * MB });
    const uncut = join(work, 'uncut');
    const t0 = Date.now();
    await regbucketOk(['--store', src, 'copy', '--all-repositories', uncut]);
    fullMs = Date.now() - t0;
    endFiles = fileSet(uncut);
    expect(Object.fromEntries(endFiles)).toEqual(Object.fromEntries(fileSet(src)));
  }, 600_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('leaves only complete tags after each kill, and a second run ends identical to an uncut copy', async () => {
    const seed = runSeed('crash-copy-all');
    const trials = trialCount(4);
    const kills = new KillTrials(seed, fullMs);
    let tagsAfterKill = 0;
    const debris = { tmp: 0 };
    for (let t = 0; t < trials; t++) {
      const dest = join(work, `d${t}`);
      const args = ['--store', src, 'copy', '--all-repositories', dest];
      const { where } = await kills.run(t, args);
      const d = new FilesystemDriver(dest);
      // A run killed before its first write leaves no store at all.
      const left = existsSync(join(dest, 'docker/registry/v2/repositories')) ? await tagsComplete(d) : new Map<string, string>();
      for (const [tag, digest] of left) expect(digest, `${where}: ${tag}`).toBe(tags.get(tag));
      tagsAfterKill += left.size;
      await regbucketOk(args);
      expect(Object.fromEntries(fileSet(dest, debris)), where).toEqual(Object.fromEntries(endFiles));
      expect(Object.fromEntries(await tagsComplete(d)), where).toEqual(Object.fromEntries(tags));
      if (t < trials - 1) rmSync(dest, { recursive: true, force: true });
    }
    expect((await verifyStore(['--store', join(work, `d${trials - 1}`)])).problems).toEqual([]);
    console.log(
      `[crash-copy-all] trials ${kills.trials}, killed mid-run ${kills.killed}, finished before the kill ${kills.finished}, ` +
        `complete tags left by the cut runs ${tagsAfterKill}, unrenamed .tmp files left ${debris.tmp}; uncut copy ${fullMs} ms`,
    );
    expect(kills.killed, 'no trial was killed mid-run').toBeGreaterThan(0);
  }, 900_000);
});
