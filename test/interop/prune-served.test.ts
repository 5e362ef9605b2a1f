// After prune (and gc), the real registry 2.8.2 on the same storage lists exactly the tags the
// plan kept and skopeo pulls each, digest for digest; the dry run's plan is the real run's. On a
// directory and on S3 (Swift).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { regbucketOk } from '../lab/cli.js';
import { makeLayout } from '../lab/images.js';
import { startRegistry, type RegistryStorage } from '../lab/registry.js';
import { expectServed } from '../lab/served.js';
import { freshS3Store } from '../lab/swift.js';
import { tempDir } from '../lab/tools.js';

const SLOW = 600_000;

interface PlanJson {
  repositories: { name: string; tags: { tag: string; digest: string; action: string }[]; manifests: { digest: string; action: string }[] }[];
}

async function scenario(args: string[], env: Record<string, string>, storage: RegistryStorage): Promise<void> {
  const cli = (a: string[]) => regbucketOk([...args, ...a], env);
  const src = join(tempDir(), 'layout');
  const { roots } = await makeLayout(src, [
    { ref: 'a', layers: 1 },
    { ref: 'b', layers: 2 },
    { ref: 'c', layers: 1 },
    { ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 1 },
  ]);
  const [a, b, c, multi] = roots.map((r) => r.digest) as [string, string, string, string];
  // CI history: builds pushed one after another, a release, a signature of the release.
  for (const [ref, tag] of [
    ['a', 'build-1'],
    ['b', 'build-2'],
    ['c', 'build-3'],
    ['c', 'latest'],
    ['multi', 'v1.0'],
    ['a', `sha256-${multi.slice(7)}.sig`],
  ]) {
    await cli(['push', `oci:${src}:${ref}`, `ci/app:${tag}`]);
  }
  const flags = ['ci/*', '--keep-last', '1', '--protect', '^v[0-9]', '--untagged-older-than', '0'];
  const dry = (await cli(['--json', 'prune', '--dry-run', ...flags])).json<PlanJson>();
  const real = (await cli(['--json', 'prune', ...flags])).json<PlanJson & { done: { skipped: unknown[] } }>();
  expect(real.repositories).toEqual(dry.repositories);
  expect(real.done.skipped).toEqual([]);
  const r = real.repositories[0]!;
  const kept = r.tags.filter((t) => t.action === 'keep');
  expect(kept.map((t) => t.tag)).toEqual(expect.arrayContaining(['v1.0', `sha256-${multi.slice(7)}.sig`]));
  expect(kept).toHaveLength(3); // the release, its signature, and the newest of the builds
  expect(
    r.manifests
      .filter((m) => m.action === 'delete')
      .map((m) => m.digest)
      .sort(),
  ).toEqual([a, b, c].filter((d) => d !== a && !kept.some((t) => t.digest === d)).sort());
  await cli(['gc', '--min-age', '0']);

  const registry = await startRegistry({ storage });
  try {
    const list = (await (await fetch(`http://${registry.host}/v2/ci/app/tags/list`)).json()) as { tags: string[] };
    expect(list.tags.sort()).toEqual(kept.map((t) => t.tag).sort());
    for (const t of kept) await expectServed(registry.host, `ci/app:${t.tag}`, t.digest, t.digest === multi ? ['linux/amd64', 'linux/arm64'] : []);
  } finally {
    await registry.stop();
  }
}

describe('the registry serves exactly the tags prune kept', () => {
  it(
    'on a directory',
    async () => {
      const store = tempDir('regbucket-prune-served-');
      await scenario(['--store', store], {}, { filesystem: store });
    },
    SLOW,
  );

  it(
    'on S3 (Swift)',
    async () => {
      const s3 = await freshS3Store({ prefix: 'reg', tag: 'prune' });
      await scenario(s3.args, s3.env, { s3: { endpoint: s3.endpoint, bucket: s3.bucket, rootdirectory: `/${s3.prefix}`, ...s3.credentials } });
    },
    SLOW,
  );
});
