// Random access into a tar file without unpacking it (oci-archive:, docker-archive:).
// One pass over the archive builds an index name -> (offset, size); afterwards an entry of an
// uncompressed tar is a byte range of the file (fs read streams with start/end: random access,
// bounded memory). A gzip-compressed tar cannot be seeked: the pass keeps small entries (JSON
// metadata, manifests) in memory up to a budget, and big entries are served by one shared
// decompression cursor that moves forward through the archive, taking waiting requests in
// offset order and starting over only when a request lies behind it.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { InvalidInputError } from '../errors.js';
import type { Digest } from './digest.js';

export interface TarEntry {
  /** Normalized name: no leading `./`, no trailing `/`. */
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'link';
  /** Byte offset of the entry's data in the (uncompressed) tar stream. */
  offset: number;
  size: number;
  /** Link target, normalized to a name inside the archive (symlinks resolved against their directory). */
  target?: string;
  /** First bytes of the data (compression sniffing without another read). */
  head: Buffer;
  /** sha256 of the data, when the pass was asked to hash. */
  digest?: Digest;
}

export interface TarOpenOptions {
  /** Hash every file's data during the pass when the archive is gzip-compressed (it cannot be re-read cheaply). */
  hashWhenGzip?: boolean;
}

const MAX_NAME = 4096;
const MAX_COMPONENT = 255;
const MAX_ENTRIES = 1_000_000;
const SMALL_ENTRY = 4 * 1024 * 1024;
const SMALL_BUDGET = 64 * 1024 * 1024;
const MAX_LINK_HOPS = 16;

function bad(archive: string, why: string): InvalidInputError {
  return new InvalidInputError(`${archive} is not a usable archive: ${why}`);
}

