// Digests survive everywhere (docs/digests.md): one multi-arch index with a referrer through every
// byte-keeping path in a row; at each stop the index, its children and the referrer have the
// digests they started with.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { regbucketOk } from '../lab/cli.js';
import { LayoutWriter } from '../lab/images.js';
import { startRegistry, type RunningRegistry } from '../lab/registry.js';
import { tempDir } from '../lab/tools.js';

const NO_STORE = { REGBUCKET_STORE: '' };

function inStore(store: string, repo: string, digest: string): boolean {
  return existsSync(join(store, 'docker/registry/v2/repositories', repo, '_manifests/revisions/sha256', digest.slice(7), 'link'));
}

describe('digests survive every byte-keeping path', () => {
  let registry: RunningRegistry | undefined;
  afterAll(async () => {
    await registry?.stop();
  });

  it('layout -> store -> oci-archive bundle -> store -> copy -> live registry -> store -> layout, and one platform through docker-archive', async () => {
    const dir = join(tempDir(), 'layout');
    const w = new LayoutWriter(dir);
    const index = await w.image({ platforms: ['linux/amd64', 'linux/arm64'], layers: 1, layerSize: 4096, ref: 'app' });
    const sig = w.referrer(index);
    // In a store, referrers are found through the subject's sha256-<hex> fallback tag (2.8 has no referrers API).
    w.entries.pop();
    const fallbackTag = `sha256-${index.digest.slice(7)}`;
    const fallback = w.add(
      'application/vnd.oci.image.index.v1+json',
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [w.desc(sig, { artifactType: 'application/vnd.example.signature' })] })),
    );
    w.entries.push({ ...w.desc(fallback), annotations: { 'org.opencontainers.image.ref.name': 'fallback' } });
    w.write();
    const children = (JSON.parse(index.bytes.toString()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest);
    const all = [index.digest, ...children, sig.digest];
    const expectAll = (store: string, repo: string, at: string) => {
      for (const d of all) expect(inStore(store, repo, d), `${d} at ${at}`).toBe(true);
    };
    const pushed = (r: { json<T>(): T }) => r.json<{ images: { digest: string }[] }>().images.map((i) => i.digest);

    const s1 = tempDir();
    expect(pushed(await regbucketOk(['--store', s1, '--json', 'push', `oci:${dir}:app`, 'lib/app:v1']))).toEqual([index.digest]);
    await regbucketOk(['--store', s1, 'push', `oci:${dir}:fallback`, `lib/app:${fallbackTag}`]);
    expectAll(s1, 'lib/app', 'push oci:');

    const bundle = join(tempDir(), 'bundle.tar');
    await regbucketOk(['--store', s1, 'pull', 'lib/app:v1', `oci-archive:${bundle}`]);
    const s2 = tempDir();
    expect(pushed(await regbucketOk(['--store', s2, '--json', 'push', `oci-archive:${bundle}`, 'lib/app:v1']))).toEqual([index.digest]);
    expectAll(s2, 'lib/app', 'oci-archive bundle');

    // From s2: a store finds referrers through the fallback tag, which the push of the bundle wrote.
    const s3 = tempDir();
    expect((await regbucketOk(['--store', s2, '--json', 'copy', 'lib/app:v1', s3])).json<{ images: { digest: string }[] }>().images[0]!.digest).toBe(index.digest);
    expectAll(s3, 'lib/app', 'copy');

    registry = await startRegistry({ storage: { filesystem: tempDir() } });
    expect(pushed(await regbucketOk(['--json', 'push', '--dest-tls-verify=false', `oci-archive:${bundle}`, `docker://${registry.host}/lib/app:v1`], NO_STORE))).toEqual([index.digest]);
    const s4 = tempDir();
    expect(pushed(await regbucketOk(['--store', s4, '--json', 'push', '--src-tls-verify=false', `docker://${registry.host}/lib/app:v1`, 'lib/app:v1']))).toEqual([index.digest]);
    expectAll(s4, 'lib/app', 'docker:// destination and source');

    const out = join(tempDir(), 'out');
    await regbucketOk(['--store', s4, 'pull', 'lib/app:v1', `oci:${out}:v1`]);
    const entries = (JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest);
    expect(entries).toContain(index.digest);
    for (const d of all) expect(readFileSync(join(out, 'blobs/sha256', d.slice(7))).length).toBeGreaterThan(0);

    // docker-archive holds one platform: that platform's manifest keeps its digest.
    const archive = join(tempDir(), 'one.tar');
    await regbucketOk(['--store', s4, 'pull', '--platform', 'linux/arm64', 'lib/app:v1', `docker-archive:${archive}`]);
    const s5 = tempDir();
    expect(pushed(await regbucketOk(['--store', s5, '--json', 'push', `docker-archive:${archive}`, 'lib/app:arm64']))).toEqual([children[1]]);
  });
});
