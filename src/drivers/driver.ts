import type { Readable } from 'node:stream';
import { InvalidPathError } from '../errors.js';

/**
 * What every storage backend provides. Paths are absolute, slash-separated, and every
 * component matches [A-Za-z0-9._-]+ (distribution's driver path rule): checkPath() is the one
 * choke point that keeps `..`, NUL bytes and odd characters out of every backend.
 */
/**
 * What an entry is. Filesystem stores have symlinks and special files (FIFOs, sockets, devices):
 * they are reported, never followed or opened. S3 has files only (and prefixes, as directories).
 */
export type EntryType = 'file' | 'dir' | 'symlink' | 'other';

/** A direct child of a listed directory. */
export interface ListedEntry {
  path: string;
  type: EntryType;
}

/** One directory of listTree(): its entries, or why it could not be listed. */
export type ListedDir = { dir: string; entries: ListedEntry[] } | { dir: string; error: unknown };

export interface FileInfo {
  path: string;
  size: number;
  modTime: Date;
  isDir: boolean;
  /** Absent means 'file' (or 'dir' with isDir). walk() yields 'symlink' and 'other' entries too. */
  type?: EntryType;
  /** S3 only: the listed ETag without quotes (the MD5 of single-PUT objects). */
  etag?: string;
  /**
   * Only from walks asked for them (`unaddressable: true`): an object whose key no driver path
   * can hold (a space, a control character in a segment). `path` is then its raw text, to
   * classify and report (escaped), never to pass to another operation.
   */
  unaddressable?: boolean;
}

export interface WalkOptions {
  /** Also yield objects whose keys are not driver paths (flagged `unaddressable`); default: skip them. */
  unaddressable?: boolean;
}

export interface StorageDriver {
  readonly name: string;
  /**
   * True where one flat walk is cheaper than listing directories one by one (S3: 1,000 keys a
   * request); false on a filesystem, where reading names from parent directories avoids
   * descending into every leaf.
   */
  readonly prefersFlatListing: boolean;
  /**
   * Small content, whole. Throws PathNotFoundError; UnsafePathError when it is over `maxBytes`
   * (a backend's default bound when not given), a symlink or a special file.
   */
  getContent(path: string, maxBytes?: number): Promise<Buffer>;
  /** Small content, written atomically: readers see the old bytes or the new, never a part. */
  putContent(path: string, data: Buffer | string): Promise<void>;
  /** Streamed read from an offset. Throws PathNotFoundError. */
  reader(path: string, offset?: number): Promise<Readable>;
  /**
   * Streamed write: the object becomes visible at `path` only once the whole stream has been
   * written. If the stream errors, nothing is left at `path`. Resolves to the byte count.
   */
  putStream(path: string, data: Readable): Promise<number>;
  /** Throws PathNotFoundError. A prefix that has children is a directory. */
  stat(path: string): Promise<FileInfo>;
  /** Direct children (full paths), sorted. Throws PathNotFoundError for a missing directory. */
  list(path: string): Promise<string[]>;
  /**
   * Direct children with their type. Where absent (S3), list() and a 'dir'/'file' guess serve:
   * use listEntries() below.
   */
  listEntries?(path: string): Promise<ListedEntry[]>;
  /**
   * Every directory below `path` (itself first) with its entries, unsorted, each directory once,
   * descending into every 'dir' entry. A directory that cannot be listed comes with the error
   * listEntries() throws for it. Absent where listEntries() is.
   */
  listTree?(path: string): AsyncIterable<ListedDir>;
  /**
   * Every file below `path`, recursively, in any order; missing `path` yields nothing. Symlinks
   * and special files are yielded with their `type` (never followed): skip what is not a file.
   */
  walk(path: string, opts?: WalkOptions): AsyncIterable<FileInfo>;
  /** Move a file; overwrites the destination. */
  move(source: string, dest: string): Promise<void>;
  /** Recursive delete of a file or directory. Missing paths throw PathNotFoundError. */
  delete(path: string): Promise<void>;
  /** Delete many files (not directories) in as few requests as the backend allows; missing ones are ignored. */
  deleteFiles(paths: string[]): Promise<void>;
  /**
   * Set a file's modification time to now (a filesystem: utimes; S3: a server-side copy of the
   * object onto itself). Throws PathNotFoundError. Absent where the backend cannot.
   */
  touch?(path: string): Promise<void>;
  /**
   * The storage's clock minus this machine's (ms), read from the storage (S3: the Date header of
   * its answers; a filesystem: the mtime of a file written now); undefined when it cannot tell.
   * Absent where the storage shares this process's clock (memory). See store/clock.ts.
   */
  clockOffset?(): Promise<number | undefined>;
  /**
   * stat() of a path that can only be a file (blob data, links): where stat() needs a second
   * request to tell a missing file from a directory (S3: HEAD, then a listing), this one does not.
   * Throws PathNotFoundError for a directory or nothing.
   */
  statFile?(path: string): Promise<FileInfo>;
  /**
   * Where directories exist (a filesystem): remove `path` if it is an empty directory; false when
   * it is missing or not empty (someone wrote into it meanwhile). Never recursive.
   */
  removeEmptyDir?(path: string): Promise<boolean>;
  /** Release connections, timers. */
  close(): Promise<void>;
}

