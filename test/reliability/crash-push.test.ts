// kill -9 at random moments during `regbucket push`: after each kill the store has no corrupt
// blob at a final path and no link to a missing blob, every tag that exists is a complete image,
// and pushing again completes the job. Seeded: REGBUCKET_SEED replays a run, REGBUCKET_TRIALS
// runs more trials.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import { regbucketOk } from '../lab/cli.js';
import { makeLayerTar, makeLayout } from '../lab/images.js';
import { tempDir } from '../lab/tools.js';
import { fileSet, KillTrials, runSeed, servedByRegistry, tagsComplete, trialCount, verifyStore } from './harness.js';

const MB = 1 << 20;

describe('push killed with SIGKILL at random moments (filesystem)', () => {
  let work: string;
  let layout: string;
  let expected: Map<string, string>;
  let endFiles: Map<string, number>;
  let fullMs = 0;

  beforeAll(async () => {
    work = tempDir('regbucket-crash-push-');
    layout = join(work, 'layout');
    // Two images sharing a base layer: a two-platform index and a single image, 2 MiB layers
    // (16 MiB in all), so most of a push is spent streaming blobs.
    const base = await makeLayerTar(2 * MB);
    const { roots } = await makeLayout(layout, [
      { ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 2, layerSize: 2 * MB, sharedLayers: [base] },
      { ref: 'single', layers: 3, layerSize: 2 * MB, sharedLayers: [base] },
    ]);
    expected = new Map([
      ['app:multi', roots[0]!.digest],
      ['app:single', roots[1]!.digest],
    ]);
    // An uncut push times the job, so kills can be spread over all of it.
    const store = join(work, 'calibrate');
    const t0 = Date.now();
    await regbucketOk(['--store', store, 'push', `oci:${layout}`, 'app']);
    fullMs = Date.now() - t0;
    expect((await verifyStore(['--store', store])).problems).toEqual([]);
    endFiles = fileSet(store);
    rmSync(store, { recursive: true, force: true });
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('leaves a consistent store after every kill, and a second push completes it', async () => {
    const seed = runSeed('crash-push fs');
    const trials = trialCount(8); // CI; REGBUCKET_TRIALS=30 for the soak
    const stats = { tagsAfterKill: 0, warnings: {} as Record<string, number>, problems: 0 };
    const kills = new KillTrials(seed, fullMs);
    const started = Date.now();
    const debris = { tmp: 0 };
    for (let t = 0; t < trials; t++) {
      const store = join(work, `s${t}`);
      const { where } = await kills.run(t, ['--store', store, 'push', `oci:${layout}`, 'app']);
      const d = new FilesystemDriver(store);
      // A push killed before it created anything leaves no store at all: nothing to audit.
      let exists = true;
      try {
        await d.stat('/docker/registry/v2');
      } catch {
        exists = false;
      }
      if (exists) {
        const v = await verifyStore(['--store', store]);
        expect(v.problems, where).toEqual([]);
        for (const [k, n] of Object.entries(v.warnings)) stats.warnings[k] = (stats.warnings[k] ?? 0) + n;
        const tags = await tagsComplete(d);
        for (const [tag, digest] of tags) expect(digest, `${where}: ${tag}`).toBe(expected.get(tag));
        stats.tagsAfterKill += tags.size;
      }
      // Pushing again finishes the job.
      // exactly the files of an uncut push (whose store is verified), unfinished uploads aside.
      await regbucketOk(['--store', store, 'push', `oci:${layout}`, 'app']);
      expect(Object.fromEntries(fileSet(store, debris)), where).toEqual(Object.fromEntries(endFiles));
      expect(Object.fromEntries(await tagsComplete(d)), where).toEqual(Object.fromEntries(expected));
      if (t < trials - 1) rmSync(store, { recursive: true, force: true });
    }
    expect((await verifyStore(['--store', join(work, `s${trials - 1}`)])).problems).toEqual([]);
    // The real registry serves every tag of the last trial's store, digest for digest.
    const served = await servedByRegistry(join(work, `s${trials - 1}`), expected.keys());
    expect(Object.fromEntries(served)).toEqual(Object.fromEntries(expected));
    console.log(
      `[crash-push fs] trials ${kills.trials}, killed mid-run ${kills.killed}, finished before the kill ${kills.finished}, ` +
        `tags complete after a kill ${stats.tagsAfterKill}, warnings after kills ${JSON.stringify(stats.warnings)}, ` +
        `problems 0, unrenamed .tmp files left ${debris.tmp}, objects lost or corrupt 0, registry served ${served.size} tags; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    expect(kills.killed, 'no trial was killed mid-run').toBeGreaterThan(0);
  }, 900_000); // generous: the figures come from a shared, loaded machine
});
