// push --all-tags docker://host/repo: every tag of a repository of the real registry that the tag
// filters keep, behind a bearer-token gate (paging, rate limits); the store's tags are exactly the
// expected ones with the source's digests, and a second run writes nothing.
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { digestOf } from '../lab/images.js';
import { filesUnder } from '../lab/files.js';
import { startGate, type RunningGate } from '../lab/registry-gate.js';
import { startRegistry, type RunningRegistry } from '../lab/registry.js';
import { skopeoInspectRaw, tempDir } from '../lab/tools.js';
import { HTPASSWD, HTPASSWD_PASSWORD, HTPASSWD_USER, seedRegistry, seedSignedImage } from './seed.js';

const INSECURE = '--src-tls-verify=false';
const CREDS = ['--src-creds', 'robot:tok-secret-2'];
// Semver and not: `1.2` and `latest` are not semver; 2.1.0-rc.1 is a prerelease.
const TAGS = ['v1.0.0', 'v1.2.0', '1.3.0', '2.0.0', '2.1.0-rc.1', '1.2', 'latest', 'edge'];

interface LsDoc {
  repositories: { name: string; tags: { tag: string; digest: string }[] }[];
}
interface PushDoc {
  images: { repo: string; tag: string; digest: string; status: string }[];
  failed: { tag: string; error: string }[];
  summary: { tagsListed: number; tagsSelected: number; copied: number; unchanged: number; failed: number };
  stats: { blobsUploaded: number; manifestsWritten: number };
}