/** Checks a member name and normalizes it; throws for anything that could name a path outside. */
export function normalizeEntryName(raw: string, archive: string): string {
  const shown = JSON.stringify(raw.length > 120 ? `${raw.slice(0, 120)}...` : raw);
  if (raw.includes('\0')) throw bad(archive, `entry name ${shown} contains a NUL byte`);
  if (raw.length > MAX_NAME) throw bad(archive, `entry name of ${raw.length} characters (${shown}) is longer than ${MAX_NAME}`);
  if (raw.startsWith('/')) throw bad(archive, `entry ${shown} has an absolute name`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw bad(archive, `entry ${shown} climbs out of the archive with ..`);
  if (parts.some((p) => p.length > MAX_COMPONENT)) throw bad(archive, `entry ${shown} has a name component longer than ${MAX_COMPONENT}`);
  return parts.join('/');
}

/** A link target as a name inside the archive; throws if it points outside. */
function linkTarget(entry: string, type: 'symlink' | 'link', raw: string, archive: string): string {
  if (raw.includes('\0')) throw bad(archive, `link ${JSON.stringify(entry)} has a target containing a NUL byte`);
  if (raw.startsWith('/')) throw bad(archive, `link ${JSON.stringify(entry)} points at the absolute path ${JSON.stringify(raw)}`);
  // Hard links name a member from the archive root; symlinks are relative to their directory.
  const base = type === 'symlink' ? nodePath.posix.dirname(entry) : '.';
  const joined = nodePath.posix.normalize(nodePath.posix.join(base, raw));
  if (joined === '..' || joined.startsWith('../') || joined.startsWith('/')) {
    throw bad(archive, `link ${JSON.stringify(entry)} points outside the archive (${JSON.stringify(raw)})`);
  }
  return normalizeEntryName(joined, archive);
}

function describeTarError(err: unknown, archive: string, gzip: boolean): Error {
  if (err instanceof InvalidInputError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return new InvalidInputError(`${archive} does not exist`);
  if (e.code === 'EISDIR') return new InvalidInputError(`${archive} is a directory, not an archive file`);
  if (e.code === 'EACCES') return new InvalidInputError(`${archive} cannot be read (permission denied)`);
  if (typeof e.code === 'string' && e.code.startsWith('Z_')) return bad(archive, `the gzip stream is corrupt or truncated (${e.message})`);
  const msg = String(e.message ?? err);
  if (/unexpected end/i.test(msg)) return bad(archive, `the tar stream ends in the middle of an entry (truncated)`);
  if (/invalid tar header|invalid header/i.test(msg)) {
    return bad(archive, gzip ? 'invalid tar header inside the gzip stream' : 'invalid tar header (not a tar file, or corrupt)');
  }
  return bad(archive, msg.split('\n')[0]!);
}

export class TarArchive {
  readonly entries = new Map<string, TarEntry>();
  private readonly small = new Map<string, Buffer>();
  private cursor?: GzipCursor;

  private constructor(
    readonly path: string,
    readonly gzip: boolean,
    private readonly fileSize: number,
  ) {}

  /** Indexes the archive at `path` in one pass. Refuses names or links that could reach outside it. */
  static async open(path: string, opts: TarOpenOptions = {}): Promise<TarArchive> {
    let gzip = false;
    let size = 0;
    try {
      const fh = await fs.open(path, 'r');
      try {
        const st = await fh.stat();
        if (!st.isFile()) throw new InvalidInputError(`${path} is not a regular file`);
        size = st.size;
        const magic = Buffer.alloc(2);
        await fh.read(magic, 0, 2, 0);
        gzip = magic[0] === 0x1f && magic[1] === 0x8b;
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw describeTarError(err, path, false);
    }
    if (size === 0) throw bad(path, 'the file is empty');
    const a = new TarArchive(path, gzip, size);
    try {
      if (gzip) await a.index(opts);
      else await a.indexHeaders();
    } catch (err) {
      throw describeTarError(err, path, gzip);
    }
    return a;
  }

  private async index(opts: TarOpenOptions): Promise<void> {
    const extract = tar.extract();
    let smallBytes = 0;
    let count = 0;
    extract.on('entry', (header, stream, next) => {
      // The entry stream errors when the whole extract is destroyed: the pipeline reports that once.
      stream.on('error', () => undefined);
      const fail = (err: Error): void => {
        stream.resume();
        next(err);
      };
      try {
        if (++count > MAX_ENTRIES) throw bad(this.path, `more than ${MAX_ENTRIES} entries`);
        const offset = (header as { byteOffset?: number }).byteOffset;
        if (typeof offset !== 'number' || offset < 512 || offset % 512 !== 0) throw bad(this.path, `cannot locate the data of entry ${JSON.stringify(header.name)}`);
        const size = header.size ?? 0;
        const entry = this.add(header.name, header.type ?? 'file', offset, size, header.linkname ?? '');
        const { name, type } = entry;
        const keep = type === 'file' && size <= SMALL_ENTRY && smallBytes + size <= SMALL_BUDGET;
        if (keep) smallBytes += size;
        const hash = type === 'file' && opts.hashWhenGzip ? createHash('sha256') : undefined;
        const chunks: Buffer[] = [];
        let headBytes = 0;
        stream.on('data', (c: unknown) => {
          if (!Buffer.isBuffer(c)) return;
          if (headBytes < 8) {
            entry.head = Buffer.concat([entry.head, c.subarray(0, 8 - headBytes)]);
            headBytes = entry.head.length;
          }
          hash?.update(c);
          if (keep) chunks.push(c);
        });
        stream.on('end', () => {
          if (hash) entry.digest = `sha256:${hash.digest('hex')}`;
          if (keep) this.small.set(name, Buffer.concat(chunks));
          next();
        });
      } catch (err) {
        fail(err as Error);
      }
    });
    await pipeline(createReadStream(this.path, { highWaterMark: 1 << 20 }), createGunzip(), extract);
    if (count === 0) throw bad(this.path, 'it holds no entries');
  }

  /** Checks one member and records it; throws for anything that could reach outside the archive. */
  private add(rawName: string, rawType: string, offset: number, size: number, linkname: string): TarEntry {
    const type = rawType === 'contiguous-file' ? 'file' : rawType;
    const name = normalizeEntryName(rawName, this.path);
    if (type !== 'file' && type !== 'directory' && type !== 'symlink' && type !== 'link') {
      throw bad(this.path, `entry ${JSON.stringify(name)} is a ${type}: only files, directories and links belong in an image archive`);
    }
    if (!this.gzip && offset + size > this.fileSize) {
      throw bad(this.path, `entry ${JSON.stringify(name)} claims ${size} bytes but the file ends first (truncated, or the size lies)`);
    }
    const entry: TarEntry = { name, type, offset, size: type === 'file' ? size : 0, head: Buffer.alloc(0) };
    if (type === 'symlink' || type === 'link') entry.target = linkTarget(name, type, linkname, this.path);
    if (type !== 'directory' && this.entries.has(name) && this.entries.get(name)!.type !== 'directory') {
      throw bad(this.path, `entry ${JSON.stringify(name)} appears twice: refusing an ambiguous archive`);
    }
    if (name !== '') this.entries.set(name, entry);
    return entry;
  }

  /**
   * An uncompressed tar is indexed by reading its headers only: each header gives the size of the
   * data that follows, so the next header's offset is known and the data is never read. The
   * formats: ustar (with prefix), PAX extended headers (path, linkpath, size) and GNU long names.
   */
  private async indexHeaders(): Promise<void> {
    const fh = await fs.open(this.path, 'r');
    try {
      const win = new ReadWindow(fh, this.fileSize);
      let off = 0;
      let count = 0;
      let pax: Record<string, string> = {};
      let longName: string | undefined;
      let longLink: string | undefined;
      while (off < this.fileSize) {
        const h = await win.read(off, 512);
        if (h.length < 512) throw bad(this.path, 'the tar stream ends in the middle of a header (truncated)');
        if (h.every((b) => b === 0)) break;
        if (!checksumOk(h)) throw bad(this.path, 'invalid tar header (not a tar file, or corrupt)');
        const flag = String.fromCharCode(h[156]!);
        let size = parseSize(h.subarray(124, 136));
        if (size === undefined) throw bad(this.path, `invalid size field in the tar header at offset ${off}`);
        const dataOff = off + 512;
        if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
          if (size > 1 << 20) throw bad(this.path, `an extended header of ${size} bytes at offset ${off}: refusing more than 1 MiB`);
          const data = await win.read(dataOff, size);
          if (data.length < size) throw bad(this.path, 'the tar stream ends in the middle of an extended header (truncated)');
          if (flag === 'x') pax = { ...pax, ...parsePax(data, this.path) }; // 'g' (global) carries nothing we use
          if (flag === 'L') longName = cString(data);
          if (flag === 'K') longLink = cString(data);
          off = dataOff + Math.ceil(size / 512) * 512;
          continue;
        }
        if (++count > MAX_ENTRIES) throw bad(this.path, `more than ${MAX_ENTRIES} entries`);
        let name = longName ?? pax.path;
        if (name === undefined) {
          name = cString(h.subarray(0, 100));
          const prefix = h.toString('latin1', 257, 262) === 'ustar' ? cString(h.subarray(345, 500)) : '';
          if (prefix) name = `${prefix}/${name}`;
        }
        const linkname = longLink ?? pax.linkpath ?? cString(h.subarray(157, 257));
        if (pax.size !== undefined) {
          if (!/^\d{1,15}$/.test(pax.size)) throw bad(this.path, `invalid PAX size ${JSON.stringify(pax.size)}`);
          size = Number(pax.size);
        }
        pax = {};
        longName = longLink = undefined;
        const entry = this.add(name, TYPES[flag] ?? `member of tar type ${JSON.stringify(flag)}`, dataOff, size, linkname);
        if (entry.type === 'file' && size > 0) entry.head = Buffer.from(await win.read(dataOff, Math.min(8, size)));
        // As tar-stream does: a directory's size field is ignored, any other member is followed by its data.
        off = dataOff + (entry.type === 'directory' ? 0 : Math.ceil(size / 512) * 512);
      }
      if (count === 0) throw bad(this.path, 'it holds no entries');
    } finally {
      await fh.close();
    }
  }

  /** The regular-file entry `name` names, following links inside the archive. */
  file(name: string, what = 'entry'): TarEntry {
    let n = normalizeEntryName(name, this.path);
    for (let hops = 0; hops <= MAX_LINK_HOPS; hops++) {
      const e = this.entries.get(n);
      if (!e) throw new InvalidInputError(`${what} ${JSON.stringify(name)} is missing from ${this.path}: the archive is incomplete`);
      if (e.type === 'file') return e;
      if (e.type === 'directory') throw new InvalidInputError(`${what} ${JSON.stringify(name)} in ${this.path} is a directory, not a file`);
      n = e.target!;
    }
    throw new InvalidInputError(`${what} ${JSON.stringify(name)} in ${this.path}: more than ${MAX_LINK_HOPS} links in a row (a link loop)`);
  }

  has(name: string): boolean {
    try {
      this.file(name);
      return true;
    } catch {
      return false;
    }
  }

  /** Reads a small entry whole (metadata, manifests); refuses entries over `max` bytes. */
  async read(entry: TarEntry, max: number, what: string): Promise<Buffer> {
    if (entry.size > max) throw new InvalidInputError(`${what} in ${this.path} is ${entry.size} bytes: refusing more than ${max}`);
    const cached = this.small.get(entry.name);
    if (cached) return cached;
    const chunks: Buffer[] = [];
    for await (const c of await this.open(entry)) chunks.push(c as Buffer);
    const out = Buffer.concat(chunks);
    if (out.length !== entry.size) throw bad(this.path, `entry ${JSON.stringify(entry.name)} is shorter than its header says (truncated)`);
    return out;
  }

  /** The entry's data as a stream. */
  async open(entry: TarEntry): Promise<Readable> {
    if (entry.size === 0) return Readable.from([]);
    const cached = this.small.get(entry.name);
    if (cached) return Readable.from([cached]);
    if (!this.gzip) {
      return createReadStream(this.path, { start: entry.offset, end: entry.offset + entry.size - 1, highWaterMark: 1 << 20 });
    }
    this.cursor ??= new GzipCursor(this.path);
    return this.cursor.request(entry);
  }

  close(): void {
    this.cursor?.close();
  }
}

const TYPES: Record<string, string> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'character-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
};

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.toString('utf8', 0, end < 0 ? b.length : end);
}

