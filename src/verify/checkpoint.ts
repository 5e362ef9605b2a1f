// verify --checkpoint <file>: what earlier runs hashed, so a run killed after hours resumes where
// it stopped and a nightly re-run hashes only blobs that changed. A local file of JSON lines: a
// header naming the store (and shard) it belongs to, then one record per blob hashed: digest,
// size, modification time (ms), ETag (S3) and the digest its bytes hashed to. Records are
// appended in batches (BATCH_RECORDS or FLUSH_MS, whichever comes first), so a kill -9 loses at
// most one batch; a torn or otherwise unreadable line is skipped on reading (that blob is simply
// hashed again) and a later record of a digest wins over an earlier one.
import { constants } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import type { FileInfo } from '../drivers/driver.js';
import { UsageError } from '../errors.js';
import { isDigest, type Digest } from '../image/digest.js';
import { onInterrupt } from '../util/interrupt.js';
import type { HashResult } from './hashing/thread-pool.js';
import type { Shard } from './shard.js';

/** What says a blob's bytes are the ones hashed before: unchanged size, modification time and (S3) ETag. */
export interface BlobStamp {
  size: number;
  /** Milliseconds since the epoch. */
  modTime: number;
  etag?: string;
}

/** A listed or stat'ed blob's stamp; undefined when it is not a file. */
export function stampOf(st: FileInfo | undefined): BlobStamp | undefined {
  if (!st || st.isDir) return undefined;
  return { size: st.size, modTime: st.modTime.getTime(), ...(st.etag !== undefined ? { etag: st.etag } : {}) };
}

export interface CheckpointScope {
  /** storeIdentity() of the store audited. */
  store: string;
  shard?: Shard;
}

const FORMAT = 'regbucket-verify-checkpoint';
const VERSION = 1;
/** Records are ~200 bytes; a longer line is not one of ours (read in pieces, never held whole). */
const MAX_LINE = 1024;
export const BATCH_RECORDS = 32;
const FLUSH_MS = 1000;

interface Rec {
  size: number;
  modTime: number;
  etag?: string;
  /** What the bytes hashed to. */
  found: Digest;
}

function shardText(s: Shard | undefined): string | null {
  return s ? `${s.index}/${s.count}` : null;
}

function parseRecord(line: string): [Digest, Rec] | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  const whole = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (typeof r.d !== 'string' || !isDigest(r.d) || typeof r.h !== 'string' || !isDigest(r.h) || !whole(r.s) || !whole(r.t)) return undefined;
  if (r.e !== undefined && (typeof r.e !== 'string' || r.e.length > 200)) return undefined;
  return [r.d, { size: r.s, modTime: r.t, found: r.h, ...(r.e !== undefined ? { etag: r.e } : {}) }];
}

/** The file's lines, each at most MAX_LINE characters (longer ones yield undefined), and whether the last one was torn. */
async function* lines(h: FileHandle): AsyncGenerator<string | undefined, void> {
  let partial = '';
  let tooLong = false;
  for await (const chunk of h.createReadStream({ encoding: 'utf8', autoClose: false, start: 0 })) {
    let text = chunk as string;
    for (;;) {
      const nl = text.indexOf('\n');
      const piece = nl < 0 ? text : text.slice(0, nl);
      if (!tooLong) {
        partial += piece;
        if (partial.length > MAX_LINE) {
          tooLong = true;
          partial = '';
        }
      }
      if (nl < 0) break;
      yield tooLong ? undefined : partial;
      partial = '';
      tooLong = false;
      text = text.slice(nl + 1);
    }
  }
  // A last line without its newline is torn (the run was cut while writing it): not a record.
  if (partial !== '' || tooLong) yield undefined;
}

function checkHeader(line: string | undefined, file: string, scope: CheckpointScope): void {
  const notOurs = (): never => {
    throw new UsageError(`${file} is not a regbucket verify checkpoint: give --checkpoint a new file, or the file an earlier verify --checkpoint wrote`);
  };
  if (line === undefined) return notOurs();
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return notOurs();
  }
  if (typeof h !== 'object' || h === null || h.format !== FORMAT) return notOurs();
  if (h.version !== VERSION) throw new UsageError(`checkpoint ${file} has format version ${JSON.stringify(h.version)}, this regbucket reads ${VERSION}: remove it to start over`);
  if (h.store !== scope.store) {
    const was = typeof h.store === 'string' ? h.store.slice(0, 200) : '?';
    throw new UsageError(`checkpoint ${file} is of store ${JSON.stringify(was)}, not ${JSON.stringify(scope.store)}: give each store its own checkpoint file`);
  }
  if (h.shard !== shardText(scope.shard)) {
    const was = typeof h.shard === 'string' ? `shard ${h.shard.slice(0, 30)}` : 'an unsharded run';
    const now = scope.shard ? `shard ${shardText(scope.shard)}` : 'an unsharded run';
    throw new UsageError(`checkpoint ${file} is of ${was}, not ${now}: give each shard its own checkpoint file`);
  }
}

