// A store full of garbage of every kind gc removes, aged past the default --min-age, for the
// gc crash and gc-racing-pushes tests.
import { join } from 'node:path';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import type { Digest } from '../../src/image/digest.js';
import { deleteManifest } from '../../src/store/manifests.js';
import { tagManifest, untag } from '../../src/store/tags.js';
import { regbucketOk } from '../lab/cli.js';
import { makeLayerTar, makeLayout } from '../lab/images.js';
import { age, tagsComplete } from './harness.js';

const HOUR = 3_600_000;

/**
 * A store with garbage of every kind gc removes: untagged revisions (a tag moved 12 times),
 * revisions deleted with their blobs left behind, a repository with no manifest left, shared
 * layers that must stay, all older than --min-age.
 */
export async function garbageStore(work: string): Promise<{ store: string; layout: string; tags: Map<string, Digest>; digest: Map<string, Digest> }> {
  const store = join(work, 'template');
  const layout = join(work, 'layout');
  const shared = [await makeLayerTar(4096), await makeLayerTar(4096)];
  const specs = [
    ...['a', 'b', 'c'].map((r) => ({ ref: `keep-${r}`, layers: 3, layerSize: 2048, sharedLayers: shared })),
    { ref: 'keep-multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 2, layerSize: 2048, sharedLayers: shared.slice(0, 1) },
    ...Array.from({ length: 12 }, (_, i) => ({ ref: `churn-${i}`, layers: 5, layerSize: 1024, sharedLayers: i % 2 ? shared : [] })),
    ...Array.from({ length: 10 }, (_, i) => ({ ref: `gone-${i}`, layers: 5, layerSize: 1024 })),
  ];
  const { roots } = await makeLayout(layout, specs);
  const digest = new Map(specs.map((s, i) => [s.ref, roots[i]!.digest as Digest]));
  for (const r of ['keep-a', 'keep-b', 'keep-c', 'keep-multi']) await regbucketOk(['--store', store, 'push', `oci:${layout}:${r}`, `keep:${r}`]);
  const churn = specs.filter((s) => s.ref.startsWith('churn-')).map((s) => s.ref);
  const gone = specs.filter((s) => s.ref.startsWith('gone-')).map((s) => s.ref);
  await regbucketOk(['--store', store, 'push', `oci:${layout}`, 'scratch']); // every image, under its own name
  const d = new FilesystemDriver(store);
  // churn: one tag moved through twelve images; the first eleven end untagged.
  for (const r of churn) await regbucketOk(['--store', store, 'push', `oci:${layout}:${r}`, 'churn:v']);
  // gone: ten images pushed then deleted: orphan blobs and dangling layer links, an empty repository.
  for (const r of gone) await regbucketOk(['--store', store, 'push', `oci:${layout}:${r}`, `gone:${r}`]);
  for (const r of gone) await deleteManifest(d, 'gone', digest.get(r)!);
  // scratch: keep two tags, untag the rest (their revisions stay, untagged).
  for (const s of specs) if (s.ref !== 'keep-a' && s.ref !== 'churn-3') await untag(d, 'scratch', s.ref);
  await tagManifest(d, 'scratch', 'pinned', digest.get('churn-3')!);
  age(store, 2 * HOUR);
  return { store, layout, tags: await tagsComplete(d), digest };
}