/** The header checksum: the byte sum with the checksum field counted as spaces (unsigned or signed). */
function checksumOk(h: Buffer): boolean {
  const want = parseInt(h.toString('latin1', 148, 156).replace(/[\0 ]+$/, '').trim(), 8);
  let unsigned = 8 * 32;
  let signed = 8 * 32;
  for (let i = 0; i < 512; i++) {
    if (i >= 148 && i < 156) continue;
    unsigned += h[i]!;
    signed += (h[i]! << 24) >> 24;
  }
  return want === unsigned || want === signed;
}

/** Octal, or GNU base-256 (high bit set) for sizes of 8 GiB and more. */
function parseSize(f: Buffer): number | undefined {
  if (f[0]! & 0x80) {
    if (f[0] === 0xff) return undefined;
    let n = f[0]! & 0x7f;
    for (let i = 1; i < f.length; i++) n = n * 256 + f[i]!;
    return Number.isSafeInteger(n) ? n : undefined;
  }
  const t = f.toString('latin1').replace(/[\0 ]+$/, '').trim();
  if (t === '') return 0;
  return /^[0-7]+$/.test(t) ? parseInt(t, 8) : undefined;
}

function parsePax(data: Buffer, archive: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length && data[i] !== 0) {
    const sp = data.indexOf(0x20, i);
    const len = sp < 0 ? NaN : Number(data.toString('latin1', i, sp));
    if (!Number.isSafeInteger(len) || len <= 0 || i + len > data.length) throw bad(archive, 'malformed PAX extended header');
    const rec = data.subarray(sp + 1, i + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw bad(archive, 'malformed PAX extended header');
    out[rec.toString('utf8', 0, eq)] = rec.toString('utf8', eq + 1);
    i += len;
  }
  return out;
}

