// prune --cache-ttl on a pull-through cache the real registry 2.8.2 wrote: an upstream registry,
// a cache registry in proxy mode on a directory, images pulled through it with skopeo (so the
// cache's links and /scheduler-state.json are the registry's own). With the cache stopped, prune
// expires every entry; the cache started again on the same storage reads the rewritten state
// file, serves the images again (fetching them from upstream) and schedules them anew.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { regbucketOk } from '../lab/cli.js';
import { digestOf, makeLayout, refDigest } from '../lab/images.js';
import { waitFor } from '../lab/ports.js';
import { startRegistry, type RegistryStorage } from '../lab/registry.js';
import { freshS3Store } from '../lab/swift.js';
import type { StorageDriver } from '../../src/drivers/driver.js';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import { isNotFound } from '../../src/errors.js';
import { skopeoCopy, skopeoInspectRaw, tempDir } from '../lab/tools.js';

interface CacheJson {
  entries: number;
  expired: { repository: string; digest: string; type: string; rule: string; untag?: string[] }[];
  kept: unknown[];
  unrecognized: unknown[];
  done?: { expired: number; stateWritten: boolean };
}

async function stateEntries(d: StorageDriver): Promise<Record<string, { Key: string; EntryType: number }>> {
  try {
    return JSON.parse((await d.getContent('/scheduler-state.json')).toString('utf8')) as Record<string, { Key: string; EntryType: number }>;
  } catch (err) {
    if (isNotFound(err)) return {};
    throw err;
  }
}

/** Every manifest and blob of an image in a layout, as `<repo>@<digest>` keys by entry type. */
function expectedKeys(layout: string, repo: string, digest: string, out = new Set<string>()): Set<string> {
  out.add(`1 ${repo}@${digest}`);
  const m = JSON.parse(readFileSync(join(layout, 'blobs/sha256', digest.slice(7)), 'utf8')) as { manifests?: { digest: string }[]; config?: { digest: string }; layers?: { digest: string }[] };
  for (const c of m.manifests ?? []) expectedKeys(layout, repo, c.digest, out);
  for (const b of [...(m.config ? [m.config] : []), ...(m.layers ?? [])]) out.add(`0 ${repo}@${b.digest}`);
  return out;
}

/**
 * Pulls through the cache and waits for its scheduler to save every entry: blobs are stored and
 * scheduled in the background after they are served, the schedule saved every 5 s.
 */
async function pullThrough(host: string, d: StorageDriver, layout: string, refs: [string, string][]): Promise<void> {
  const want = new Set<string>();
  for (const [ref, digest] of refs) {
    const out = join(tempDir(), 'out');
    await skopeoCopy(`docker://${host}/${ref}`, `oci:${out}:x`, ['--all']);
    expect(refDigest(out, 'x')).toBe(digest);
    expectedKeys(layout, ref.split(':')[0]!, digest, want);
  }
  await waitFor(
    'the cache to save its schedule',
    async () => {
      const have = new Set(Object.values(await stateEntries(d)).map((e) => `${e.EntryType} ${e.Key}`));
      return [...want].every((k) => have.has(k));
    },
    120_000,
  );
}

async function scenario(store: { args: string[]; env: NodeJS.ProcessEnv; storage: RegistryStorage; d: StorageDriver }): Promise<void> {
  const upstreamRoot = tempDir('regbucket-upstream-');
  const src = join(tempDir(), 'layout');
  const { roots } = await makeLayout(src, [
    { ref: 'single', layers: 2 },
    { ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 1 },
  ]);
  const [single, multi] = roots.map((r) => r.digest) as [string, string];
  const upstream = await startRegistry({ storage: { filesystem: upstreamRoot } });
  try {
    await skopeoCopy(`oci:${src}:single`, `docker://${upstream.host}/library/app:1.0`);
    await skopeoCopy(`oci:${src}:multi`, `docker://${upstream.host}/team/multi:latest`, ['--all']);
    const refs: [string, string][] = [
      ['library/app:1.0', single],
      ['team/multi:latest', multi],
    ];
    const cacheOpts = { storage: store.storage, proxy: `http://${upstream.host}` };
    let cache = await startRegistry(cacheOpts);
    try {
      await pullThrough(cache.host, store.d, src, refs);
    } finally {
      await cache.stop();
    }
    const before = await stateEntries(store.d);
    const manifests = Object.values(before)
      .filter((e) => e.EntryType === 1)
      .map((e) => e.Key);
    expect(manifests).toEqual(expect.arrayContaining([`library/app@${single}`, `team/multi@${multi}`]));

    const cli = (a: string[]) => regbucketOk([...store.args, '--json', 'prune', ...a], store.env);
    // Cached moments ago: a day's TTL expires nothing.
    expect((await cli(['--cache-ttl', '1d', '--dry-run'])).json<CacheJson>().expired).toEqual([]);
    const dry = (await cli(['--cache-ttl', '0s', '--dry-run'])).json<CacheJson>();
    const real = (await cli(['--cache-ttl', '0s'])).json<CacheJson>();
    expect(real.expired).toEqual(dry.expired);
    expect(real.entries).toBe(Object.keys(before).length);
    expect(real.expired).toHaveLength(real.entries);
    expect(real.kept).toEqual([]);
    expect(real.unrecognized).toEqual([]);
    expect(real.done).toMatchObject({ expired: real.entries, stateWritten: true });
    expect(real.expired.find((e) => e.digest === single)!.untag).toEqual(['1.0']);
    expect(await stateEntries(store.d)).toEqual({});
    const { repositories } = (await regbucketOk([...store.args, '--json', 'ls'], store.env)).json<{ repositories: { name: string; tagCount: number }[] }>();
    // No tag is left (on S3 a repository without objects is not listed at all).
    expect(repositories.map((r) => r.tagCount)).toEqual(repositories.map(() => 0));

    cache = await startRegistry(cacheOpts);
    try {
      expect(digestOf(await skopeoInspectRaw(`docker://${cache.host}/library/app:1.0`))).toBe(single);
      await pullThrough(cache.host, store.d, src, refs);
    } finally {
      await cache.stop();
    }
    const again = Object.values(await stateEntries(store.d)).map((e) => e.Key);
    expect(again).toEqual(expect.arrayContaining([`library/app@${single}`, `team/multi@${multi}`]));
  } finally {
    await upstream.stop();
  }
}

describe('prune --cache-ttl on a pull-through cache written by registry 2.8.2', () => {
  it('on a directory: expires every entry of the stopped cache, and the cache serves again from upstream', async () => {
    const root = tempDir('regbucket-cache-');
    await scenario({ args: ['--store', root], env: {}, storage: { filesystem: root }, d: new FilesystemDriver(root) });
  }, 600_000);

  it('on S3 (Swift): the same', async () => {
    const s3 = await freshS3Store({ prefix: 'cache', tag: 'cache' });
    const d = s3.driver();
    try {
      await scenario({ args: s3.args, env: s3.env, storage: { s3: { endpoint: s3.endpoint, bucket: s3.bucket, rootdirectory: `/${s3.prefix}`, ...s3.credentials } }, d });
    } finally {
      await d.close();
    }
  }, 600_000);
});
