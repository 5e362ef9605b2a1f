// regbucket gc against the registry's own `garbage-collect` (2.8.2) on copies of one store the
// registry wrote (skopeo pushes; Docker media types pushed by regbucket) plus garbage: single images and indexes, OCI and Docker media
// types, layers shared across repositories, untagged revisions, a manifest deleted through the
// API, orphan blobs, and OCI 1.1 referrers. With --min-age 0 the blobs left must be the
// registry's, except that with --delete-untagged regbucket keeps the children of tagged
// indexes and the referrers of kept images (2.8.2 deletes them and breaks the index). Then the
// real registry serves every tag of regbucket's result to skopeo.
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import { sha256 } from '../../src/image/digest.js';
import { putBlobContent } from '../../src/store/blobs.js';
import { regbucketOk } from '../lab/cli.js';
import { makeLayerTar, makeLayout, type Blob } from '../lab/images.js';
import { registryConfig, registryGarbageCollect, startRegistry } from '../lab/registry.js';
import { skopeoCopy, tempDir } from '../lab/tools.js';
import { image, type Desc } from './store-builder.js';

const V2 = 'docker/registry/v2';

interface Parsed {
  config?: { digest: string };
  layers?: { digest: string }[];
  manifests?: { digest: string }[];
}

let pristine: string;
/** Final tags, as repo:tag. */
let tags: string[];
/** Blobs of the tagged indexes' children and of the kept referrers (regbucket keeps them with --delete-untagged). */
let keptByRegbucketOnly: Set<string>;
/** Referrers regbucket keeps, pulled by digest afterwards. */
let referrers: string[];
/** A tagged multi-arch index, to show what 2.8.2's --delete-untagged does to it. */
let taggedIndex: string;

function blobsIn(store: string): string[] {
  const root = join(store, V2, 'blobs', 'sha256');
  const out: string[] = [];
  for (const shard of existsSync(root) ? readdirSync(root) : []) {
    for (const hex of readdirSync(join(root, shard))) if (existsSync(join(root, shard, hex, 'data'))) out.push(`sha256:${hex}`);
  }
  return out.sort();
}

function copyOf(src: string): string {
  const dir = join(tempDir('regbucket-gc-parity-'), 'store');
  cpSync(src, dir, { recursive: true, preserveTimestamps: true });
  return dir;
}

async function registryGc(store: string, flags: string[]): Promise<void> {
  const r = await registryGarbageCollect(registryConfig({ storage: { filesystem: store } }, 5000), flags);
  if (r.code !== 0) throw new Error(`docker-registry garbage-collect failed: ${r.stderr}${r.stdout}`);
}

function closure(blobs: Map<string, Blob>, digest: string): string[] {
  const m = JSON.parse(blobs.get(digest)!.bytes.toString()) as Parsed;
  return [digest, ...(m.config ? [m.config.digest] : []), ...(m.layers ?? []).map((l) => l.digest), ...(m.manifests ?? []).flatMap((c) => closure(blobs, c.digest))];
}

beforeAll(async () => {
  pristine = tempDir('regbucket-gc-pristine-');
  const layout = join(tempDir(), 'layout');
  const base = await makeLayerTar(2048, 'base.bin');
  const { roots, writer } = await makeLayout(layout, [
    { ref: 'web-old', layers: 2, sharedLayers: [base] },
    { ref: 'web-new', layers: 1, sharedLayers: [base] },
    { ref: 'api', layers: 2, docker: true, sharedLayers: [base] },
    { ref: 'multi', platforms: ['linux/amd64', 'linux/arm64', 'linux/arm/v7'] },
    { ref: 'multi-old', platforms: ['linux/amd64', 'linux/arm64'] },
    { ref: 'dmulti', platforms: ['linux/amd64', 'linux/ppc64le'], docker: true },
    { ref: 'doomed', layers: 1 },
  ]);
  const [webOld, webNew, , multi, , dmulti, doomed] = roots;
  const registry = await startRegistry({ storage: { filesystem: pristine } });
  try {
    const push = (ref: string, dest: string): Promise<string> => skopeoCopy(`oci:${layout}:${ref}`, `docker://${registry.host}/${dest}`, ['--all']);
    // skopeo 1.9 cannot read Docker media types from a layout: regbucket pushes those.
    const pushDocker = (ref: string, dest: string): Promise<unknown> => regbucketOk(['--store', pristine, 'push', `oci:${layout}:${ref}`, dest]);
    await push('web-old', 'apps/web:v1');
    await push('web-new', 'apps/web:v1'); // web-old is an untagged revision now
    await pushDocker('api', 'apps/api:latest');
    await push('multi-old', 'multi/oci:v1');
    await push('multi', 'multi/oci:v1'); // the old index and its children are untagged
    await pushDocker('dmulti', 'multi/docker:v1');
    await push('doomed', 'gone/app:v1');
    const r = await fetch(`http://${registry.host}/v2/gone/app/manifests/${doomed!.digest}`, { method: 'DELETE' });
    expect(r.status).toBe(202);
  } finally {
    await registry.stop();
  }
  // Garbage and referrers written with the core into the same store.
  const d = new FilesystemDriver(pristine);
  for (const s of ['orphan one', 'orphan two']) await putBlobContent(d, sha256(s), Buffer.from(s));
  const asDesc = (b: Blob): Desc => ({ mediaType: b.mediaType, digest: b.digest as Desc['digest'], size: b.size });
  const keptSig = await image(d, 'apps/web', { subject: asDesc(webNew!), artifactType: 'application/vnd.example.sig' });
  await image(d, 'apps/web', { subject: asDesc(webOld!), artifactType: 'application/vnd.example.sig' }); // goes with web-old

  tags = ['apps/web:v1', 'apps/api:latest', 'multi/oci:v1', 'multi/docker:v1'];
  referrers = [`apps/web@${keptSig.manifest.digest}`];
  taggedIndex = 'multi/oci:v1';
  const children = [multi!, dmulti!].flatMap((idx) => (JSON.parse(idx.bytes.toString()) as Parsed).manifests!.flatMap((c) => closure(writer.blobs, c.digest)));
  keptByRegbucketOnly = new Set([...children, keptSig.manifest.digest, keptSig.config.digest, ...keptSig.layers.map((l) => l.digest)]);
}, 180_000);