/** Positional reads through a 64 KiB window: the headers of small members cost one read together. */
class ReadWindow {
  private start = 0;
  private buf = Buffer.alloc(0);

  constructor(
    private readonly fh: fs.FileHandle,
    private readonly size: number,
  ) {}

  async read(off: number, len: number): Promise<Buffer> {
    if (off >= this.start && off + len <= this.start + this.buf.length) return this.buf.subarray(off - this.start, off - this.start + len);
    const n = Math.min(Math.max(len, 64 * 1024), Math.max(0, this.size - off));
    const b = Buffer.alloc(n);
    const { bytesRead } = await this.fh.read(b, 0, n, off);
    this.start = off;
    this.buf = b.subarray(0, bytesRead);
    return this.buf.subarray(0, Math.min(len, bytesRead));
  }
}

interface CursorRequest {
  entry: TarEntry;
  out: PassThrough;
}

/**
 * Serves byte ranges of a gzip-compressed tar from one forward-moving decompression. Requests
 * wait their turn; the next one served is the nearest ahead of the cursor, so blobs asked for
 * together cost one pass.
 */
class GzipCursor {
  private readonly waiting: CursorRequest[] = [];
  private running = false;
  private iter?: AsyncIterator<Buffer>;
  private source?: Readable;
  private pos = 0;
  private leftover?: Buffer;
  private closed = false;

