// Exports (pull into oci:, oci-archive:, docker-archive:) checked like stores: no symlink in the
// destination followed, never into the store being exported, concurrent pulls into one layout
// keep every index.json entry, RepoTags as Docker writes them; and a bundle naming two images
// alike is refused, naming both.
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { makeLayout } from '../lab/images.js';
import { tempDir } from '../lab/tools.js';

let store: string;
const TAGS = ['a', 'b', 'c', 'd'];

beforeAll(async () => {
  store = tempDir();
  const src = join(tempDir(), 'src');
  await makeLayout(
    src,
    TAGS.map((ref) => ({ ref, layers: 1, layerSize: 2048 })),
  );
  for (const t of TAGS) await regbucketOk(['--store', store, 'push', `oci:${src}:${t}`, `exp/img:${t}`]);
}, 240_000);

describe('exports', () => {
  it('refuses an OCI layout whose blobs/sha256 is a symlink, writing nothing through it', async () => {
    const dest = join(tempDir(), 'layout');
    const elsewhere = tempDir();
    mkdirSync(join(dest, 'blobs'), { recursive: true });
    symlinkSync(elsewhere, join(dest, 'blobs', 'sha256'));
    const r = await regbucket(['--store', store, 'pull', 'exp/img:a', `oci:${dest}`]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/blobs\/sha256 is a symlink/);
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(existsSync(join(dest, 'index.json'))).toBe(false);
  });

  it('refuses a destination inside the store', async () => {
    for (const dest of [`oci:${join(store, 'docker', 'x')}`, `oci-archive:${join(store, 'x.tar')}`, `docker-archive:${join(store, 'docker', 'y.tar')}`]) {
      const r = await regbucket(['--store', store, 'pull', 'exp/img:a', dest]);
      expect(r.code, `${dest}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/lies inside the store/);
    }
  });

  it('concurrent pulls into one layout keep every entry of index.json', async () => {
    const dest = join(tempDir(), 'shared');
    const runs = await Promise.all(TAGS.map((t) => regbucket(['--store', store, 'pull', `exp/img:${t}`, `oci:${dest}:${t}`])));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const index = JSON.parse(readFileSync(join(dest, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
    expect(index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']).sort()).toEqual(TAGS);
    expect(existsSync(join(dest, 'index.json.lock'))).toBe(false);
  }, 240_000);

  it('writes RepoTags as Docker does and refuses names docker load cannot take', async () => {
    const dir = tempDir();
    await regbucketOk(['--store', store, 'pull', 'exp/img:a', `docker-archive:${join(dir, 'a.tar')}:docker.io/library/foo:1`]);
    const r = await regbucket(['--store', store, 'pull', 'exp/img:a', `docker-archive:${join(dir, 'b.tar')}:Foo:1`]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/lowercase/);
    expect(readdirSync(dir)).toEqual(['a.tar']);
    const listed = await regbucket(['--store', tempDir(), 'push', `docker-archive:${join(dir, 'a.tar')}:foo:1`, 'back/foo:1']);
    expect(listed.code, listed.stderr).toBe(0);
  });

  it('a bundle with two different images under one name is refused, naming both', async () => {
    const dir = tempDir();
    await regbucketOk(['--store', store, 'pull', 'exp/img:a', 'exp/img:b', `oci:${join(dir, 'bundle')}`]);
    const indexPath = join(dir, 'bundle', 'index.json');
    const index = JSON.parse(readFileSync(indexPath, 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    for (const m of index.manifests) if (m.annotations) m.annotations['org.opencontainers.image.ref.name'] = 'exp/img:same';
    writeFileSync(indexPath, JSON.stringify(index));
    const r = await regbucket(['--store', tempDir(), 'push', `oci:${join(dir, 'bundle')}`]);
    expect(r.code, r.stderr).toBe(2);
    for (const m of index.manifests) expect(r.stderr).toContain(m.digest);
  });
});
