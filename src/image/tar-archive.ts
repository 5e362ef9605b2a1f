// Random access into a tar file without unpacking it (oci-archive:, docker-archive:), read the
// way Go's archive/tar reads it (skopeo's reader): tar-format.ts parses headers, this file walks
// them. One walk serves plain and gzip archives: a plain tar is indexed from its headers alone by
// positional reads (the data is never read while indexing, so never twice); a gzip tar is read
// once forward (small entries kept, data hashed on request) and afterwards served by one shared
// decompression cursor. What Go would read differently from us, or what skopeo's unpacking could
// turn into another tree (duplicate names, paths through files or links, sparse files, special
// files, whiteouts), is refused with one line naming the archive.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { InvalidInputError } from '../errors.js';
import { openSourceFile } from './local-files.js';
import type { Digest } from './digest.js';
import { gunzipFile, GzipError, isGzipMagic, StrictGunzip } from './gzip-strict.js';
import { cString, isHeaderOnly, isZeroBlock, MAX_SPECIAL_FILE, mergePax, modeTypeBits, parseHeader, parsePax, TarFormatError, type RawHeader } from './tar-format.js';

export type EntryType = 'file' | 'directory' | 'symlink' | 'link' | 'global';

export interface TarEntry {
  /** Normalized name (no `./`, no trailing `/`), shortened when very long: for messages. */
  name: string;
  /** The name as the index keys it (long names by their hash: names are not all kept). */
  key: string;
  type: EntryType;
  /** Position among the archive's members. */
  seq: number;
  /** Byte offset of the entry's data in the (uncompressed) tar stream. */
  offset: number;
  size: number;
  /** Key of the link target (symlinks resolved against their directory, hard links from the root). */
  target?: string;
  /** First bytes of the data (gzip archives only; plain archives read them on demand). */
  head?: Buffer;
  /** sha256 of the data. */
  digest?: Digest;
  /** For gzip data: sha256 of the decompressed bytes, or why it is not valid gzip. */
  inner?: { digest?: Digest; error?: string };
}

export interface TarOpenOptions {
  /** Hash every file during the pass when the archive is gzip-compressed (it cannot be re-read cheaply). */
  hashWhenGzip?: boolean;
}

/** How a consumer resolves links, as the skopeo code it must agree with does. */
export interface LinkPolicy {
  /** Symlinks followed in a row (docker-archive: skopeo follows one). */
  symlinks: number;
  /** Hard links followed to an earlier regular file (oci-archive: unpacked, so they are), or refused. */
  hardlinks: boolean;
}

export const UNPACKED_LINKS: LinkPolicy = { symlinks: 16, hardlinks: true };

const MAX_NAME = 1024;
const MAX_COMPONENT = 255;
const MAX_DEPTH = 16;
const MAX_ENTRIES = 500_000;
/** PAX and GNU long-name data per archive (Go's limit of 1 MiB applies to each header). */
export const MAX_EXTENDED_BYTES = 8 * 1024 * 1024;
export const MAX_PAX_RECORDS = 200_000;
/** Extended headers before one member (a real writer puts at most a PAX header and two GNU ones). */
const MAX_META_RUN = 16;
const SMALL_ENTRY = 4 * 1024 * 1024;
const SMALL_BUDGET = 64 * 1024 * 1024;
const HEAD = 6;
const KEY_MAX = 96;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function bad(archive: string, why: string): InvalidInputError {
  return new InvalidInputError(`${archive} is not a usable archive: ${why}`);
}

function shown(name: string): string {
  return JSON.stringify(name.length > 120 ? `${name.slice(0, 120)}...` : name);
}

function keyOf(name: string): string {
  return name.length <= KEY_MAX ? name : `#${createHash('sha256').update(name).digest('base64')}`;
}

