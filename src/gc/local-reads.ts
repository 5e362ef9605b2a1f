// Reads of a local filesystem store with synchronous calls. A gc reads tens of thousands of
// tiny files (links, manifests) and stats as many; each promise-based fs call costs ~25 us of
// thread-pool round trips (readFile alone is open, fstat, read, close), while the synchronous
// call takes a few. Writes and deletes stay with the filesystem driver. The event loop is given
// a turn every few hundred calls so timers (the progress spinner) keep running.
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import * as nodePath from 'node:path';
import type { Readable } from 'node:stream';
import { basename, checkPath, joinPath, type FileInfo, type StorageDriver } from '../drivers/driver.js';
import { FilesystemDriver } from '../drivers/filesystem.js';
import { PathNotFoundError, StorageError } from '../errors.js';
import { listOrEmpty } from '../store/walk.js';

const YIELD_EVERY = 512;

class LocalReads implements StorageDriver {
  readonly name: string;
  readonly prefersFlatListing = false;
  private calls = 0;

  private readonly root: string;

  constructor(private readonly fs: FilesystemDriver) {
    this.name = fs.name;
    this.root = fs.root.endsWith(nodePath.sep) ? fs.root.slice(0, -1) : fs.root;
  }

  private full(path: string): string {
    checkPath(this.name, path); // absolute, components of [A-Za-z0-9._-], no `.` or `..`: safe to append
    return path === '/' ? this.fs.root : this.root + path;
  }

  private async turn(): Promise<void> {
    if (++this.calls % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
  }

  private fail(err: unknown, path: string): never {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') throw new PathNotFoundError(this.name, path);
    throw new StorageError(this.name, `${path}: ${(err as Error).message}`, { cause: err });
  }

  async getContent(path: string): Promise<Buffer> {
    await this.turn();
    try {
      return readFileSync(this.full(path));
    } catch (err) {
      this.fail(err, path);
    }
  }

  /** Content of a file of at most `max` bytes, with one open (no stat first); 'too-big' otherwise. */
  async getSmall(path: string, max: number): Promise<Buffer | 'too-big'> {
    await this.turn();
    let fd: number;
    try {
      fd = openSync(this.full(path), 'r');
    } catch (err) {
      this.fail(err, path);
    }
    try {
      const size = fstatSync(fd).size;
      if (size > max) return 'too-big';
      const buf = Buffer.allocUnsafe(size);
      let at = 0;
      while (at < size) {
        const n = readSync(fd, buf, at, size - at, at);
        if (n === 0) break;
        at += n;
      }
      return buf.subarray(0, at);
    } catch (err) {
      this.fail(err, path);
    } finally {
      closeSync(fd);
    }
  }

  async stat(path: string): Promise<FileInfo> {
    await this.turn();
    let st;
    try {
      st = statSync(this.full(path), { throwIfNoEntry: false });
    } catch (err) {
      this.fail(err, path);
    }
    if (!st) throw new PathNotFoundError(this.name, path);
    return { path, size: st.isDirectory() ? 0 : st.size, modTime: st.mtime, isDir: st.isDirectory() };
  }

  async list(path: string): Promise<string[]> {
    await this.turn();
    try {
      return readdirSync(this.full(path))
        .sort()
        .map((n) => joinPath(path, n));
    } catch (err) {
      this.fail(err, path);
    }
  }

  /** Names in a directory, unsorted; none when it does not exist. */
  async listNames(path: string): Promise<string[]> {
    await this.turn();
    try {
      return readdirSync(this.full(path));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      this.fail(err, path);
    }
  }

  putContent(path: string, data: Buffer | string): Promise<void> {
    return this.fs.putContent(path, data);
  }
  reader(path: string, offset?: number): Promise<Readable> {
    return this.fs.reader(path, offset);
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
  delete(path: string): Promise<void> {
    return this.fs.delete(path);
  }
  deleteFiles(paths: string[]): Promise<void> {
    return this.fs.deleteFiles(paths);
  }
  close(): Promise<void> {
    return this.fs.close();
  }
}

/** What a local store reads faster than the driver interface allows. */
export interface LocalFastReads {
  /** A file of at most `max` bytes without a stat first. */
  getSmall(path: string, max: number): Promise<Buffer | 'too-big'>;
  /** Bare names, unsorted, none for a missing directory. */
  listNames(path: string): Promise<string[]>;
}

export function hasFastReads(d: StorageDriver): d is StorageDriver & LocalFastReads {
  return d instanceof LocalReads;
}

/** Names of a directory's entries (unsorted), none when it does not exist. */
export async function entryNames(d: StorageDriver, path: string): Promise<string[]> {
  return hasFastReads(d) ? d.listNames(path) : (await listOrEmpty(d, path)).map(basename);
}

/** The driver with synchronous reads when it is a local directory; any other driver as it is. */
export function localReads(d: StorageDriver): StorageDriver {
  return d instanceof FilesystemDriver ? new LocalReads(d) : d;
}
