// The crash and concurrency trials on an S3 store (Swift's S3 API): push killed with SIGKILL at
// seeded random moments, then four pushers at once. Same checks as on a filesystem: verify,
// every tag resolved through the store core, the real registry (its s3 driver) serving them.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucketOk } from '../lab/cli.js';
import { makeLayerTar, makeLayout } from '../lab/images.js';
import { startRegistry } from '../lab/registry.js';
import { freshS3Store, type S3TestStore } from '../lab/swift.js';
import { skopeoCopy, skopeoInspectRaw, tempDir } from '../lab/tools.js';
import { digestOf } from '../lab/images.js';
import { KillTrials, runSeed, start, tagsComplete, trialCount, verifyStore } from './harness.js';

const MB = 1 << 20;

async function tagsOn(s3: S3TestStore): Promise<Map<string, string>> {
  const d = s3.driver();
  try {
    return await tagsComplete(d);
  } finally {
    await d.close();
  }
}

async function hasStore(s3: S3TestStore): Promise<boolean> {
  const d = s3.driver();
  try {
    for await (const _ of d.walk('/docker/registry/v2')) return true;
    return false;
  } finally {
    await d.close();
  }
}

/** The real registry on the bucket: every tag's manifest digest, after a full copy of it. */
async function servedFromS3(s3: S3TestStore, tags: Iterable<string>): Promise<Map<string, string>> {
  const reg = await startRegistry({ storage: { s3: { endpoint: s3.endpoint, bucket: s3.bucket, rootdirectory: s3.prefix ? `/${s3.prefix}` : undefined, ...s3.credentials } } });
  const out = new Map<string, string>();
  try {
    for (const t of tags) {
      out.set(t, digestOf(await skopeoInspectRaw(`docker://${reg.host}/${t}`)));
      await skopeoCopy(`docker://${reg.host}/${t}`, `oci:${join(tempDir('regbucket-served-'), 'oci')}`, ['--all']);
    }
  } finally {
    await reg.stop();
  }
  return out;
}

describe('S3 store: pushes killed and pushes side by side', () => {
  let layout: string;
  let digests: Map<string, string>;

  beforeAll(async () => {
    layout = join(tempDir('regbucket-s3-writers-'), 'layout');
    const shared = [await makeLayerTar(2 * MB), await makeLayerTar(MB)];
    const specs = [
      { ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 1, layerSize: MB, sharedLayers: shared },
      ...['w0', 'w1', 'w2'].map((ref) => ({ ref, layers: 2, layerSize: MB, sharedLayers: shared })),
    ];
    const { roots } = await makeLayout(layout, specs);
    digests = new Map(specs.map((s, i) => [s.ref, roots[i]!.digest]));
  });
  afterAll(() => undefined);

  it('a push killed at any moment leaves the bucket consistent, and pushing again completes it', async () => {
    const seed = runSeed('crash-push s3');
    const trials = trialCount(4); // CI; REGBUCKET_TRIALS=10 for the soak
    const expected = { 'app:multi': digests.get('multi') };
    const push = (s3: S3TestStore, ref: string) => [...s3.args, 'push', `oci:${layout}:${ref}`, `app:${ref}`];
    // An uncut push (both images) times the job.
    const cal = await freshS3Store({ tag: 'crash', prefix: 'cal' });
    const t0 = Date.now();
    await regbucketOk(push(cal, 'multi'), cal.env);
    const fullMs = Date.now() - t0;
    const stats = { empty: 0, warnings: {} as Record<string, number> };
    const kills = new KillTrials(seed, fullMs);
    const started = Date.now();
    let last: S3TestStore | undefined;
    for (let t = 0; t < trials; t++) {
      const s3 = await freshS3Store({ tag: 'crash', prefix: `t${t}` });
      const { where } = await kills.run(t, push(s3, 'multi'), s3.env);
      // A push killed before it wrote anything leaves no store at all: nothing to audit.
      if (await hasStore(s3)) {
        const v = await verifyStore(s3.args, s3.env);
        expect(v.problems, where).toEqual([]);
        for (const [k, n] of Object.entries(v.warnings)) stats.warnings[k] = (stats.warnings[k] ?? 0) + n;
        for (const [tag, digest] of await tagsOn(s3)) expect(digest, `${where}: ${tag}`).toBe(expected[tag as keyof typeof expected]);
      } else stats.empty++;
      // Pushing again completes it (tags resolved down to every blob; verify once, at the end).
      await regbucketOk(push(s3, 'multi'), s3.env);
      expect(Object.fromEntries(await tagsOn(s3)), where).toEqual(expected);
      last = s3;
    }
    expect((await verifyStore(last!.args, last!.env)).problems).toEqual([]);
    const served = await servedFromS3(last!, Object.keys(expected));
    expect(Object.fromEntries(served)).toEqual(expected);
    console.log(
      `[crash-push s3] trials ${kills.trials}, killed mid-run ${kills.killed} (${stats.empty} before writing anything), finished before the kill ${kills.finished}, ` +
        `warnings after kills ${JSON.stringify(stats.warnings)}, problems 0, objects lost or corrupt 0, registry (s3 driver) served ${served.size} tags; ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    expect(kills.killed, 'no trial was killed mid-run').toBeGreaterThan(0);
  }, 900_000);

  it('four pushers at once, images sharing layers: all exit 0, verify clean, every tag resolves', async () => {
    // Two rounds (Swift is slow; the filesystem test runs all four kinds of round).
    const rounds = [
      {
        kind: 'one repository',
        pushes: [
          ['w0', 'app:w0'],
          ['w1', 'app:w1'],
          ['w2', 'app:w2'],
          ['multi', 'app:multi'],
        ],
      },
      {
        kind: 'one image, one tag, four times',
        pushes: [
          ['multi', 'app:same'],
          ['multi', 'app:same'],
          ['multi', 'app:same'],
          ['multi', 'app:same'],
        ],
      },
    ];
    let processes = 0;
    let tagsChecked = 0;
    const started = Date.now();
    let last: { s3: S3TestStore; tags: Map<string, string> } | undefined;
    for (const [r, round] of rounds.entries()) {
      const s3 = await freshS3Store({ tag: 'conc', prefix: `r${r}` });
      const where = `round ${r} (${round.kind})`;
      const runs = await Promise.all(round.pushes.map(([ref, dest]) => start([...s3.args, 'push', `oci:${layout}:${ref}`, dest!], s3.env)));
      processes += runs.length;
      runs.forEach((x, i) => expect(x.code, `${where}: push ${i}: ${x.stderr}`).toBe(0));
      const v = await verifyStore(s3.args, s3.env);
      expect(v.problems, where).toEqual([]);
      expect(v.warnings, where).toEqual({});
      const tags = await tagsOn(s3);
      const want = Object.fromEntries(round.pushes.map(([ref, dest]) => [dest, digests.get(ref!)]));
      expect(Object.fromEntries(tags), where).toEqual(want);
      tagsChecked += tags.size;
      last = { s3, tags };
    }
    const served = await servedFromS3(last!.s3, last!.tags.keys());
    expect(Object.fromEntries(served)).toEqual(Object.fromEntries(last!.tags));
    console.log(
      `[concurrent-push s3] rounds ${rounds.length} of 4 concurrent pushes (${processes} processes), all exit 0, tags checked ${tagsChecked}, ` +
        `problems 0, warnings 0, objects lost or corrupt 0, registry (s3 driver) served ${served.size} tags; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }, 900_000);
});
