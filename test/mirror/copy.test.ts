// regbucket copy: store to store, only the blobs the destination lacks, served by the real registry.
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { digestOf, makeLayerTar, makeLayout } from '../lab/images.js';
import { startRegistry } from '../lab/registry.js';
import { skopeoInspectRaw, tempDir } from '../lab/tools.js';
import { seedSignedImage } from './seed.js';

interface CopyJson {
  images: { source: string; destination: string; digest: string }[];
  stats: { blobsUploaded: number; blobsSkipped: number; manifestsWritten: number };
}

const blobFile = (store: string, digest: string): string => join(store, 'docker/registry/v2/blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data');

describe('regbucket copy between filesystem stores', () => {
  let src: string;
  const roots = new Map<string, string>();
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    src = tempDir();
    const layout = join(tempDir(), 'layout');
    const shared = [await makeLayerTar(4096), await makeLayerTar(4096)];
    // app:v1 and app:v2 share two layers (each has 1 own layer + config); base:1 shares them too.
    const { roots: r } = await makeLayout(layout, [
      { ref: 'v1', layers: 1, sharedLayers: shared },
      { ref: 'v2', layers: 1, sharedLayers: shared },
      { ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 1 },
      { ref: 'base', layers: 0, sharedLayers: shared },
    ]);
    for (const [i, ref] of ['v1', 'v2', 'multi', 'base'].entries()) roots.set(ref, r[i]!.digest);
    await regbucketOk(['--store', src, 'push', `oci:${layout}:v1`, 'team/app:v1']);
    await regbucketOk(['--store', src, 'push', `oci:${layout}:v2`, 'team/app:v2']);
    await regbucketOk(['--store', src, 'push', `oci:${layout}:multi`, 'team/app:multi']);
    await regbucketOk(['--store', src, 'push', `oci:${layout}:base`, 'team/base:1']);
  });
  afterAll(async () => {
    for (const s of stops) await s();
  });

  it('moves only the blobs the destination lacks, links the rest across repositories', async () => {
    const dest = tempDir();
    // base:1 first: its 2 layers and config.
    const base = await regbucketOk(['--store', src, '--json', 'copy', 'team/base:1', '--to', dest]);
    expect(base.json<CopyJson>().stats).toMatchObject({ blobsUploaded: 3, blobsSkipped: 0 });
    // app:v1 into another repository: the 2 shared layers are linked, 1 layer + config move.
    const v1 = await regbucketOk(['--store', src, '--json', 'copy', 'team/app:v1', '--to', dest, 'mirror/app:v1']);
    expect(v1.json<CopyJson>().stats).toMatchObject({ blobsUploaded: 2, blobsSkipped: 2, manifestsWritten: 1 });
    // The same again: nothing moves, nothing is written.
    const again = await regbucketOk(['--store', src, '--json', 'copy', 'team/app:v1', '--to', dest, 'mirror/app:v1']);
    expect(again.json<CopyJson>().stats).toMatchObject({ blobsUploaded: 0, blobsSkipped: 0, manifestsWritten: 0 });

    const served = await startRegistry({ storage: { filesystem: dest } });
    stops.push(() => served.stop());
    expect(digestOf(await skopeoInspectRaw(`docker://${served.host}/mirror/app:v1`))).toBe(roots.get('v1'));
    expect(digestOf(await skopeoInspectRaw(`docker://${served.host}/team/base:1`))).toBe(roots.get('base'));
  });

  it('a source blob missing or of the wrong size fails the copy before anything is written', async () => {
    // A copy of the source store with one layer of app:v2 gone, then with it truncated.
    const broken = tempDir();
    cpSync(src, broken, { recursive: true });
    const manifest = JSON.parse(readFileSync(blobFile(broken, roots.get('v2')!), 'utf8')) as { layers: { digest: string }[] };
    const layer = blobFile(broken, manifest.layers.at(-1)!.digest);
    const bytes = readFileSync(layer);
    for (const [what, damage] of [
      ['missing', () => rmSync(layer)],
      ['truncated', () => writeFileSync(layer, bytes.subarray(0, 10))],
    ] as const) {
      damage();
      const dest = tempDir();
      // The whole repository: v1 is whole, v2 is not; nothing of either may land.
      const r = await regbucket(['--store', broken, 'copy', '--all-tags', 'team/app', '--to', dest]);
      expect(r.code, `${what}: ${r.stderr}`).not.toBe(0);
      expect(r.stderr.trim().split('\n'), what).toHaveLength(1);
      expect(r.stderr, what).toContain(manifest.layers.at(-1)!.digest);
      expect(existsSync(join(dest, 'docker')), `${what}: ${readdirSync(dest).join(', ')}`).toBe(false);
    }
  });

  it('--all-tags copies every tag; a tag on the destination then is refused; a repository alone means latest', async () => {
    const dest = tempDir();
    const r = await regbucketOk(['--store', src, '--json', 'copy', '--all-tags', 'team/app', '--to', dest]);
    const out = r.json<CopyJson>();
    expect(out.images.map((i) => i.destination).sort()).toEqual(['team/app:multi', 'team/app:v1', 'team/app:v2']);
    // v1 and v2 share 2 layers: 2 shared + 2x(layer+config) + multi's 2x(layer+config) = 10 distinct blobs, each moved once.
    expect(out.stats.blobsUploaded).toBe(10);
    const served = await startRegistry({ storage: { filesystem: dest } });
    stops.push(() => served.stop());
    for (const tag of ['v1', 'v2', 'multi']) expect(digestOf(await skopeoInspectRaw(`docker://${served.host}/team/app:${tag}`))).toBe(roots.get(tag));

    const refused = await regbucket(['--store', src, 'copy', '--all-tags', 'team/app', '--to', dest, 'other:x']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--all-tags copies 3 tags of team/app');
    const missing = await regbucket(['--store', src, 'copy', '--all-tags', 'team/nothing', '--to', dest]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('team/nothing has no tags');
    // Without --all-tags a repository means latest, which team/app lacks: the error says what to do.
    const bare = await regbucket(['--store', src, 'copy', 'team/app', '--to', dest]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/^regbucket: error: team\/app has no tag latest.*--all-tags/);
    const typo = await regbucket(['--store', src, 'copy', 'team/app:v3', '--to', dest]);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/tag team\/app:v3 does not exist; did you mean v1, v2\?/);
  });

  it('DST as an argument: <store-url>[//<repo>[:<tag>]], the same copy --to makes', async () => {
    const dest = tempDir();
    const r = await regbucketOk(['--store', src, '--json', 'copy', 'team/app:v1', `${dest}//mirror/app:one`]);
    expect(r.json<CopyJson>().images.map((i) => i.destination)).toEqual(['mirror/app:one']);
    const same = await regbucketOk(['--store', src, '--json', 'copy', 'team/app:v2', `file://${dest}`]);
    expect(same.json<CopyJson>().images.map((i) => i.destination)).toEqual(['team/app:v2']);
    const served = await startRegistry({ storage: { filesystem: dest } });
    stops.push(() => served.stop());
    expect(digestOf(await skopeoInspectRaw(`docker://${served.host}/mirror/app:one`))).toBe(roots.get('v1'));
    expect(digestOf(await skopeoInspectRaw(`docker://${served.host}/team/app:v2`))).toBe(roots.get('v2'));
    // A bare word is a repository, never a store: refused with the fix, nothing written.
    const word = await regbucket(['--store', src, 'copy', 'team/app:v1', 'mirror']);
    expect(word.code).toBe(2);
    expect(word.stderr).toContain('copy destination mirror is a repository, not a store');
  });

  it('a copied tag brings the signatures its sha256-<hex> fallback tag lists, and that tag', async () => {
    const reg = await startRegistry({ storage: { filesystem: tempDir() } });
    stops.push(() => reg.stop());
    const signed = await seedSignedImage(reg.host, 'lib/signed', 'v1');
    const store = tempDir();
    await regbucketOk(['--store', store, 'push', '--src-tls-verify=false', `docker://${reg.host}/lib/signed:v1`, 'signed:v1']);
    const fallback = `sha256-${signed.image.slice(7)}`;

    const dest = tempDir();
    const r = await regbucketOk(['--store', store, '--json', 'copy', 'signed:v1', '--to', dest, 'copied/signed:v1']);
    expect(r.json<CopyJson>().stats.manifestsWritten).toBe(3); // image, signature, fallback index
    const served = await startRegistry({ storage: { filesystem: dest } });
    stops.push(() => served.stop());
    expect(digestOf(await skopeoInspectRaw(`docker://${served.host}/copied/signed@${signed.signature}`))).toBe(signed.signature);
    const index = JSON.parse((await skopeoInspectRaw(`docker://${served.host}/copied/signed:${fallback}`)).toString());
    expect(index.manifests.map((m: { digest: string }) => m.digest)).toEqual([signed.signature]);

    const bare = await regbucketOk(['--store', store, '--json', 'copy', '--no-referrers', 'signed:v1', '--to', tempDir()]);
    expect(bare.json<CopyJson>().stats.manifestsWritten).toBe(1);
  });

  it('--platform copies one child of an index as the image', async () => {
    const dest = tempDir();
    const r = await regbucketOk(['--store', src, '--json', 'copy', 'team/app:multi', '--to', dest, 'arm:1', '--platform', 'linux/arm64']);
    const out = r.json<CopyJson>();
    expect(out.stats.blobsUploaded).toBe(2);
    expect(out.images[0]!.digest).not.toBe(roots.get('multi'));
  });
});