  constructor(private readonly path: string) {}

  request(entry: TarEntry): Readable {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    this.waiting.push({ entry, out });
    if (!this.running) void this.run();
    return out;
  }

  private restart(): void {
    this.source?.destroy();
    const input = createReadStream(this.path, { highWaterMark: 1 << 20 });
    const gunzip = createGunzip();
    input.on('error', (err) => gunzip.destroy(err));
    this.source = input.pipe(gunzip);
    this.iter = this.source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    this.pos = 0;
    this.leftover = undefined;
  }

  private async chunk(): Promise<Buffer | undefined> {
    if (this.leftover) {
      const c = this.leftover;
      this.leftover = undefined;
      return c;
    }
    const r = await this.iter!.next();
    return r.done ? undefined : r.value;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.waiting.length && !this.closed) {
        const ahead = this.waiting.filter((r) => r.entry.offset >= this.pos && this.iter);
        const pool = ahead.length ? ahead : this.waiting;
        const next = pool.reduce((a, b) => (b.entry.offset < a.entry.offset ? b : a));
        this.waiting.splice(this.waiting.indexOf(next), 1);
        if (!ahead.length) this.restart();
        try {
          await this.serve(next);
          next.out.end();
        } catch (err) {
          next.out.destroy(describeTarError(err, this.path, true));
          this.iter = undefined;
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async serve(req: CursorRequest): Promise<void> {
    const { entry, out } = req;
    let skip = entry.offset - this.pos;
    let remaining = entry.size;
    while (skip > 0 || remaining > 0) {
      const c = await this.chunk();
      if (!c) throw new Error('unexpected end of data');
      let rest = c;
      if (skip > 0) {
        const n = Math.min(skip, rest.length);
        skip -= n;
        this.pos += n;
        rest = rest.subarray(n);
        if (rest.length === 0) continue;
      }
      const take = rest.subarray(0, remaining);
      if (rest.length > take.length) this.leftover = rest.subarray(take.length);
      this.pos += take.length;
      remaining -= take.length;
      if (out.destroyed) continue; // the reader gave up: keep the cursor moving, drop the bytes
      if (!out.write(take)) await drained(out);
    }
  }

  close(): void {
    this.closed = true;
    this.source?.destroy();
    for (const r of this.waiting.splice(0)) r.out.destroy(new Error(`${this.path} was closed`));
  }
}

function drained(s: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.on('drain', done);
    s.on('close', done);
  });
}