/** Raw header bytes (latin1) as text; names that are not UTF-8 are refused (JSON could not name them exactly). */
function decodeName(raw: string, archive: string, what: string): string {
  try {
    return utf8.decode(Buffer.from(raw, 'latin1'));
  } catch {
    throw bad(archive, `${what} ${shown(raw)} is not valid UTF-8`);
  }
}

/** Checks a member name and normalizes it (as Go's path.Clean, without `..`); throws for anything that could name a path outside. */
export function normalizeEntryName(raw: string, archive: string): string {
  if (raw.includes('\0')) throw bad(archive, `entry name ${shown(raw)} contains a NUL byte`);
  if (raw.length > MAX_NAME) throw bad(archive, `entry name of ${raw.length} characters (${shown(raw)}) is longer than ${MAX_NAME}`);
  if (raw.startsWith('/')) throw bad(archive, `entry ${shown(raw)} has an absolute name`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw bad(archive, `entry ${shown(raw)} climbs out of the archive with ..`);
  if (parts.some((p) => p.length > MAX_COMPONENT)) throw bad(archive, `entry ${shown(raw)} has a name component longer than ${MAX_COMPONENT}`);
  if (parts.length > MAX_DEPTH) throw bad(archive, `entry ${shown(raw)} is nested more than ${MAX_DEPTH} directories deep`);
  // skopeo unpacks an oci-archive with containers/storage, which treats .wh..wh. names specially.
  if (parts.some((p) => p.startsWith('.wh.'))) throw bad(archive, `entry ${shown(raw)} is a whiteout (.wh.) name, which unpacking treats specially`);
  return parts.join('/');
}

/** A link target as a name inside the archive; throws if it points outside. */
function linkTarget(entry: string, type: 'symlink' | 'link', raw: string, archive: string): string {
  if (raw === '') throw bad(archive, `link ${shown(entry)} has an empty target`);
  if (raw.startsWith('/')) throw bad(archive, `link ${shown(entry)} points at the absolute path ${shown(raw)}`);
  // Hard links name a member from the archive root; symlinks are relative to their directory.
  const base = type === 'symlink' ? nodePath.posix.dirname(entry) : '.';
  const joined = nodePath.posix.normalize(nodePath.posix.join(base, raw));
  if (joined === '..' || joined.startsWith('../') || joined.startsWith('/')) {
    throw bad(archive, `link ${shown(entry)} points outside the archive (${shown(raw)})`);
  }
  return normalizeEntryName(joined, archive);
}

function describeError(err: unknown, archive: string, gzip: boolean): Error {
  if (err instanceof InvalidInputError) return err;
  if (err instanceof TarFormatError) return bad(archive, gzip ? `${err.message} (inside the gzip stream)` : err.message);
  if (err instanceof GzipError) return bad(archive, err.message);
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return new InvalidInputError(`${archive} does not exist`);
  if (e.code === 'EISDIR') return new InvalidInputError(`${archive} is a directory, not an archive file`);
  if (e.code === 'EACCES') return new InvalidInputError(`${archive} cannot be read (permission denied)`);
  if (typeof e.code === 'string' && e.code.startsWith('Z_')) return bad(archive, `the gzip stream is corrupt or truncated (${e.message})`);
  if (/unexpected end/i.test(String(e.message))) return bad(archive, 'the tar stream ends in the middle of an entry (truncated)');
  return err as Error;
}

/** The bytes of the tar stream, read forward: positional on a plain file, one decompression for gzip. */
interface TarInput {
  pos: number;
  /** Exactly n bytes, or fewer at the end of the input. */
  read(n: number): Promise<Buffer>;
  /** Moves past n bytes, handing them to `data` when given; returns how many there were. */
  skip(n: number, data?: (chunk: Buffer) => Promise<void> | void): Promise<number>;
  close(): Promise<void>;
}

class PlainInput implements TarInput {
  pos = 0;
  private start = 0;
  private buf: Buffer = Buffer.alloc(0);

  constructor(
    private readonly fh: fs.FileHandle,
    private readonly size: number,
  ) {}

  async read(n: number): Promise<Buffer> {
    const off = this.pos;
    if (off < this.start || off + n > this.start + this.buf.length) {
      const want = Math.min(Math.max(n, 64 * 1024), Math.max(0, this.size - off));
      const b = Buffer.alloc(want);
      const { bytesRead } = await this.fh.read(b, 0, want, off);
      this.start = off;
      this.buf = b.subarray(0, bytesRead);
    }
    const got = this.buf.subarray(off - this.start, Math.min(off - this.start + n, this.buf.length));
    this.pos += got.length;
    return got;
  }

  async skip(n: number): Promise<number> {
    const got = Math.max(0, Math.min(n, this.size - this.pos));
    this.pos += got;
    return got;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

class GzipInput implements TarInput {
  pos = 0;
  private readonly chunks: AsyncGenerator<Buffer>;
  private rest: Buffer = Buffer.alloc(0);

  constructor(path: string) {
    this.chunks = gunzipFile(path);
  }

  private async more(): Promise<boolean> {
    const r = await this.chunks.next();
    if (r.done) return false;
    this.rest = this.rest.length ? Buffer.concat([this.rest, r.value]) : r.value;
    return true;
  }

  async read(n: number): Promise<Buffer> {
    while (this.rest.length < n && (await this.more()));
    const got = this.rest.subarray(0, n);
    this.rest = this.rest.subarray(got.length);
    this.pos += got.length;
    return got;
  }

  async skip(n: number, data?: (chunk: Buffer) => Promise<void> | void): Promise<number> {
    let left = n;
    while (left > 0) {
      if (this.rest.length === 0 && !(await this.more())) break;
      const take = this.rest.subarray(0, left);
      this.rest = this.rest.subarray(take.length);
      left -= take.length;
      this.pos += take.length;
      if (data) await data(take);
    }
    return n - left;
  }

  /** Reads to the end of the gzip stream (after the tar's end marker), which checks for trailing data. */
  async drain(): Promise<void> {
    this.rest = Buffer.alloc(0);
    while (await this.more()) this.rest = Buffer.alloc(0);
  }

  async close(): Promise<void> {
    await this.chunks.return(undefined);
  }
}

export class TarArchive {
  private readonly index = new Map<string, TarEntry>();
  /** Keys of every directory an entry lies in (explicit or not). */
  private readonly dirs = new Set<string>();
  private readonly small = new Map<TarEntry, Buffer>();
  private cursor?: GzipCursor;
  private count = 0;

  private constructor(
    readonly path: string,
    readonly gzip: boolean,
    private readonly fileSize: number,
  ) {}

  /** Indexes the archive at `path` in one pass. Refuses what it could not read as Go does. */
  static async open(path: string, opts: TarOpenOptions = {}): Promise<TarArchive> {
    let gzip = false;
    let fh: fs.FileHandle | undefined;
    let a: TarArchive;
    try {
      // Never through a symlink, never a FIFO or device (a blocking open): local-files.ts.
      const opened = await openSourceFile(path, 'the archive');
      fh = opened.fh;
      const st = { size: opened.size };
      if (st.size === 0) throw bad(path, 'the file is empty');
      const magic = Buffer.alloc(3);
      await fh.read(magic, 0, 3, 0);
      gzip = isGzipMagic(magic);
      a = new TarArchive(path, gzip, st.size);
      const input: TarInput = gzip ? new GzipInput(path) : new PlainInput(fh, st.size);
      if (gzip) await fh.close();
      fh = undefined;
      try {
        await a.walk(input, opts);
        if (input instanceof GzipInput) await input.drain();
      } finally {
        await input.close();
      }
    } catch (err) {
      await fh?.close();
      throw describeError(err, path, gzip);
    }
    if (a.count === 0) throw bad(path, 'it holds no entries');
    return a;
  }

  /** Go's Reader.Next loop over the whole archive. */
  private async walk(input: TarInput, opts: TarOpenOptions): Promise<void> {
    let pax: { records: Map<string, string>; unsupported?: string } | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;
    let extendedBytes = 0;
    let paxRecords = 0;
    let smallBytes = 0;
    let metaRun = 0;
    for (;;) {
      const hdrOff = input.pos;
      const block = await input.read(512);
      if (block.length === 0) return; // the end of the input at a header: Go's io.EOF
      if (block.length < 512) throw bad(this.path, 'the tar stream ends in the middle of a header (truncated)');
      if (isZeroBlock(block)) {
        const next = await input.read(512);
        if (next.length === 0 || isZeroBlock(next)) return; // end-of-archive: whatever follows is not read
        if (next.length < 512) throw bad(this.path, 'the tar stream ends in the middle of a header (truncated)');
        throw bad(this.path, `a zero block at offset ${hdrOff} is followed by a header (Go reads this as a broken archive)`);
      }
      const h = parseHeader(block);
      const meta = h.typeflag === 'x' || h.typeflag === 'g' || h.typeflag === 'L' || h.typeflag === 'K';
      if (h.size < 0n && !isHeaderOnly(h.typeflag)) throw bad(this.path, `the header at offset ${hdrOff} has a negative size`);
      if (meta) {
        if (++metaRun > MAX_META_RUN) throw bad(this.path, `more than ${MAX_META_RUN} extended headers in a row at offset ${hdrOff}: refusing an archive built to be expensive`);
        if (h.size > BigInt(MAX_SPECIAL_FILE)) throw bad(this.path, `an extended header of ${h.size} bytes at offset ${hdrOff}: Go refuses more than 1 MiB`);
        const size = Number(h.size);
        extendedBytes += size;
        if (extendedBytes > MAX_EXTENDED_BYTES) throw bad(this.path, `more than ${MAX_EXTENDED_BYTES / 1024 / 1024} MiB of PAX and GNU long-name headers: refusing an archive built to be expensive`);
        const data = await input.read(size);
        if (data.length < size) throw bad(this.path, 'the tar stream ends in the middle of an extended header (truncated)');
        if (h.typeflag === 'x' || h.typeflag === 'g') {
          const parsed = parsePax(data);
          paxRecords += parsed.records.size;
          if (paxRecords > MAX_PAX_RECORDS) throw bad(this.path, `more than ${MAX_PAX_RECORDS} PAX records: refusing an archive built to be expensive`);
          if (h.typeflag === 'g') {
            // Go returns a global header as a member of its own and does not apply it; pending
            // extended headers are dropped.
            this.addGlobal(h, parsed.records, hdrOff + 512);
            pax = undefined;
            longName = longLink = undefined;
          } else pax = parsed;
        } else if (h.typeflag === 'L') longName = cString(data);
        else longLink = cString(data);
        if (!(await this.pad(input, size))) return;
        continue;
      }
      metaRun = 0;
      mergePax(h, pax?.records);
      if (longName) h.name = longName;
      if (longLink) h.linkname = longLink;
      const unsupported = pax?.unsupported;
      pax = undefined;
      longName = longLink = undefined;
      if (unsupported) throw bad(this.path, `the member at offset ${hdrOff} uses ${unsupported}, which regbucket does not read`);
      const size = isHeaderOnly(h.typeflag) ? 0n : h.size;
      if (size < 0n) throw bad(this.path, `the header at offset ${hdrOff} has a negative size`);
      if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(this.path, `the member at offset ${hdrOff} claims ${size} bytes`);
      const n = Number(size);
      const dataOff = input.pos;
      if (!this.gzip && dataOff + n > this.fileSize) {
        throw bad(this.path, `entry at offset ${hdrOff} claims ${n} bytes but the file ends first (truncated, or the size lies)`);
      }
      const entry = this.add(h, dataOff, n);
      if (entry?.type === 'file' && this.gzip) {
        const keep = n <= SMALL_ENTRY && smallBytes + n <= SMALL_BUDGET;
        if (keep) smallBytes += n;
        await this.consume(input, entry, n, keep, opts.hashWhenGzip === true);
      } else if ((await input.skip(n)) < n) throw bad(this.path, 'the tar stream ends in the middle of an entry (truncated)');
      if (!(await this.pad(input, n))) return;
    }
  }

  /** Skips the padding after `size` bytes of data; false when the input ends inside it (Go: a normal end). */
  private async pad(input: TarInput, size: number): Promise<boolean> {
    const p = (512 - (size % 512)) % 512;
    return (await input.skip(p)) === p;
  }

  /** Reads a file's data in the gzip pass: its first bytes, a copy when small, hashes when asked. */
  private async consume(input: TarInput, entry: TarEntry, n: number, keep: boolean, hash: boolean): Promise<void> {
    const chunks: Buffer[] = [];
    const h = hash ? createHash('sha256') : undefined;
    let head = Buffer.alloc(0);
    let inner: { gunzip: StrictGunzip; hash: ReturnType<typeof createHash> } | undefined;
    const got = await input.skip(n, async (c) => {
      if (head.length < HEAD) {
        head = Buffer.concat([head, c.subarray(0, HEAD - head.length)]);
        if (hash && !inner && head.length >= 3 && isGzipMagic(head)) {
          const ih = createHash('sha256');
          inner = { gunzip: new StrictGunzip((d) => ih.update(d)), hash: ih };
        }
      }
      h?.update(c);
      if (keep) chunks.push(c);
      if (inner) await inner.gunzip.write(c);
    });
    if (got < n) {
      inner?.gunzip.destroy();
      throw bad(this.path, 'the tar stream ends in the middle of an entry (truncated)');
    }
    entry.head = Buffer.from(head);
    if (h) entry.digest = `sha256:${h.digest('hex')}`;
    if (keep) this.small.set(entry, Buffer.concat(chunks));
    if (inner) {
      try {
        await inner.gunzip.end();
        entry.inner = { digest: `sha256:${inner.hash.digest('hex')}` };
      } catch (err) {
        entry.inner = { error: (err as Error).message };
      }
    }
  }

  private addGlobal(h: RawHeader, records: Map<string, string>, offset: number): void {
    // Go names the global header by its own path record, unless merging its records fails first
    // (in map order, so either way): a name that depends on that is refused.
    const named = { ...h };
    try {
      mergePax(named, records);
    } catch {
      if (records.get('path')) throw bad(this.path, `the PAX global header at offset ${offset - 512} has a path and an invalid record: Go names it either way`);
    }
    const raw = decodeName(named.name, this.path, 'PAX global header name');
    // An absolute name can match nothing skopeo looks up; any other one could, so it takes its place.
    if (raw.startsWith('/')) return;
    const name = normalizeEntryName(raw, this.path);
    this.place({ name, key: keyOf(name), type: 'global', seq: this.count++, offset, size: 0 });
  }

  /** Checks one member and records it; throws for anything that could read differently elsewhere. */
  private add(h: RawHeader, offset: number, size: number): TarEntry | undefined {
    const raw = decodeName(h.name, this.path, 'entry name');
    const at = `entry ${shown(raw)}`;
    let type: EntryType;
    switch (h.typeflag) {
      case '0':
        type = 'file';
        break;
      case '\0':
        // Go versions differ on a NUL type flag with a trailing slash (file or directory).
        if (raw.endsWith('/')) throw bad(this.path, `${at} has no type flag and a trailing slash (a file or a directory, depending on the reader)`);
        type = 'file';
        break;
      case '1':
        type = 'link';
        break;
      case '2':
        type = 'symlink';
        break;
      case '5':
        type = 'directory';
        break;
      case '3':
      case '4':
      case '6':
        throw bad(this.path, `${at} is a ${{ '3': 'character device', '4': 'block device', '6': 'fifo' }[h.typeflag]}: only files, directories and links belong in an image archive`);
      case 'S':
        throw bad(this.path, `${at} is a GNU sparse file, which regbucket does not read`);
      default:
        throw bad(this.path, `${at} is a member of tar type ${JSON.stringify(h.typeflag)}: only files, directories and links belong in an image archive`);
    }
    // Go's FileInfo takes the file type from the mode bits too: they must not say otherwise.
    const bits = modeTypeBits(h.mode);
    const agrees = { file: 0o100000, link: 0o100000, symlink: 0o120000, directory: 0o040000, global: 0 }[type];
    if (bits !== 0 && bits !== agrees) throw bad(this.path, `${at} is a ${type} whose mode bits (${h.mode.toString(8)}) say another file type`);
    const name = normalizeEntryName(raw, this.path);
    if (name === '') {
      if (type === 'directory') return undefined;
      throw bad(this.path, `${at} names the archive's root`);
    }
    const entry: TarEntry = { name: name.length > 200 ? `${name.slice(0, 200)}...` : name, key: keyOf(name), type, seq: this.count++, offset, size: type === 'file' ? size : 0 };
    if (type === 'symlink' || type === 'link') {
      const target = linkTarget(name, type, decodeName(h.linkname, this.path, `link target of ${at}`), this.path);
      entry.target = keyOf(target);
    }
    this.place(entry, name);
    return entry;
  }

  /** Enters a member in the index: refuses two members of one name and paths through non-directories. */
  private place(entry: TarEntry, fullName = entry.name): void {
    if (this.count > MAX_ENTRIES) throw bad(this.path, `more than ${MAX_ENTRIES} entries`);
    const parts = fullName.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = keyOf(parts.slice(0, i).join('/'));
      const e = this.index.get(dir);
      if (e && e.type !== 'directory') throw bad(this.path, `entry ${shown(fullName)} lies under ${shown(e.name)}, which is a ${e.type}, not a directory`);
      this.dirs.add(dir);
    }
    const prev = this.index.get(entry.key);
    if (prev && !(prev.type === 'directory' && entry.type === 'directory')) {
      throw bad(this.path, `entry ${shown(fullName)} appears twice (a ${prev.type}, then a ${entry.type}): readers disagree on which one counts, refusing an ambiguous archive`);
    }
    if (entry.type !== 'directory' && this.dirs.has(entry.key)) {
      throw bad(this.path, `entry ${shown(fullName)} is a ${entry.type}, but other entries lie under it as a directory`);
    }
    if (!prev) this.index.set(entry.key, entry);
  }

  /** Every indexed member, in archive order. */
  members(): TarEntry[] {
    return [...this.index.values()].sort((a, b) => a.seq - b.seq);
  }

  /** The member of that name, if any (no links followed). */
  lookup(name: string): TarEntry | undefined {
    let n: string;
    try {
      n = normalizeEntryName(name, this.path);
    } catch {
      return undefined;
    }
    return this.index.get(keyOf(n));
  }

  /** The regular-file entry `name` names, following links as `links` says. */
  file(name: string, what = 'entry', links: LinkPolicy = UNPACKED_LINKS): TarEntry {
    let e = this.lookup(name);
    const missing = (): InvalidInputError => new InvalidInputError(`${what} ${JSON.stringify(name)} is missing from ${this.path}: the archive is incomplete`);
    if (!e) throw missing();
    for (let hops = 0; ; hops++) {
      if (e.type === 'file') return e;
      if (e.type === 'directory') throw new InvalidInputError(`${what} ${JSON.stringify(name)} in ${this.path} is a directory, not a file`);
      if (e.type === 'global') throw new InvalidInputError(`${what} ${JSON.stringify(name)} in ${this.path} is a PAX global header, not a file`);
      if (e.type === 'symlink' && hops >= links.symlinks) {
        throw new InvalidInputError(
          `${what} ${JSON.stringify(name)} in ${this.path}: more than ${links.symlinks} symlink${links.symlinks === 1 ? '' : 's'} in a row${links.symlinks === 1 ? ' (skopeo follows one)' : ' (a link loop?)'}`,
        );
      }
      if (e.type === 'link' && !links.hardlinks) {
        throw new InvalidInputError(`${what} ${JSON.stringify(name)} in ${this.path} is a hard link: skopeo reads a hard link in a docker-archive as an empty file, refusing it`);
      }
      const from: TarEntry = e;
      const next = this.index.get(from.target!);
      if (!next) throw missing();
      if (from.type === 'link' && (next.seq > from.seq || (next.type !== 'file' && next.type !== 'link'))) {
        throw new InvalidInputError(
          `${what} ${JSON.stringify(name)} in ${this.path} is a hard link to ${next.seq > from.seq ? 'a later member' : `a ${next.type}`}: unpacking it fails or differs, refusing it`,
        );
      }
      e = next;
    }
  }

  has(name: string): boolean {
    try {
      this.file(name);
      return true;
    } catch {
      return false;
    }
  }

  /** The first bytes of a file (compression sniffing). */
  async head(entry: TarEntry): Promise<Buffer> {
    if (entry.head) return entry.head;
    const n = Math.min(HEAD, entry.size);
    const b = Buffer.alloc(n);
    if (n > 0) {
      const fh = await fs.open(this.path, 'r');
      try {
        await fh.read(b, 0, n, entry.offset);
      } finally {
        await fh.close();
      }
    }
    entry.head = b;
    return b;
  }

  /**
   * sha256 of a file's data and, when it is gzip, of its decompressed bytes: one read, cached
   * on the entry (an entry named by several images is hashed once).
   */
  async digests(entry: TarEntry): Promise<Pick<TarEntry, 'digest' | 'inner'>> {
    if (entry.digest) return entry;
    const gz = isGzipMagic(await this.head(entry));
    const h = createHash('sha256');
    const ih = gz ? createHash('sha256') : undefined;
    const gunzip = ih ? new StrictGunzip((d) => ih.update(d)) : undefined;
    let n = 0;
    try {
      for await (const c of await this.open(entry)) {
        h.update(c as Buffer);
        n += (c as Buffer).length;
        await gunzip?.write(c as Buffer);
      }
    } catch (err) {
      gunzip?.destroy();
      throw describeError(err, this.path, this.gzip);
    }
    if (n !== entry.size) throw bad(this.path, `entry ${shown(entry.name)} is shorter than its header says (truncated)`);
    entry.digest = `sha256:${h.digest('hex')}`;
    if (gunzip) {
      try {
        await gunzip.end();
        entry.inner = { digest: `sha256:${ih!.digest('hex')}` };
      } catch (err) {
        entry.inner = { error: (err as Error).message };
      }
    }
    return entry;
  }

  /** Reads a small entry whole (metadata, manifests); refuses entries over `max` bytes. */
  async read(entry: TarEntry, max: number, what: string): Promise<Buffer> {
    if (entry.size > max) throw new InvalidInputError(`${what} in ${this.path} is ${entry.size} bytes: refusing more than ${max}`);
    const cached = this.small.get(entry);
    if (cached) return cached;
    const chunks: Buffer[] = [];
    for await (const c of await this.open(entry)) chunks.push(c as Buffer);
    const out = Buffer.concat(chunks);
    if (out.length !== entry.size) throw bad(this.path, `entry ${shown(entry.name)} is shorter than its header says (truncated)`);
    return out;
  }

  /** The entry's data as a stream. */
  async open(entry: TarEntry): Promise<Readable> {
    if (entry.size === 0) return Readable.from([]);
    const cached = this.small.get(entry);
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

interface CursorRequest {
  entry: TarEntry;
  out: PassThrough;
}

/**
 * Serves byte ranges of a gzip-compressed tar (already checked whole by the indexing pass) from
 * one forward-moving decompression. Requests wait their turn; the next one served is the nearest
 * ahead of the cursor, so blobs asked for together cost one pass.
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
          next.out.destroy(describeError(err, this.path, true));
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
