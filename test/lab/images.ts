// Generates real images (gzip'd tar layers, configs with diff_ids, manifests, indexes) into an
// OCI image layout, with no external tool. Used by tests, benchmarks and the example.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  bytes: Buffer;
}

export interface GenImage {
  /** Ref name annotation in index.json. */
  ref?: string;
  /** One platform (an image manifest) or several (an index of them). */
  platforms?: string[];
  layers?: number;
  layerSize?: number;
  /** Docker schema2 media types instead of OCI. */
  docker?: boolean;
  /** Layers to include first (shared between images). */
  sharedLayers?: Buffer[];
}

const OCI = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
};
const DOCKER = {
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  index: 'application/vnd.docker.distribution.manifest.list.v2+json',
  config: 'application/vnd.docker.container.image.v1+json',
  layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
};

export function digestOf(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** The digest an OCI layout's index.json gives for `org.opencontainers.image.ref.name` = ref. */
export function refDigest(dir: string, ref: string): string {
  const idx = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const m = idx.manifests.find((e) => e.annotations?.['org.opencontainers.image.ref.name'] === ref);
  if (!m) throw new Error(`no ${ref} in ${dir}`);
  return m.digest;
}

/** A tar with one file of `size` random bytes (incompressible: gzip keeps the size). */
export async function makeLayerTar(size: number, name = `file-${randomBytes(4).toString('hex')}.bin`): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => {
      chunks.push(c as Buffer);
    });
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  pack.entry({ name, size, mode: 0o644, mtime: new Date(0) }, randomBytes(size));
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export class LayoutWriter {
  readonly blobs = new Map<string, Blob>();
  readonly entries: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[] = [];

  constructor(readonly dir: string) {}

  add(mediaType: string, bytes: Buffer): Blob {
    const b = { mediaType, digest: digestOf(bytes), size: bytes.length, bytes };
    this.blobs.set(b.digest, b);
    return b;
  }

  desc(b: Blob, extra: Record<string, unknown> = {}) {
    return { mediaType: b.mediaType, digest: b.digest, size: b.size, ...extra };
  }

  async image(spec: GenImage): Promise<Blob> {
    const mt = spec.docker ? DOCKER : OCI;
    const platforms = spec.platforms ?? ['linux/amd64'];
    const children: Blob[] = [];
    for (const p of platforms) {
      const [os, architecture, variant] = p.split('/');
      const tars = [...(spec.sharedLayers ?? [])];
      for (let i = 0; i < (spec.layers ?? 2); i++) tars.push(await makeLayerTar(spec.layerSize ?? 1024));
      const layers = tars.map((t) => this.add(mt.layer, gzipSync(t, { level: 1 })));
      const config = this.add(
        mt.config,
        Buffer.from(
          JSON.stringify({
            architecture,
            os,
            ...(variant ? { variant } : {}),
            config: { Env: ['PATH=/usr/bin'] },
            rootfs: { type: 'layers', diff_ids: tars.map(digestOf) },
            history: tars.map(() => ({ created_by: 'regbucket test', created: '2026-01-01T00:00:00Z' })),
          }),
        ),
      );
      const manifest = {
        schemaVersion: 2,
        mediaType: mt.manifest,
        config: this.desc(config),
        layers: layers.map((l) => this.desc(l)),
      };
      const mb = this.add(mt.manifest, Buffer.from(JSON.stringify(manifest)));
      children.push(Object.assign(mb, { platform: { os, architecture, ...(variant ? { variant } : {}) } }));
    }
    let root: Blob;
    if (platforms.length === 1 && !spec.platforms) root = children[0]!;
    else {
      const index = {
        schemaVersion: 2,
        mediaType: mt.index,
        manifests: children.map((c) => this.desc(c, { platform: (c as Blob & { platform: unknown }).platform })),
      };
      root = this.add(mt.index, Buffer.from(JSON.stringify(index)));
    }
    this.entries.push({ ...this.desc(root), ...(spec.ref ? { annotations: { 'org.opencontainers.image.ref.name': spec.ref } } : {}) });
    return root;
  }

  /** An OCI 1.1 artifact (e.g. a signature) whose subject is `subject`. */
  referrer(subject: Blob, artifactType = 'application/vnd.example.signature'): Blob {
    const empty = this.add('application/vnd.oci.empty.v1+json', Buffer.from('{}'));
    const payload = this.add('application/vnd.example.payload', randomBytes(64));
    const m = {
      schemaVersion: 2,
      mediaType: OCI.manifest,
      artifactType,
      config: this.desc(empty),
      layers: [this.desc(payload)],
      subject: this.desc(subject),
    };
    const mb = this.add(OCI.manifest, Buffer.from(JSON.stringify(m)));
    this.entries.push(this.desc(mb));
    return mb;
  }

  write(): void {
    mkdirSync(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(this.dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    for (const b of this.blobs.values()) {
      const p = join(this.dir, 'blobs', 'sha256', b.digest.slice(7));
      if (!existsSync(p)) writeFileSync(p, b.bytes);
    }
    let prior: { manifests: unknown[] } = { manifests: [] };
    if (existsSync(join(this.dir, 'index.json'))) prior = JSON.parse(readFileSync(join(this.dir, 'index.json'), 'utf8'));
    writeFileSync(join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI.index, manifests: [...prior.manifests, ...this.entries] }));
  }
}

/** One-call helper: a layout at `dir` holding the given images. */
export async function makeLayout(dir: string, images: GenImage[]): Promise<{ roots: Blob[]; writer: LayoutWriter }> {
  const w = new LayoutWriter(dir);
  const roots: Blob[] = [];
  for (const spec of images) roots.push(await w.image(spec));
  w.write();
  return { roots, writer: w };
}
