// OCI image layout directories (`oci:<dir>[:<ref>]`): https://github.com/opencontainers/image-spec/blob/main/image-layout.md
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidInputError, SizeMismatchError } from '../errors.js';
import { whenClosed } from '../util/write-stream.js';
import { algorithmOf, DigestingStream, hexOf, refuseAliasBlob, type AnyDigest, type Digest } from './digest.js';
import { checkLayoutDestination, refuseInsideStore, withIndexLock } from './export-destination.js';
import { parseManifest, requiredBlobs, type BlobDescriptor, type Descriptor, type ParsedManifest } from './manifest.js';
import { MAX_MANIFEST_BYTES } from './manifest.js';
import { openInside, readBounded, type OpenedFile } from './local-files.js';
import type { BlobPutResult, ImageSink, ImageSource, SourceImage } from './transfer.js';
import { isMissingFile } from '../util/not-found.js';

export const REF_NAME = 'org.opencontainers.image.ref.name';
export const MAX_INDEX_BYTES = 64 * 1024 * 1024;

export interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/**
 * Reads and checks a layout's index.json; `undefined` when the directory has no layout. A
 * symlinked or special index.json, or one over MAX_INDEX_BYTES, is refused (exit 2).
 */
export async function readLayoutIndex(dir: string): Promise<OciIndex | undefined> {
  const f = await openInside(dir, 'index.json', 'the OCI layout index');
  if (!f) return undefined;
  const raw = await readBounded(f, `${dir}/index.json`, MAX_INDEX_BYTES);
  return parseLayoutIndex(raw, `${dir}/index.json`);
}

/** Parses index.json bytes (from a directory or an archive). */
export function parseLayoutIndex(raw: Buffer, where: string): OciIndex {
  const parsed = parseManifest(raw, where);
  if (parsed.kind !== 'index') throw new InvalidInputError(`${where} is not an image index`);
  return { ...(JSON.parse(raw.toString('utf8')) as OciIndex), manifests: parsed.manifests };
}

/**
 * Opens `blobs/<algorithm>/<hex>` (sha256, or sha384/sha512 as the OCI layout spec files them) without following a symlink anywhere on the way, and only a regular
 * file: a layout from an untrusted archive must not make us read files outside it or block on a FIFO.
 */
async function openLayoutBlob(root: string, digest: AnyDigest): Promise<OpenedFile> {
  const f = await openInside(root, `blobs/${algorithmOf(digest)}/${hexOf(digest)}`, `blob ${digest} of the OCI layout`);
  if (!f) throw new InvalidInputError(`blob ${digest} is missing from the OCI layout ${root}: the layout is incomplete, export it again`);
  return f;
}

/** Two different images under one name: skopeo would take one, a bundle import the other; refused, naming both. */
export function refuseAmbiguous(images: SourceImage[], where: string): void {
  const byName = new Map<string, SourceImage>();
  for (const img of images) {
    if (img.name === undefined) continue;
    const prev = byName.get(img.name);
    if (prev && prev.descriptor.digest !== img.descriptor.digest) {
      throw new InvalidInputError(
        `${where} names two different images ${JSON.stringify(img.name)}: ${prev.descriptor.digest} and ${img.descriptor.digest}; refusing to pick one (remove or rename one of them)`,
      );
    }
    byName.set(img.name, img);
  }
}

export class OciLayoutSource implements ImageSource {
  readonly description: string;
  private subjectsOnce?: Promise<{ bySubject: Map<string, Descriptor[]>; referrerDigests: Set<string> }>;

  constructor(
    readonly dir: string,
    private readonly ref?: string,
  ) {
    this.description = `oci:${dir}${ref ? `:${ref}` : ''}`;
  }

  async index(): Promise<OciIndex> {
    const idx = await readLayoutIndex(this.dir);
    if (!idx) throw new InvalidInputError(`${this.dir} is not an OCI image layout (no index.json): create one with skopeo copy ... oci:${this.dir}:TAG or umoci init`);
    return idx;
  }

  /** With a ref: the entries named so. Without: every named entry, or the only entry. */
  async images(): Promise<SourceImage[]> {
    const idx = await this.index();
    const entries = idx.manifests.map((m) => ({ name: m.annotations?.[REF_NAME], descriptor: m }));
    if (this.ref) {
      const hit = entries.filter((e) => e.name === this.ref);
      if (hit.length === 0) {
        const names = entries.map((e) => e.name).filter(Boolean);
        throw new InvalidInputError(`no image named ${JSON.stringify(this.ref)} in ${this.dir}: it has ${names.length ? names.join(', ') : 'no named images'}`);
      }
      refuseAmbiguous(hit, this.dir);
      return hit.slice(0, 1);
    }
    const subjects = await this.subjects();
    const roots = entries.filter((e) => !subjects.referrerDigests.has(e.descriptor.digest));
    if (roots.length === 0) throw new InvalidInputError(`the OCI layout ${this.dir} holds no image`);
    refuseAmbiguous(
      roots.filter((e) => e.name !== undefined),
      this.dir,
    );
    return roots;
  }