async function pullsEverything(store: string): Promise<void> {
  const registry = await startRegistry({ storage: { filesystem: store } });
  try {
    for (const ref of [...tags, ...referrers]) {
      const out = join(tempDir('regbucket-gc-pull-'), 'oci');
      await skopeoCopy(`docker://${registry.host}/${ref}`, `oci:${out}:x`, ['--all']);
    }
  } finally {
    await registry.stop();
  }
}

describe('gc parity with docker-registry garbage-collect (2.8.2)', () => {
  it('deletes exactly the blobs the registry deletes; every tag still pulls', async () => {
    const theirs = copyOf(pristine);
    const ours = copyOf(pristine);
    await registryGc(theirs, []);
    const r = await regbucketOk(['--store', ours, '--json', 'gc', '--min-age', '0']);
    const report = r.json<{ deleted: { blobs: number; repositories: number }; lists: { repositories: string[] } }>();
    const before = blobsIn(pristine);
    expect(blobsIn(theirs).length).toBeLessThan(before.length); // the registry did delete something
    expect(blobsIn(ours)).toEqual(blobsIn(theirs));
    expect(report.deleted.blobs).toBe(before.length - blobsIn(ours).length);
    expect(report.lists.repositories).toEqual(['gone/app']); // no revision left in it
    await pullsEverything(ours);
  });

  it("with --delete-untagged: the registry's result plus the children of tagged indexes and kept referrers", async () => {
    const theirs = copyOf(pristine);
    const ours = copyOf(pristine);
    await registryGc(theirs, ['--delete-untagged']);
    await regbucketOk(['--store', ours, '--json', 'gc', '--min-age', '0', '--delete-untagged']);
    const left = blobsIn(ours);
    const expected = [...new Set([...blobsIn(theirs), ...keptByRegbucketOnly])].sort();
    expect(left).toEqual(expected);
    expect(left.length).toBeLessThan(blobsIn(pristine).length);
    // What regbucket keeps beyond the registry is exactly what 2.8.2 wrongly deleted: its tagged index no longer pulls.
    expect(blobsIn(theirs).length).toBeLessThan(left.length);
    const registry = await startRegistry({ storage: { filesystem: theirs } });
    try {
      await expect(skopeoCopy(`docker://${registry.host}/${taggedIndex}`, `oci:${join(tempDir(), 'oci')}:x`, ['--all'])).rejects.toThrow();
    } finally {
      await registry.stop();
    }
    await pullsEverything(ours);
  });

  it('leaves the store untouched with --dry-run and plans what the real run deletes', async () => {
    const ours = copyOf(pristine);
    const before = blobsIn(ours);
    const dry = (await regbucketOk(['--store', ours, '--json', 'gc', '--dry-run', '--min-age', '0', '--delete-untagged'])).json<{ lists: unknown; planned: unknown }>();
    expect(blobsIn(ours)).toEqual(before);
    const real = (await regbucketOk(['--store', ours, '--json', 'gc', '--min-age', '0', '--delete-untagged'])).json<{ lists: unknown; deleted: unknown }>();
    expect(real.deleted).toEqual(dry.planned);
    expect(real.lists).toEqual(dry.lists);
  });

  it('with the default --min-age (1h) deletes nothing from a store written just now', async () => {
    const ours = copyOf(pristine);
    const before = blobsIn(ours);
    const r = (await regbucketOk(['--store', ours, '--json', 'gc', '--delete-untagged'])).json<{ deleted: { blobs: number; manifests: number }; kept: { youngBlobs: number } }>();
    expect(r.deleted).toMatchObject({ blobs: 0, manifests: 0 });
    expect(r.kept.youngBlobs).toBeGreaterThan(0);
    expect(blobsIn(ours)).toEqual(before);
  });
});
