// A registry's catalog as a source (push docker://host --include-repo ...) and sync list entries
// with tag filters and catalogs, against the real registry 2.8.2 behind a bearer-token gate: the
// store's repositories and tags are exactly the ones the globs and filters keep, with the source's
// digests; the catalog is read page by page; a second run writes nothing.
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { filesUnder } from '../lab/files.js';
import { startGate, type RunningGate } from '../lab/registry-gate.js';
import { startRegistry, type RunningRegistry } from '../lab/registry.js';
import { skopeoInspectRaw, tempDir } from '../lab/tools.js';
import { seedRegistry } from './seed.js';

const INSECURE = '--src-tls-verify=false';
const CREDS = ['--src-creds', 'robot:tok-secret-3'];
const IMAGES = ['team/app:1.0.0', 'team/app:1.1.0', 'team/app:2.0.0', 'team/app:latest', 'team/sub/deep:v1.0.0', 'team/sub/deep:v1.1.0', 'team/tmp-x:t1', 'other/thing:1.0.0', 'lib/z:edge'];

interface LsDoc {
  repositories: { name: string; tags: { tag: string; digest: string }[] }[];
}
interface PushDoc {
  images: { repo: string; tag: string; digest: string; status: string; source: string }[];
  failed: { repo: string; tag: string; error: string }[];
  summary: { repositoriesListed: number; repositoriesSelected: number; repositoriesFailed: number; tagsListed: number; tagsSelected: number; copied: number; unchanged: number; failed: number };
  repositories: { name: string; destination: string; tagsListed: number; tagsSelected: number; error?: string }[];
  stats: { blobsUploaded: number; manifestsWritten: number };
}
interface SyncDoc {
  images: { source: string; destination: string; status: string }[];
  summary: { images: number; copied: number; unchanged: number; failed: number };
}