  /**
   * Which entries of index.json are referrers of which subject: every manifest is read once (a
   * layout with thousands of signatures is one pass, not one per image).
   */
  private subjects(): Promise<{ bySubject: Map<string, Descriptor[]>; referrerDigests: Set<string> }> {
    this.subjectsOnce ??= (async () => {
      const bySubject = new Map<string, Descriptor[]>();
      const referrerDigests = new Set<string>();
      const seen = new Map<string, Digest | undefined>();
      for (const d of (await this.index()).manifests) {
        if (!seen.has(d.digest)) seen.set(d.digest, await this.subjectOf(d));
        const s = seen.get(d.digest);
        if (s === undefined) continue;
        referrerDigests.add(d.digest);
        const list = bySubject.get(s) ?? [];
        list.push(d);
        bySubject.set(s, list);
      }
      return { bySubject, referrerDigests };
    })();
    return this.subjectsOnce;
  }

  private async subjectOf(d: Descriptor): Promise<Digest | undefined> {
    if (d.size > 4 * 1024 * 1024) return undefined;
    try {
      return parseManifest(await this.getManifest(d)).subject?.digest;
    } catch {
      return undefined;
    }
  }

  async referrers(subject: Descriptor): Promise<Descriptor[]> {
    return (await this.subjects()).bySubject.get(subject.digest) ?? [];
  }

  async getManifest(desc: Descriptor): Promise<Buffer> {
    return readBounded(await openLayoutBlob(this.dir, desc.digest), `manifest ${desc.digest} in ${this.dir}`, MAX_MANIFEST_BYTES);
  }

  async checkBlob(desc: BlobDescriptor): Promise<void> {
    const f = await openLayoutBlob(this.dir, desc.digest);
    try {
      if (f.size !== desc.size) throw new SizeMismatchError(desc.digest, desc.size, f.size, `OCI layout ${this.dir}`);
    } finally {
      await f.fh.close();
    }
  }

  async openBlob(desc: BlobDescriptor): Promise<Readable> {
    const f = await openLayoutBlob(this.dir, desc.digest);
    return f.fh.createReadStream({ highWaterMark: 1 << 20 });
  }
}

/**
 * Writes an OCI image layout. Blobs land at their final name only after their digest checked out
 * (temp file + rename); index.json is rewritten atomically at commit(), merged with what the layout
 * already holds (an entry with the same ref name is replaced).
 */
export interface LayoutSinkOptions {
  /** Re-hash blobs the layout has already (with the right size) and replace corrupt ones. */
  repair?: boolean;
}

export class OciLayoutSink implements ImageSink {
  readonly description: string;
  private readonly named = new Map<string, Descriptor>();
  private readonly unnamed: Descriptor[] = [];
  private checked?: Promise<void>;
  private blobsDir?: Promise<string | undefined>;

  constructor(
    readonly dir: string,
    private readonly opts: LayoutSinkOptions = {},
  ) {
    this.description = `oci:${dir}`;
  }

  /** Refuses a layout inside the store being exported (its root directory). */
  async checkDestination(storeRoot?: string): Promise<void> {
    if (storeRoot) await refuseInsideStore(this.dir, storeRoot, 'the OCI layout');
    await this.prepare();
  }

  /** Before the first write: nothing in the layout is a symlink or of the wrong file type. */
  private prepare(): Promise<void> {
    this.checked ??= checkLayoutDestination(this.dir);
    return this.checked;
  }

  private blobPath(d: AnyDigest): string {
    return nodePath.join(this.dir, 'blobs', algorithmOf(d), hexOf(d));
  }

  /** `blobs/sha256/` made once per sink, not once per blob. */
  private ensureBlobsDir(): Promise<string | undefined> {
    this.blobsDir ??= fs.mkdir(nodePath.join(this.dir, 'blobs', 'sha256'), { recursive: true });
    return this.blobsDir;
  }

  /**
   * The layout's copy of a blob: absent, or there as a regular file with the descriptor's size
   * (and with `repair`, bytes that hash to its digest), or damaged (then it is written again:
   * a layout pulled into before is checked, not trusted).
   */
  private async state(desc: Pick<BlobDescriptor, 'digest' | 'size'>): Promise<'absent' | 'intact' | 'wrong-size' | 'corrupt'> {
    let st;
    try {
      st = await fs.lstat(this.blobPath(desc.digest));
    } catch (err) {
      if (isMissingFile(err)) return 'absent';
      throw err;
    }
    if (!st.isFile()) {
      throw new InvalidInputError(`${this.blobPath(desc.digest)} in the OCI layout ${this.dir} is not a regular file (symlinks are not followed): remove it and pull again`);
    }
    if (desc.size >= 0 && st.size !== desc.size) return 'wrong-size';
    if (this.opts.repair && (await hashFile(this.blobPath(desc.digest))) !== desc.digest) return 'corrupt';
    return 'intact';
  }

