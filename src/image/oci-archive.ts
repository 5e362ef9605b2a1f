// OCI image layouts inside a tar file (`oci-archive:<file>[:<ref>]`), read and written as a stream:
// the archive is never unpacked. Reading indexes the tar once (src/image/tar-archive.ts) and serves
// blobs as byte ranges; writing streams blobs into a tar in a temp file next to the destination,
// index.json and oci-layout last, and renames it into place only when everything checked out.
import { randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { InvalidInputError, SizeMismatchError } from '../errors.js';
import { whenClosed } from '../util/write-stream.js';
import { algorithmOf, DigestingStream, hexOf, type AnyDigest } from './digest.js';
import { MAX_MANIFEST_BYTES, parseManifest, type BlobDescriptor, type Descriptor, type ParsedManifest } from './manifest.js';
import { refuseInsideStore } from './export-destination.js';
import { buildLayoutIndex, MAX_INDEX_BYTES, OciLayoutSource, parseLayoutIndex, refuseRetag, type OciIndex } from './oci-layout.js';
import { TarArchive, type TarEntry } from './tar-archive.js';
import type { BlobPutResult, ImageSink } from './transfer.js';

/** `blobs/<algorithm>/<hex>`, as the OCI layout spec files a blob (sha512 ones under `blobs/sha512`). */
export function blobEntryName(d: AnyDigest): string {
  return `blobs/${algorithmOf(d)}/${hexOf(d)}`;
}

export class OciArchiveSource extends OciLayoutSource {
  override readonly description: string;
  private archive?: Promise<TarArchive>;

  constructor(
    readonly file: string,
    ref?: string,
  ) {
    super(file, ref);
    this.description = `oci-archive:${file}${ref ? `:${ref}` : ''}`;
  }

  tar(): Promise<TarArchive> {
    this.archive ??= TarArchive.open(this.file);
    return this.archive;
  }

  override async index(): Promise<OciIndex> {
    const a = await this.tar();
    if (!a.lookup('index.json')) {
      throw new InvalidInputError(`${this.file} is not an OCI archive (no index.json at its top): create one with skopeo copy ... oci-archive:${this.file}:TAG`);
    }
    const raw = await a.read(a.file('index.json'), MAX_INDEX_BYTES, 'index.json');
    return parseLayoutIndex(raw, `index.json in ${this.file}`);
  }

  private async blob(desc: BlobDescriptor): Promise<TarEntry> {
    const a = await this.tar();
    const name = blobEntryName(desc.digest);
    if (!a.lookup(name)) throw new InvalidInputError(`blob ${desc.digest} is missing from the OCI archive ${this.file}: the archive is incomplete, export it again`);
    return a.file(name, `blob ${desc.digest}`);
  }

  override async getManifest(desc: Descriptor): Promise<Buffer> {
    const a = await this.tar();
    return a.read(await this.blob(desc), MAX_MANIFEST_BYTES, `manifest ${desc.digest}`);
  }

  override async checkBlob(desc: BlobDescriptor): Promise<void> {
    const e = await this.blob(desc);
    if (e.size !== desc.size) throw new SizeMismatchError(desc.digest, desc.size, e.size, `OCI archive ${this.file}`);
  }

  override async openBlob(desc: BlobDescriptor): Promise<Readable> {
    const a = await this.tar();
    return a.open(await this.blob(desc));
  }

  async close(): Promise<void> {
    if (this.archive) (await this.archive.catch(() => undefined))?.close();
  }
}

const MTIME = new Date(0);

/**
 * Writes an image layout as a tar stream into `<file>.<uuid>.tmp` beside the destination; commit()
 * appends index.json and oci-layout, flushes, syncs and renames it over the destination. Until
 * then nothing is visible at the destination; close() without commit removes the temp file.
 * Entries are written one at a time (a tar is sequential): concurrent putBlob calls queue, and each
 * opens its source only when its turn comes.
 */
export class TarLayoutSink implements ImageSink {
  readonly description: string;
  protected readonly written = new Set<string>();
  protected readonly named = new Map<string, Descriptor>();
  protected readonly unnamed: Descriptor[] = [];
  private pack?: tar.Pack;
  private out?: WriteStream;
  private finished?: Promise<void>;
  private tmp?: string;
  private queue: Promise<unknown> = Promise.resolve();
  private broken?: Error;
  private committed = false;

  constructor(
    readonly file: string,
    transport = 'oci-archive',
  ) {
    this.description = `${transport}:${file}`;
  }

  private async start(): Promise<tar.Pack> {
    if (this.pack) return this.pack;
    const dir = nodePath.dirname(this.file);
    const st = await fs.stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new InvalidInputError(`cannot write ${this.file}: directory ${dir} does not exist`);
    const existing = await fs.lstat(this.file).catch(() => undefined);
    if (existing && !existing.isFile()) throw new InvalidInputError(`cannot write ${this.file}: it exists and is not a regular file`);
    this.tmp = `${this.file}.${randomUUID()}.tmp`;
    this.pack = tar.pack();
    this.out = createWriteStream(this.tmp, { flags: 'wx', mode: 0o644, highWaterMark: 1 << 20 });
    this.finished = pipeline(this.pack, this.out);
    this.finished.catch((err: Error) => {
      this.broken ??= err;
    });
    for (const d of ['blobs', 'blobs/sha256']) this.pack.entry({ name: `${d}/`, type: 'directory', mode: 0o755, mtime: MTIME });
    return this.pack;
  }

  /** Runs `fn` when every earlier entry is written; a failure breaks the sink for good. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      if (this.broken) throw this.broken;
      try {
        return await fn();
      } catch (err) {
        this.broken ??= err as Error;
        throw err;
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  protected async writeEntry(name: string, size: number, data: Readable | Buffer, check?: BlobDescriptor): Promise<number> {
    const pack = await this.start();
    if (Buffer.isBuffer(data)) {
      await new Promise<void>((resolve, reject) => pack.entry({ name, size, mode: 0o644, mtime: MTIME }, data, (err) => (err ? reject(err) : resolve())));
      return data.length;
    }
    const hasher = new DigestingStream(check ? { digest: check.digest, size: check.size, where: `blob ${check.digest}` } : undefined);
    const entry = pack.entry({ name, size, mode: 0o644, mtime: MTIME });
    await pipeline(data, hasher, entry);
    if (check) hasher.check(check.digest, check.size, `blob ${check.digest}`);
    return hasher.bytes;
  }

  async putBlob(desc: BlobDescriptor, open: () => Promise<Readable>): Promise<BlobPutResult> {
    if (this.written.has(desc.digest)) return { uploaded: false, bytes: 0 };
    return this.serial(async () => {
      if (this.written.has(desc.digest)) return { uploaded: false, bytes: 0 };
      const bytes = await this.writeEntry(blobEntryName(desc.digest), desc.size, await open(), desc);
      this.written.add(desc.digest);
      return { uploaded: true, bytes };
    });
  }

  async hasManifest(desc: Descriptor): Promise<boolean> {
    return this.written.has(desc.digest);
  }

  async putManifest(desc: Descriptor, bytes: Buffer): Promise<number> {
    // A referrer (signature, SBOM) is listed in index.json, where readers of a layout find it.
    if (parseManifest(bytes).subject) this.addUnnamed(desc);
    if (this.written.has(desc.digest)) return 0;
    return this.serial(async () => {
      if (this.written.has(desc.digest)) return 0;
      await this.writeEntry(blobEntryName(desc.digest), bytes.length, bytes);
      this.written.add(desc.digest);
      return 1;
    });
  }

  /** Called by the copier with the root it will copy: a sink may refuse some (docker-archive: indexes). */
  checkRoot(_desc: Descriptor, _manifest: ParsedManifest): void {}

  /** An OCI archive files a sha512 blob under `blobs/sha512/`: every blob is taken. */
  refuseBlob(_desc: BlobDescriptor): void {}

  /** Refuses an archive inside the store being exported (its root directory). */
  async checkDestination(storeRoot?: string): Promise<void> {
    if (storeRoot) await refuseInsideStore(this.file, storeRoot, 'the archive');
  }

  async tag(name: string, desc: Descriptor): Promise<number> {
    refuseRetag(this.named, name, desc, this.description);
    this.named.set(name, desc);
    return 1;
  }

  addUnnamed(desc: Descriptor): void {
    if (!this.unnamed.some((u) => u.digest === desc.digest)) this.unnamed.push(desc);
  }

  protected indexJson(): string {
    return JSON.stringify(buildLayoutIndex(this.named, this.unnamed));
  }

  /** Extra top-level files written before index.json (docker-archive: manifest.json). */
  protected extraFiles(): [string, string][] {
    return [];
  }

  async commit(): Promise<void> {
    await this.serial(async () => {
      await this.start();
      const files: [string, string][] = [...this.extraFiles(), ['oci-layout', '{"imageLayoutVersion":"1.0.0"}'], ['index.json', this.indexJson()]];
      for (const [name, text] of files) {
        const b = Buffer.from(text);
        await this.writeEntry(name, b.length, b);
      }
      this.pack!.finalize();
      await this.finished;
      const fh = await fs.open(this.tmp!, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.rename(this.tmp!, this.file);
      this.committed = true;
    });
  }

  async close(): Promise<void> {
    if (this.committed || !this.tmp) return;
    this.pack?.destroy();
    this.out?.destroy();
    await this.finished?.catch(() => undefined);
    if (this.out) await whenClosed(this.out);
    await fs.rm(this.tmp, { force: true });
  }
}

export class OciArchiveSink extends TarLayoutSink {}
