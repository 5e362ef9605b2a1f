// Reads of a local filesystem store for the gc, which reads tens of thousands of tiny files (links,
// manifests) and stats as many. Promise-based fs calls cost ~25 us each in thread-pool round
// trips; synchronous ones cost a few while the page cache holds the store, but then wait for the
// disk one at a time when it does not. So reads start synchronous on the main thread and, when
// they turn out slow (a cold cache: the disk's latency shows), move to a pool of worker threads
// that keeps several in flight (thread-pool.ts). Writes and deletes stay with the driver.
import { availableParallelism } from 'node:os';
import * as nodePath from 'node:path';
import type { Readable } from 'node:stream';
import { checkPath, hasLocalPaths, hasWriteDebris, joinPath, type FastReads, type FileInfo, type LocalPaths, type StorageDriver } from '../driver.js';
import { PathNotFoundError, UnsafePathError } from '../../errors.js';
import { confinedFs } from '../../util/confine-sync.js';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { StorageError } from '../../errors.js';
import { localOps, type LocalOps, type LocalRoot } from './thread-body.js';
import { decorateObserved } from '../request-log.js';
import { LocalPool, settle, type CallResult, type Op, type ReadResult, type StatResult } from './thread-pool.js';

/** Where a refused path is logged instead of failing the read (store/hazards.ts HazardSink is one). */
export interface HazardSink {
  add(err: UnsafePathError): void;
}

/** The largest small read (a manifest's limit, image/manifest.ts MAX_MANIFEST_BYTES); larger reads go to the driver. */
const MAX_SMALL_READ = 4 * 1024 * 1024;
/** Synchronous stats and reads timed before deciding (and between yields to the event loop). */
const SAMPLE = 256;
/** Absolute, components of [A-Za-z0-9._-] (driver.ts checkPath), none of them `.` or `..`. */
const SAFE_PATH_RE = /^(?:\/[A-Za-z0-9._-]+)+$/;
const DOT_COMPONENT_RE = /\/\.\.?(?:\/|$)/;
/** Stands for a store root that does not exist: every path below it is missing. */
const NO_ROOT = '/nonexistent/regbucket-store-root-missing';

/** First calls not timed: they pay for compiling the code that makes them. */
const WARM_UP = 32;
/** Mean time of a synchronous call above which the disk, not the CPU, is the limit. */
const SLOW_MS = 0.05;

class LocalReads implements StorageDriver, FastReads {
  readonly name: string;
  readonly prefersFlatListing = false;
  private readonly at: LocalRoot;
  private readonly ops: LocalOps = localOps(createRequire(import.meta.url), confinedFs);
  private pool?: LocalPool;
  private sampled = 0;
  private sampledMs = 0;

  constructor(
    private readonly fs: StorageDriver & LocalPaths,
    private threads: number,
    mode: LocalReadMode,
    private readonly hazards?: HazardSink,
  ) {
    this.name = fs.name;
    const c = fs.confinement();
    this.at = c ? { root: c.realRoot === nodePath.sep ? '' : c.realRoot, proc: c.proc } : { root: NO_ROOT, proc: false };
    if (mode === 'threads') this.pool = new LocalPool(threads, MAX_SMALL_READ, this.at);
    if (mode === 'main') this.threads = 0;
  }

  /** Whether reads went to worker threads (the store was slow to read). */
  get pooled(): boolean {
    return this.pool !== undefined;
  }

  /** A symlink or special file met is logged and, to the caller, missing (gc keeps what it might protect). */
  private async call(op: Op, path: string): Promise<CallResult> {
    try {
      return await this.callRaw(op, path);
    } catch (err) {
      if (!(err instanceof UnsafePathError) || !this.hazards) throw err;
      this.hazards.add(err);
      return op === 'read' ? 'missing' : undefined;
    }
  }

  private async callRaw(op: Op, path: string): Promise<CallResult> {
    if (this.pool) return this.pool.call(op, path);
    const t = performance.now();
    const paths = [path];
    const reply = op === 'read' ? this.ops.read(this.at, paths, MAX_SMALL_READ) : op === 'stat' ? this.ops.stat(this.at, paths) : this.ops.names(this.at, paths);
    // Stats and small reads take microseconds from the page cache and the disk's latency
    // without it; directory listings take long either way and say nothing.
    if (op !== 'names' && ++this.sampled > WARM_UP) this.sampledMs += performance.now() - t;
    if (this.sampled === WARM_UP + SAMPLE) {
      if (this.sampledMs / SAMPLE > SLOW_MS && this.threads > 0) this.pool = new LocalPool(this.threads, MAX_SMALL_READ, this.at);
      this.sampled = WARM_UP;
      this.sampledMs = 0;
      await new Promise((r) => setImmediate(r)); // timers (the progress spinner) get their turn
    }
    const r = settle(paths, reply, this.at)[0];
    if (r instanceof StorageError) throw r;
    return r;
  }

