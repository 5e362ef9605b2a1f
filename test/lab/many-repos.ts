// A filesystem store of ten repositories for the whole-store copy tests: team/r0..r7 (two tags
// each, sharing two layers across every repository), team/multi (a two-platform index) and
// lib/signed (an image and the sha256-<hex> fallback tag listing its signature, as 2.8 clients
// write referrers). Pushed by regbucket; returns `repo:tag -> digest` of every tag.
import { join } from 'node:path';
import { hexOf, type Digest } from '../../src/image/digest.js';
import { regbucketOk } from './cli.js';
import { LayoutWriter, makeLayerTar } from './images.js';
import { tempDir } from './tools.js';

export async function manyRepoStore(store: string, opts: { layerSize?: number } = {}): Promise<Map<string, string>> {
  const tags = new Map<string, string>();
  const shared = [await makeLayerTar(opts.layerSize ?? 8192), await makeLayerTar(4096)];
  for (let i = 0; i < 8; i++) {
    const layout = join(tempDir('regbucket-many-'), 'layout');
    const w = new LayoutWriter(layout);
    const v1 = await w.image({ ref: 'v1', layers: 1, layerSize: opts.layerSize, sharedLayers: shared });
    const v2 = await w.image({ ref: 'v2', layers: 1, sharedLayers: shared });
    w.write();
    await regbucketOk(['--store', store, 'push', `oci:${layout}`, `team/r${i}`]);
    tags.set(`team/r${i}:v1`, v1.digest).set(`team/r${i}:v2`, v2.digest);
  }
  const layout = join(tempDir('regbucket-many-'), 'layout');
  const w = new LayoutWriter(layout);
  const multi = await w.image({ ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 1, sharedLayers: shared });
  const image = await w.image({ ref: 'img', layers: 1 });
  const sig = w.referrer(image);
  w.entries.pop(); // the signature travels in the fallback index
  const index = w.add(
    'application/vnd.oci.image.index.v1+json',
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [w.desc(sig, { artifactType: 'application/vnd.example.signature' })] })),
  );
  w.entries.push({ ...w.desc(index), annotations: { 'org.opencontainers.image.ref.name': 'fallback' } });
  w.write();
  const fallback = `sha256-${hexOf(image.digest as Digest)}`;
  await regbucketOk(['--store', store, 'push', `oci:${layout}:multi`, 'team/multi:1']);
  await regbucketOk(['--store', store, 'push', '--no-referrers', `oci:${layout}:img`, 'lib/signed:v1']);
  await regbucketOk(['--store', store, 'push', `oci:${layout}:fallback`, `lib/signed:${fallback}`]);
  tags.set('team/multi:1', multi.digest).set('lib/signed:v1', image.digest).set(`lib/signed:${fallback}`, index.digest);
  return tags;
}