// Optional capabilities. A backend that has one implements its interface; callers test with
// the guard, never with `instanceof` of a driver class (decorators and test doubles have them too).

/** The store is a local directory: `localRoot` + a checked path (with the OS separator) is the file. */
export interface LocalPaths {
  readonly localRoot: string;
  /**
   * The root resolved (undefined while it does not exist) and whether /proc/self/fd tells where an
   * opened handle is: whoever opens files by local path opens them as confine-sync.ts does.
   */
  confinement(): { realRoot: string; proc: boolean } | undefined;
}

export function hasLocalPaths(d: StorageDriver): d is StorageDriver & LocalPaths {
  const l = d as Partial<LocalPaths>;
  return typeof l.localRoot === 'string' && typeof l.confinement === 'function';
}

/** Reads of a local store faster than the interface's calls allow (drivers/local-reads/). */
export interface FastReads {
  /** A file of at most `max` (<= 4 MiB) bytes, without a stat first; 'too-big' otherwise. Throws PathNotFoundError. */
  getSmall(path: string, max: number): Promise<Buffer | 'too-big'>;
  /** Bare names of a directory's entries, unsorted; none when the directory does not exist. */
  listNames(path: string): Promise<string[]>;
}

export function hasFastReads(d: StorageDriver): d is StorageDriver & FastReads {
  const f = d as Partial<FastReads>;
  return typeof f.getSmall === 'function' && typeof f.listNames === 'function';
}

/** Multipart uploads in flight (S3): the registry never aborts those a client abandons. */
export interface MultipartUploads {
  /** Uploads in flight whose key is below the driver path `under`. */
  listMultipartUploads(under?: string): AsyncIterable<{ key: string; uploadId: string; initiated: Date }>;
  abortMultipartUpload(key: string, uploadId: string): Promise<void>;
}

export function hasMultipartUploads(d: StorageDriver): d is StorageDriver & MultipartUploads {
  const m = d as Partial<MultipartUploads>;
  return typeof m.listMultipartUploads === 'function' && typeof m.abortMultipartUpload === 'function';
}

/**
 * Leftovers of the driver's own crash-safe writes, outside the registry's layout (filesystem: the
 * `.regbucket-staging-*` directories and clock probes in the store root that a killed process
 * leaves). gc removes stale ones with the driver's delete, which refuses unsafe trees.
 */
export interface WriteDebris {
  /** Driver paths of the leftovers, with their modification times. */
  listWriteDebris(): Promise<FileInfo[]>;
}

export function hasWriteDebris(d: StorageDriver): d is StorageDriver & WriteDebris {
  return typeof (d as Partial<WriteDebris>).listWriteDebris === 'function';
}

const componentRe = /^[A-Za-z0-9._-]+$/;

/** Throws InvalidPathError unless `path` is "/" or "/" + components joined by "/" (no `.` or `..`). */
export function checkPath(driver: string, path: string): void {
  if (path === '/') return;
  if (!path.startsWith('/') || path.endsWith('/')) throw new InvalidPathError(driver, path);
  const parts = path.slice(1).split('/');
  for (const p of parts) {
    if (!componentRe.test(p) || p === '.' || p === '..') throw new InvalidPathError(driver, path);
  }
}

/** Parent directory of a checked path. */
export function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** True for a walked entry that is a plain file (S3 entries carry no type). */
export function isPlainFile(f: FileInfo): boolean {
  return !f.isDir && (f.type === undefined || f.type === 'file');
}