describe('a registry catalog as a source, from the real registry', () => {
  let source: RunningRegistry;
  let sourceDir: string;
  let gate: RunningGate;
  let digests: Map<string, string>;

  beforeAll(async () => {
    sourceDir = tempDir();
    source = await startRegistry({ storage: { filesystem: sourceDir } });
    ({ digests } = await seedRegistry(source.host, Object.fromEntries(IMAGES.map((n, i) => [n, { layers: 1, ...(i === 0 ? { platforms: ['linux/amd64', 'linux/arm64'] } : {}) }]))));
    gate = await startGate({ target: `http://${source.host}`, bearer: { username: 'robot', password: 'tok-secret-3' } });
  });
  afterAll(async () => {
    await gate?.stop();
    await source?.stop();
  });

  /** The whole store as repo -> tag -> digest. */
  async function storeTags(store: string): Promise<Record<string, Record<string, string>>> {
    const doc = (await regbucketOk(['--store', store, '--json', 'ls', '--all'])).json<LsDoc>();
    return Object.fromEntries(doc.repositories.map((r) => [r.name, Object.fromEntries(r.tags.map((t) => [t.tag, t.digest]))]));
  }
  /** What the source has for `names` (repo:tag), moved under `prefix/`. */
  function expected(names: string[], prefix = ''): Record<string, Record<string, string>> {
    const out: Record<string, Record<string, string>> = {};
    for (const n of names) {
      const [repo, tag] = n.split(':') as [string, string];
      (out[prefix + repo] ??= {})[tag] = digests.get(n)!;
    }
    return out;
  }
  const snapshot = (store: string) => filesUnder(store).map((f) => `${f} ${statSync(f).mtimeMs}`);

  it('--include-repo/--exclude-repo globs pick repositories of the paged catalog (bearer auth); every tag arrives with its digest; a second run writes nothing', async () => {
    const store = tempDir();
    gate.reset();
    const args = ['--store', store, '--json', 'push', INSECURE, ...CREDS, '--include-repo', 'team/**', '--exclude-repo', 'team/tmp-*', '--page-size', '2', `docker://${gate.host}`];
    const first = (await regbucketOk(args)).json<PushDoc>();
    // Five repositories, two a page: three pages (2.8.2 links a further, empty page when the last is full).
    expect(gate.counts()['GET catalog']).toBeGreaterThanOrEqual(3);
    expect(first.summary).toMatchObject({ repositoriesListed: 5, repositoriesSelected: 2, repositoriesFailed: 0, tagsListed: 6, tagsSelected: 6, copied: 6, failed: 0 });
    expect(first.repositories.map((r) => r.name).sort()).toEqual(['team/app', 'team/sub/deep']);
    expect(await storeTags(store)).toEqual(expected(IMAGES.filter((n) => n.startsWith('team/') && !n.startsWith('team/tmp-'))));
    expect(first.images.find((i) => i.tag === '1.0.0')?.source).toBe(`docker://${gate.host}/team/app:1.0.0`);

    const before = snapshot(store);
    const again = (await regbucketOk(args)).json<PushDoc>();
    expect(again.summary).toMatchObject({ copied: 0, unchanged: 6, failed: 0 });
    expect(again.stats).toMatchObject({ blobsUploaded: 0, manifestsWritten: 0 });
    expect(snapshot(store)).toEqual(before);
  });

  it('a destination prefix and the tag filters; -q prints repo:tag@digest; the table names each source', async () => {
    const store = tempDir();
    const q = await regbucketOk(['--store', store, '-q', 'push', INSECURE, ...CREDS, '--include-repo', '**', '--exclude-repo', 'lib/*', '--semver', '>=1.1', `docker://${gate.host}`, 'mirror']);
    const want = ['team/app:1.1.0', 'team/app:2.0.0', 'team/sub/deep:v1.1.0'];
    expect(q.stdout.trim().split('\n').sort()).toEqual(want.map((n) => `mirror/${n}@${digests.get(n)}`).sort());
    expect(await storeTags(store)).toEqual(expected(want, 'mirror/'));

    const table = await regbucketOk(['--store', tempDir(), 'push', INSECURE, ...CREDS, '--include-repo', 'other/?hing', `docker://${gate.host}`, 'm']);
    expect(table.stdout).toMatch(/SOURCE\s+DESTINATION\s+STATUS/);
    expect(table.stdout).toMatch(/other\/thing:1\.0\.0\s+m\/other\/thing:1\.0\.0\s+copied/);
  });

  it('a failing tag does not stop the other repositories: exit 1 naming it on one line', async () => {
    await seedRegistry(source.host, { 'zz/good:1': { layers: 1 }, 'zz/bad:1': { layers: 1 } });
    const manifest = JSON.parse((await skopeoInspectRaw(`docker://${source.host}/zz/bad:1`)).toString()) as { layers: { digest: string }[] };
    const hex = manifest.layers[0]!.digest.slice(7);
    rmSync(join(sourceDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex), { recursive: true });
    const store = tempDir();
    const r = await regbucket(['--store', store, '--json', 'push', INSECURE, ...CREDS, '--include-repo', 'zz/*', `docker://${gate.host}`]);
    expect(r.code).toBe(1);
    const doc = r.json<PushDoc>();
    expect(doc.images.map((i) => `${i.repo}:${i.tag}`)).toEqual(['zz/good:1']);
    expect(doc.failed.map((f) => `${f.repo}:${f.tag}`)).toEqual(['zz/bad:1']);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('regbucket: error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/1 of 2 tags failed: zz\/bad:1 \(/);
    expect(Object.keys(await storeTags(store))).toEqual(['zz/good']);
  });

  it('a bare docker://host needs --include-repo; the globs need a registry, not a repository (exit 2, one line)', async () => {
    for (const [args, text] of [
      [[`docker://${gate.host}`], '--include-repo'],
      [[`docker://${gate.host}/`], '--include-repo'],
      [['--include-repo', 'team/**', `docker://${gate.host}/team/app`], 'docker://<host>'],
      [['--include-repo', 'Team/*', `docker://${gate.host}`], '--include-repo'],
      [['--include-repo', '**', `docker://${gate.host}`, 'mirror:1'], 'prefix'],
    ] as const) {
      const r = await regbucket(['--store', tempDir(), 'push', INSECURE, ...CREDS, ...args]);
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^regbucket: error: /);
      expect(lines[0]).toContain(text);
    }
  });

  it('sync: tags filters on a repository entry and a catalog entry; a second run writes nothing', async () => {
    const dir = tempDir();
    const list = join(dir, 'mirror.yaml');
    writeFileSync(
      list,
      [
        'images:',
        `  - source: docker://${gate.host}/team/app`,
        '    destination: m/app',
        "    tags: {include: ['1\\..*', latest], exclude: '1\\.0\\..*'}",
        `  - source: docker://${gate.host}`,
        "    repos: {include: ['team/**', 'other/*'], exclude: team/app}",
        '    destination: cat',
        '    tags: {semver: ">=1", latest: 1}',
        `  - source: docker://${gate.host}/other/thing:1.0.0`,
        '    destination: one/thing:pinned',
        '',
      ].join('\n'),
    );
    const store = tempDir();
    const args = ['--store', store, '--json', 'sync', INSECURE, ...CREDS, list];
    const first = (await regbucketOk(args)).json<SyncDoc>();
    expect(first.summary).toMatchObject({ images: 5, copied: 5, failed: 0 });
    expect(first.images.map((i) => i.destination)).toEqual(['m/app:1.1.0', 'm/app:latest', 'cat/other/thing:1.0.0', 'cat/team/sub/deep:v1.1.0', 'one/thing:pinned']);
    expect(await storeTags(store)).toEqual({
      'm/app': { '1.1.0': digests.get('team/app:1.1.0')!, latest: digests.get('team/app:latest')! },
      'cat/team/sub/deep': { 'v1.1.0': digests.get('team/sub/deep:v1.1.0')! },
      'cat/other/thing': { '1.0.0': digests.get('other/thing:1.0.0')! },
      'one/thing': { pinned: digests.get('other/thing:1.0.0')! },
    });
    const before = snapshot(store);
    const again = (await regbucketOk(args)).json<SyncDoc>();
    expect(again.summary).toMatchObject({ images: 5, copied: 0, unchanged: 5, failed: 0 });
    expect(snapshot(store)).toEqual(before);
  });

  it('sync: a bad key or type in an entry is exit 2, one line naming the entry and the key, before any request', async () => {
    const host = '127.0.0.1:9';
    for (const [entry, text] of [
      [`{source: docker://${host}/a/b, tags: {includ: x}}`, /images\[0\]: unknown key "includ" in tags/],
      [`{source: docker://${host}/a/b, tags: {latest: three}}`, /images\[0\]: tags\.latest is a number/],
      [`{source: docker://${host}/a/b, tags: {include: '('}}`, /images\[0\]: tags\.include/],
      [`{source: docker://${host}/a/b, tags: {semver: 'nope'}}`, /images\[0\]: tags\.semver/],
      [`{source: docker://${host}/a/b, tag: {include: x}}`, /images\[0\]: unknown key "tag" in an entry/],
      [`{source: docker://${host}/a/b, repos: 'a/*'}`, /images\[0\]: repos takes a registry/],
      [`{source: docker://${host}, repos: {include: 'A/*'}}`, /images\[0\]: repos\.include/],
      [`{source: docker://${host}, repos: {exclude: 'a/*'}}`, /images\[0\]: repos needs include globs/],
      [`{source: docker://${host}, tags: {}}`, /images\[0\]: docker:\/\/127\.0\.0\.1:9 is a whole registry/],
      [`{source: docker://${host}/a/b:1, tags: {}}`, /images\[0\]: tags filters the tags of a repository/],
    ] as const) {
      const list = join(tempDir(), 'l.yaml');
      writeFileSync(list, `images:\n  - ${entry}\n`);
      const r = await regbucket(['--store', tempDir(), 'sync', INSECURE, list]);
      expect(r.code, entry).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines, entry).toHaveLength(1);
      expect(lines[0], entry).toMatch(text);
    }
  });
});