describe('push --all-tags docker://host/repo from the real registry', () => {
  let source: RunningRegistry;
  let sourceDir: string;
  let gate: RunningGate;
  let digests: Map<string, string>;
  let signed: { image: string; signature: string };

  beforeAll(async () => {
    sourceDir = tempDir();
    source = await startRegistry({ storage: { filesystem: sourceDir } });
    ({ digests } = await seedRegistry(source.host, Object.fromEntries(TAGS.map((t, i) => [`lib/app:${t}`, { layers: 1, ...(i === 0 ? { platforms: ['linux/amd64', 'linux/arm64'] } : {}) }]))));
    signed = await seedSignedImage(source.host, 'lib/app', 'signed');
    gate = await startGate({ target: `http://${source.host}`, bearer: { username: 'robot', password: 'tok-secret-2' }, pageTags: true });
  });
  afterAll(async () => {
    await gate?.stop();
    await source?.stop();
  });

  async function storeTags(store: string, repo: string): Promise<Record<string, string>> {
    const doc = (await regbucketOk(['--store', store, '--json', 'ls', repo])).json<LsDoc>();
    return Object.fromEntries(doc.repositories[0]!.tags.map((t) => [t.tag, t.digest]));
  }
  const expected = (tags: string[]) => Object.fromEntries(tags.map((t) => [t, digests.get(`lib/app:${t}`)!]));

  it('--semver keeps the versions in the range (paged tag list, bearer auth); a second run writes nothing', async () => {
    const store = tempDir();
    gate.reset();
    const args = ['--store', store, '--json', 'push', INSECURE, ...CREDS, '--all-tags', '--semver', '>=1.2.0 <3', '--page-size', '2', `docker://${gate.host}/lib/app`, 'mirror/app'];
    const first = (await regbucketOk(args)).json<PushDoc>();
    // 8 tags + `signed` + its fallback tag, two a page: five pages.
    expect(gate.counts()['GET tags']).toBe(5);
    expect(first.summary).toMatchObject({ tagsListed: 10, tagsSelected: 3, copied: 3, failed: 0 });
    expect(await storeTags(store, 'mirror/app')).toEqual(expected(['v1.2.0', '1.3.0', '2.0.0']));

    const before = filesUnder(store).map((f) => `${f} ${statSync(f).mtimeMs}`);
    const again = (await regbucketOk(args)).json<PushDoc>();
    expect(again.summary).toMatchObject({ copied: 0, unchanged: 3, failed: 0 });
    expect(again.stats).toMatchObject({ blobsUploaded: 0, manifestsWritten: 0 });
    expect(filesUnder(store).map((f) => `${f} ${statSync(f).mtimeMs}`)).toEqual(before);
  });

  it('--include-tag and --exclude-tag match whole tags; --latest-semver takes the newest releases; -q prints repo:tag@digest', async () => {
    const store = tempDir();
    await regbucketOk([
      '--store',
      store,
      'push',
      INSECURE,
      ...CREDS,
      '--all-tags',
      '--include-tag',
      '1.*',
      '--include-tag',
      'ed',
      '--include-tag',
      'v.*',
      '--exclude-tag',
      'v1\\.0.*',
      `docker://${gate.host}/lib/app`,
    ]);
    // `1.*` is anchored: not v1.2.0 (that comes from `v.*`); `ed` is not `edge`.
    expect(await storeTags(store, 'lib/app')).toEqual(expected(['1.3.0', '1.2', 'v1.2.0']));

    const latest = tempDir();
    const q = await regbucketOk(['--store', latest, '-q', 'push', INSECURE, ...CREDS, '--all-tags', '--latest-semver', '2', `docker://${gate.host}/lib/app`, 'l']);
    // The prerelease 2.1.0-rc.1 is not a release: 2.0.0 and 1.3.0 are the newest two.
    expect(q.stdout.trim().split('\n').sort()).toEqual([`l:1.3.0@${digests.get('lib/app:1.3.0')}`, `l:2.0.0@${digests.get('lib/app:2.0.0')}`]);
    expect(await storeTags(latest, 'l')).toEqual(expected(['2.0.0', '1.3.0']));
  });

  it('without filters: every tag; the sha256-<hex> fallback tag comes with its image, not as a tag of its own', async () => {
    const store = tempDir();
    const doc = (await regbucketOk(['--store', store, '--json', 'push', INSECURE, ...CREDS, '--all-tags', `docker://${gate.host}/lib/app`])).json<PushDoc>();
    expect(doc.summary).toMatchObject({ tagsListed: 10, tagsSelected: 9, copied: 9 });
    const fallback = `sha256-${signed.image.slice(7)}`;
    const fallbackDigest = digestOf(await skopeoInspectRaw(`docker://${source.host}/lib/app:${fallback}`));
    expect(await storeTags(store, 'lib/app')).toEqual({ ...expected(TAGS), signed: signed.image, [fallback]: fallbackDigest });
    // With a filter that leaves `signed` out, its fallback tag stays out too; naming it brings it alone.
    const only = tempDir();
    await regbucketOk(['--store', only, 'push', INSECURE, ...CREDS, '--all-tags', '--include-tag', 'sha256-.*', `docker://${gate.host}/lib/app`]);
    expect(await storeTags(only, 'lib/app')).toEqual({ [fallback]: fallbackDigest });
  });

  it('waits out 429 answers (Retry-After) without using up --retries', async () => {
    gate.reset();
    gate.addFault({ match: 'GET manifests', status: 429, times: 3, headers: { 'retry-after': '0' } });
    gate.addFault({ match: 'GET tags', status: 429, times: 1, headers: { 'ratelimit-reset': '0', 'ratelimit-remaining': '0' } });
    const store = tempDir();
    const doc = (await regbucketOk(['--store', store, '--retries', '0', '--json', 'push', INSECURE, ...CREDS, '--all-tags', '--semver', '1.x', `docker://${gate.host}/lib/app`])).json<PushDoc>();
    expect(doc.summary).toMatchObject({ copied: 3, failed: 0 });
    expect(await storeTags(store, 'lib/app')).toEqual(expected(['v1.0.0', 'v1.2.0', '1.3.0']));
  });

  it('a failing tag does not stop the others: exit 1 naming it on one line', async () => {
    const { digests: broken } = await seedRegistry(source.host, { 'lib/broken:good': { layers: 1 }, 'lib/broken:bad': { layers: 1 } });
    const manifest = JSON.parse((await skopeoInspectRaw(`docker://${source.host}/lib/broken:bad`)).toString()) as { layers: { digest: string }[] };
    const hex = manifest.layers[0]!.digest.slice(7);
    rmSync(join(sourceDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex), { recursive: true });
    const store = tempDir();
    const r = await regbucket(['--store', store, '--json', 'push', INSECURE, ...CREDS, '--all-tags', `docker://${gate.host}/lib/broken`]);
    expect(r.code).toBe(1);
    const doc = r.json<PushDoc>();
    expect(doc.images.map((i) => i.tag)).toEqual(['good']);
    expect(doc.failed.map((f) => f.tag)).toEqual(['bad']);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('regbucket: error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/1 of 2 tags failed: bad \(/);
    expect(await storeTags(store, 'lib/broken')).toEqual({ good: broken.get('lib/broken:good') });
  });

  it('htpasswd basic auth on the registry itself: a filtered repository and a catalog mirrored exactly; without credentials one line; a second run writes nothing', async () => {
    const guarded = await startRegistry({ storage: { filesystem: tempDir() }, htpasswd: HTPASSWD });
    try {
      const creds = `${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`;
      const { digests: seeded } = await seedRegistry(
        guarded.host,
        { 'private/app:v1.0.0': { layers: 1 }, 'private/app:v2.0.0': { layers: 1 }, 'private/app:edge': { layers: 1 }, 'private/db:v16': { layers: 1 }, 'other/x:v1': { layers: 1 } },
        creds,
      );
      const src = ['--src-creds', creds];
      const store = tempDir();
      const tags = ['--store', store, '--json', 'push', INSECURE, ...src, '--all-tags', '--include-tag', 'v.*', `docker://${guarded.host}/private/app`];
      expect((await regbucketOk(tags)).json<PushDoc>().summary).toMatchObject({ tagsSelected: 2, copied: 2, failed: 0 });
      expect(await storeTags(store, 'private/app')).toEqual({ 'v1.0.0': seeded.get('private/app:v1.0.0'), 'v2.0.0': seeded.get('private/app:v2.0.0') });
      expect((await regbucketOk(tags)).json<PushDoc>().summary).toMatchObject({ copied: 0, unchanged: 2, failed: 0 });

      const catalog = tempDir();
      await regbucketOk(['--store', catalog, 'push', INSECURE, ...src, '--include-repo', 'private/*', `docker://${guarded.host}`]);
      const doc = (await regbucketOk(['--store', catalog, '--json', 'ls', '--all'])).json<LsDoc>();
      const got = Object.fromEntries(doc.repositories.flatMap((r) => r.tags.map((t) => [`${r.name}:${t.tag}`, t.digest])));
      expect(got).toEqual(Object.fromEntries([...seeded].filter(([k]) => k.startsWith('private/'))));

      const anonymous = await regbucket(['--store', tempDir(), 'push', INSECURE, '--all-tags', `docker://${guarded.host}/private/app`]);
      expect(anonymous.code).not.toBe(0);
      expect(anonymous.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^regbucket: error: .*401/)]);
    } finally {
      await guarded.stop();
    }
  });

  it('a bad regex or range is exit 2 naming the flag, before any request', async () => {
    for (const [flag, value] of [
      ['--include-tag', '('],
      ['--exclude-tag', '(a)\\1'],
      ['--semver', 'not a range'],
      ['--semver', ''],
    ] as const) {
      const r = await regbucket(['--store', tempDir(), 'push', INSECURE, '--all-tags', flag, value, 'docker://127.0.0.1:9/lib/app']);
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^regbucket: error: ${flag}`));
    }
    const noAll = await regbucket(['--store', tempDir(), 'push', INSECURE, '--semver', '1.x', 'docker://127.0.0.1:9/lib/app']);
    expect(noAll.code).toBe(2);
    expect(noAll.stderr).toContain('--all-tags');
  });
});