/** A checkpoint file, read and open for appending. */
export class Checkpoint {
  private readonly known = new Map<Digest, Rec>();
  private pending: string[] = [];
  private writing: Promise<void> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private failed?: unknown;
  private dropInterrupt?: () => void;
  /** Blobs taken from the checkpoint instead of hashed, and their bytes. */
  blobsSkipped = 0;
  bytesSkipped = 0;
  /** Lines that were not records (torn, corrupt): those blobs are hashed again. */
  ignoredLines = 0;

  private constructor(
    readonly file: string,
    private fh?: FileHandle,
  ) {}

  /** Blobs the file records (the latest record of each). */
  get records(): number {
    return this.known.size;
  }

  /**
   * Opens `file`: reads what an earlier run of the same store (and shard) recorded, or creates it
   * with its header. Anything else in the file is refused, never overwritten.
   */
  static async open(file: string, scope: CheckpointScope): Promise<Checkpoint> {
    const cp = new Checkpoint(file);
    let h: FileHandle | undefined;
    try {
      h = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw cp.unusable(err);
    }
    let endsTorn = false;
    let fresh = true;
    if (h) {
      try {
        const st = await h.stat();
        if (!st.isFile()) throw new UsageError(`checkpoint ${file} is not a regular file`);
        // An empty file (made by the user) is written fresh below.
        fresh = st.size === 0;
        if (!fresh) endsTorn = await cp.read(h, scope);
      } catch (err) {
        throw cp.unusable(err);
      } finally {
        await h.close();
      }
    }
    try {
      if (fresh) await cp.create(scope);
      cp.fh = await open(file, 'a');
      // A torn last line: end it, so the next record starts a line of its own.
      if (endsTorn) await cp.fh.write('\n');
    } catch (err) {
      throw cp.unusable(err);
    }
    cp.dropInterrupt = onInterrupt(() => cp.close());
    return cp;
  }

  private unusable(err: unknown): Error {
    if (err instanceof UsageError) return err;
    return new UsageError(`cannot use checkpoint ${this.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }

  /** Reads the records; true when the last line was torn. */
  private async read(h: FileHandle, scope: CheckpointScope): Promise<boolean> {
    let first = true;
    let torn = false;
    for await (const line of lines(h)) {
      if (first) {
        checkHeader(line, this.file, scope);
        first = false;
        continue;
      }
      const rec = line === undefined ? undefined : parseRecord(line);
      torn = line === undefined;
      if (rec) this.known.set(rec[0], rec[1]);
      else this.ignoredLines++;
    }
    return torn;
  }

  /** The header, written whole (a temporary file renamed), so no run ever sees half of it. */
  private async create(scope: CheckpointScope): Promise<void> {
    const tmp = `${this.file}.${process.pid}.tmp`;
    const header = JSON.stringify({ format: FORMAT, version: VERSION, store: scope.store, shard: shardText(scope.shard), created: new Date().toISOString() });
    try {
      const t = await open(tmp, 'wx');
      try {
        await t.write(`${header}\n`);
      } finally {
        await t.close();
      }
      await rename(tmp, this.file);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  /** The earlier result for this blob when its stamp is unchanged (counted as skipped); else undefined. */
  lookup(digest: Digest, stamp: BlobStamp): HashResult | undefined {
    const r = this.known.get(digest);
    if (!r || r.size !== stamp.size || r.modTime !== stamp.modTime || r.etag !== stamp.etag) return undefined;
    this.blobsSkipped++;
    this.bytesSkipped += r.size;
    return { digest: r.found, size: r.size };
  }

  /** Records a blob just hashed; `stamp` is what it was before hashing began. */
  record(digest: Digest, stamp: BlobStamp, result: HashResult): void {
    if (result.size !== stamp.size) return; // changed while hashed: not a state to vouch for
    const rec = { d: digest, s: stamp.size, t: stamp.modTime, ...(stamp.etag !== undefined ? { e: stamp.etag } : {}), h: result.digest };
    this.pending.push(JSON.stringify(rec));
    if (this.pending.length >= BATCH_RECORDS) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Appends what is pending (one write per batch, in order). */
  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const text = `${this.pending.join('\n')}\n`;
    this.pending = [];
    this.writing = this.writing.then(async () => {
      if (!this.fh || this.failed) return;
      try {
        await this.fh.write(text);
      } catch (err) {
        this.failed = err;
      }
    });
  }

  /** Writes what is pending and closes the file; a failed write surfaces here. */
  async close(): Promise<void> {
    this.dropInterrupt?.();
    this.flush();
    await this.writing;
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
    if (this.failed) throw this.unusable(this.failed);
  }
}