  refuseBlob(desc: BlobDescriptor): void {
    refuseAliasBlob(desc.digest, `the OCI layout ${this.dir}`);
  }

  async putBlob(desc: BlobDescriptor, open: () => Promise<Readable>): Promise<BlobPutResult> {
    await this.prepare();
    const state = await this.state(desc);
    if (state === 'intact') return { uploaded: false, bytes: 0 };
    await this.ensureBlobsDir();
    const final = this.blobPath(desc.digest);
    const tmp = `${final}.${randomUUID()}.tmp`;
    const hasher = new DigestingStream({ digest: desc.digest, size: desc.size, where: `blob ${desc.digest}` });
    const out = createWriteStream(tmp, { highWaterMark: 1 << 20 });
    try {
      await pipeline(await open(), hasher, out);
      hasher.check(desc.digest, desc.size, `blob ${desc.digest}`);
      await fs.rename(tmp, final);
      return state === 'absent' ? { uploaded: true, bytes: hasher.bytes } : { uploaded: true, bytes: hasher.bytes, replaced: state };
    } catch (err) {
      if (!out.destroyed) out.destroy();
      await whenClosed(out);
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  /** The manifest intact here, and for an image manifest every blob it needs with its size. */
  async hasManifest(desc: Descriptor, manifest: ParsedManifest): Promise<boolean> {
    if (this.opts.repair) return false;
    if ((await this.state(desc)) !== 'intact') return false;
    for (const b of requiredBlobs(manifest)) if ((await this.state(b)) !== 'intact') return false;
    return true;
  }

  async putManifest(desc: Descriptor, bytes: Buffer): Promise<number> {
    // A referrer (signature, SBOM) is listed in index.json, where readers of a layout find it.
    if (parseManifest(bytes).subject) this.addUnnamed(desc);
    await this.prepare();
    if ((await this.state({ digest: desc.digest, size: bytes.length })) === 'intact') return 0;
    await this.ensureBlobsDir();
    const final = this.blobPath(desc.digest);
    const tmp = `${final}.${randomUUID()}.tmp`;
    await fs.writeFile(tmp, bytes, { flag: 'wx' });
    await fs.rename(tmp, final);
    return 1;
  }

  async tag(name: string, desc: Descriptor): Promise<number> {
    refuseRetag(this.named, name, desc, this.description);
    this.named.set(name, desc);
    return 1;
  }

  /** An image without a name (pulled by digest) is still listed in index.json. */
  addUnnamed(desc: Descriptor): void {
    if (!this.unnamed.some((u) => u.digest === desc.digest)) this.unnamed.push(desc);
  }

  async commit(): Promise<void> {
    await this.prepare();
    await fs.mkdir(this.dir, { recursive: true });
    // Read, merge and write index.json under the layout's lock: concurrent pulls keep every entry.
    await withIndexLock(this.dir, () => this.mergeIndex());
  }

  private async mergeIndex(): Promise<void> {
    await checkLayoutDestination(this.dir);
    const existing = (await readLayoutIndex(this.dir)) ?? { schemaVersion: 2 as const, manifests: [] };
    const keep = existing.manifests.filter((m) => {
      const n = m.annotations?.[REF_NAME];
      if (n !== undefined) return !this.named.has(n);
      return !this.unnamed.some((u) => u.digest === m.digest);
    });
    await writeAtomic(nodePath.join(this.dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeAtomic(nodePath.join(this.dir, 'index.json'), JSON.stringify(buildLayoutIndex(this.named, this.unnamed, keep)));
  }
}

/** A layout's index.json: the entries it `keep`s, then each named image (its ref.name annotation), then each unnamed one. */
export function buildLayoutIndex(named: ReadonlyMap<string, Descriptor>, unnamed: readonly Descriptor[], keep: readonly Descriptor[] = []): OciIndex {
  const entry = (d: Descriptor): Descriptor => ({ mediaType: d.mediaType, digest: d.digest, size: d.size });
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [...keep, ...[...named].map(([name, d]) => ({ ...entry(d), annotations: { [REF_NAME]: name } })), ...unnamed.map(entry)],
  };
}

/** One image per name in a destination: a second, different image under a name already written is refused. */
export function refuseRetag(named: Map<string, Descriptor>, name: string, desc: Descriptor, where: string): void {
  const prev = named.get(name);
  if (prev && prev.digest !== desc.digest) {
    throw new InvalidInputError(`two different images would be named ${JSON.stringify(name)} in ${where}: ${prev.digest} and ${desc.digest}; refusing to keep only one`);
  }
}

/** sha256 of a file's bytes, streamed. */
async function hashFile(path: string): Promise<Digest> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

async function writeAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.${randomUUID()}.tmp`;
  await fs.writeFile(tmp, data, { flag: 'wx' });
  await fs.rename(tmp, path);
}
