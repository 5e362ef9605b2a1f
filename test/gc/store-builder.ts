// Builds stores for gc tests with the storage-layout core: images, indexes, referrers, orphans.
import { Readable } from 'node:stream';
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { StorageDriver } from '../../src/drivers/driver.js';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import { MemoryDriver } from '../../src/drivers/memory.js';
import { sha256, type Digest } from '../../src/image/digest.js';
import { putBlobContent, uploadBlob } from '../../src/store/blobs.js';
import { putManifest } from '../../src/store/manifests.js';
import { tagManifest } from '../../src/store/tags.js';
import { tempDir } from '../lab/tools.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

export interface Desc {
  mediaType: string;
  digest: Digest;
  size: number;
}

export interface Img {
  manifest: Desc;
  config: Desc;
  layers: Desc[];
}

let seq = 0;

export async function blob(d: StorageDriver, repo: string, bytes: Buffer, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip'): Promise<Desc> {
  await uploadBlob(d, repo, { digest: sha256(bytes), size: bytes.length }, async () => Readable.from([bytes]));
  return { mediaType, digest: sha256(bytes), size: bytes.length };
}

export async function orphan(d: StorageDriver, bytes = Buffer.from(`orphan ${++seq} ${Math.random()}`)): Promise<Digest> {
  await putBlobContent(d, sha256(bytes), bytes);
  return sha256(bytes);
}

export async function manifest(d: StorageDriver, repo: string, body: object, tag?: string): Promise<Desc> {
  const bytes = Buffer.from(JSON.stringify(body));
  const { digest } = await putManifest(d, repo, bytes);
  if (tag) await tagManifest(d, repo, tag, digest);
  return { mediaType: (body as { mediaType: string }).mediaType, digest, size: bytes.length };
}

export interface ImageSpec {
  tag?: string;
  /** Layers given as bytes (shared between images when the same bytes are given). */
  layers?: Buffer[];
  docker?: boolean;
  subject?: Desc;
  artifactType?: string;
}

export async function image(d: StorageDriver, repo: string, spec: ImageSpec = {}): Promise<Img> {
  const n = ++seq;
  const config = await blob(
    d,
    repo,
    Buffer.from(`{"architecture":"amd64","os":"linux","n":${n}}`),
    spec.docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json',
  );
  const layers: Desc[] = [];
  for (const l of spec.layers ?? [Buffer.from(`layer ${n} ${Math.random()}`)]) layers.push(await blob(d, repo, l, spec.docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : undefined));
  const m = await manifest(
    d,
    repo,
    {
      schemaVersion: 2,
      mediaType: spec.docker ? DOCKER_MANIFEST : OCI_MANIFEST,
      ...(spec.artifactType ? { artifactType: spec.artifactType } : {}),
      config,
      layers,
      ...(spec.subject ? { subject: spec.subject } : {}),
    },
    spec.tag,
  );
  return { manifest: m, config, layers };
}

export async function index(d: StorageDriver, repo: string, children: Img[], tag?: string, docker = false): Promise<Desc> {
  return manifest(
    d,
    repo,
    {
      schemaVersion: 2,
      mediaType: docker ? DOCKER_LIST : OCI_INDEX,
      manifests: children.map((c, i) => ({ ...c.manifest, platform: { os: 'linux', architecture: ['amd64', 'arm64', 's390x'][i % 3] } })),
    },
    tag,
  );
}

/** A store on each backend: memory (flat listings, as S3) and a directory (tree listings). */
export interface TestStore {
  d: StorageDriver;
  kind: 'memory' | 'filesystem';
  /** Sets a file's modification time. */
  age(path: string, when: Date): Promise<void>;
  files(): Promise<string[]>;
}

export function memoryStore(): TestStore {
  const d = new MemoryDriver();
  return {
    d,
    kind: 'memory',
    age: async (p, when) => d.setModTime(p, when),
    files: async () => {
      const out: string[] = [];
      for await (const f of d.walk('/')) out.push(f.path);
      return out.sort();
    },
  };
}

export function filesystemStore(root = tempDir('regbucket-gc-')): TestStore {
  const d = new FilesystemDriver(root);
  return {
    d,
    kind: 'filesystem',
    age: (p, when) => utimes(join(root, ...p.slice(1).split('/')), when, when),
    files: async () => {
      const out: string[] = [];
      for await (const f of d.walk('/')) out.push(f.path);
      return out.sort();
    },
  };
}

export const STORES: [string, () => TestStore][] = [
  ['memory (flat listings)', memoryStore],
  ['filesystem (tree listings)', filesystemStore],
];