  /** checkPath's rule in two regular expressions (it is called for every one of ~100k calls). */
  private full(path: string): string {
    if (path === '/') return '';
    if (!SAFE_PATH_RE.test(path) || DOT_COMPONENT_RE.test(path)) checkPath(this.name, path); // throws InvalidPathError
    return path;
  }

  private async tolerate<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      if (!(err instanceof UnsafePathError) || !this.hazards) throw err;
      this.hazards.add(err);
      throw new PathNotFoundError(this.name, err.path);
    }
  }

  /** A file of at most `max` (<= 4 MiB) bytes, without a stat first; 'too-big' otherwise. */
  async getSmall(path: string, max: number): Promise<Buffer | 'too-big'> {
    const r = (await this.call('read', this.full(path))) as ReadResult;
    if (r === 'missing') throw new PathNotFoundError(this.name, path);
    return r !== 'too-big' && r.length <= max ? r : 'too-big';
  }

  async getContent(path: string, maxBytes = MAX_SMALL_READ): Promise<Buffer> {
    if (maxBytes > MAX_SMALL_READ) return this.tolerate(() => this.fs.getContent(path, maxBytes));
    const r = await this.getSmall(path, maxBytes);
    if (r !== 'too-big') return r;
    return this.tolerate(() => Promise.reject(new UnsafePathError(this.name, path, 'oversized', `more than ${maxBytes} bytes`)));
  }

  async stat(path: string): Promise<FileInfo> {
    const st = (await this.call('stat', this.full(path))) as StatResult | undefined;
    if (!st) throw new PathNotFoundError(this.name, path);
    return { path, size: st.size, modTime: new Date(st.mtimeMs), isDir: st.isDir };
  }

  async list(path: string): Promise<string[]> {
    const names = (await this.call('names', this.full(path))) as string[] | undefined;
    if (!names) throw new PathNotFoundError(this.name, path);
    return names.sort().map((n) => joinPath(path, n));
  }

  /** Bare names, unsorted; none when the directory does not exist. */
  async listNames(path: string): Promise<string[]> {
    return ((await this.call('names', this.full(path))) as string[] | undefined) ?? [];
  }

  putContent(path: string, data: Buffer | string): Promise<void> {
    return this.fs.putContent(path, data);
  }
  reader(path: string, offset?: number): Promise<Readable> {
    return this.tolerate(() => this.fs.reader(path, offset));
  }
  putStream(path: string, data: Readable): Promise<number> {
    return this.fs.putStream(path, data);
  }
  walk(path: string): AsyncIterable<FileInfo> {
    return this.fs.walk(path);
  }
  move(source: string, dest: string): Promise<void> {
    return this.fs.move(source, dest);
  }
  listWriteDebris(): Promise<FileInfo[]> {
    return hasWriteDebris(this.fs) ? this.fs.listWriteDebris() : Promise.resolve([]);
  }

  delete(path: string): Promise<void> {
    return this.fs.delete(path);
  }
  deleteFiles(paths: string[]): Promise<void> {
    return this.fs.deleteFiles(paths);
  }
  removeEmptyDir(path: string): Promise<boolean> {
    return this.fs.removeEmptyDir ? this.fs.removeEmptyDir(path) : Promise.resolve(false);
  }
  /** Stops the read threads; the filesystem driver stays open (its owner closes it). */
  async close(): Promise<void> {
    await this.pool?.close();
  }
}

/** Where local reads run: decided by how fast they turn out (auto), or always on one side. */
export type LocalReadMode = 'auto' | 'main' | 'threads';

/**
 * The driver with fast reads when it is a local directory, any other driver as it is; `release`
 * stops the read threads if any were started.
 */
export function localReads(
  d: StorageDriver,
  mode: LocalReadMode = 'auto',
  threads = Math.min(8, 2 * availableParallelism()),
  hazards?: HazardSink,
): { d: StorageDriver; release: () => Promise<void> } {
  if (!hasLocalPaths(d)) return { d, release: async () => {} };
  let local: LocalReads | undefined;
  const decorated = decorateObserved(d, (inner) => (local = new LocalReads(inner as StorageDriver & LocalPaths, threads, mode, hazards)));
  return { d: decorated, release: () => local!.close() };
}
