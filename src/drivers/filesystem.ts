import { randomUUID } from 'node:crypto';
import * as fsSync from 'node:fs';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ChangedDuringDeleteError, PathNotFoundError, RegbucketError, StorageError, UnsafePathError } from '../errors.js';
import { interrupted } from '../util/interrupt.js';
import { whenClosed } from '../util/write-stream.js';
import { confinedFs, type OpenRefusal } from '../util/confine-sync.js';
import { basename, checkPath, dirname, joinPath, type EntryType, type FileInfo, type ListedDir, type ListedEntry, type StorageDriver } from './driver.js';
import { byPath } from '../util/compare.js';
import { isMissingFile } from '../util/not-found.js';
import { eachLimit } from '../util/each-limit.js';

/** Staging directories sit in the store root, outside the registry's `docker/` tree: nothing lists them. */
const STAGING_PREFIX = '.regbucket-staging-';
const STAGING_NAME = /^\.regbucket-staging-(?:clock-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/**
 * removeDirAt empties this many subdirectories of one directory at once (each holds a handle while
 * it goes: at most this many per level of the tree are open).
 */
const SUBDIRS_AT_ONCE = 4;
/** Writes into a directory that another process deletes meanwhile are tried this many times. */
const VANISHED_DIR_ATTEMPTS = 4;
/** getContent's bound when the caller gives none: a manifest's (image/manifest.ts). */
export const SMALL_FILE_MAX = 4 * 1024 * 1024;
/** delete() removes a directory of at most this many entries synchronously (smallTree). */
const SMALL_TREE = 256;
/** deleteFiles' unlinks in flight (each holds a directory handle open). */
const DELETE_FILES_AT_ONCE = 16;
/** listTree lists this many directories synchronously between turns of the event loop (signals, progress). */
const TREE_DIRS_PER_TURN = 128;

const cfs = confinedFs(fsSync);
const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = fsSync.constants;
const NEW_FILE = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function ignoreMissing(err: unknown): void {
  if (!isMissingFile(err)) throw err;
}

function entryType(e: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): EntryType {
  return e.isFile() ? 'file' : e.isDirectory() ? 'dir' : e.isSymbolicLink() ? 'symlink' : 'other';
}

/** Writes a new file (never through a symlink) and fsyncs it, so a rename after it never exposes unwritten bytes. */
async function writeSynced(file: string, data: Buffer | string): Promise<void> {
  const fh = await fs.open(file, NEW_FILE, 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** An open directory of the store, checked: children are named through it, not through the path again. */
interface DirHandle {
  fd: number;
  /** The local path of a child of this directory. */
  child(name: string): string;
}

/**
 * A directory with the meaning of the registry's `storage.filesystem.rootdirectory`.
 * Small writes and streams go to `<path>.<uuid>.tmp` beside the target, are fsynced and renamed
 * into place (what distribution 3.1 does), so a crash never leaves a half-written link.
 *
 * Containment: no operation follows a symlink on any component or leaves the root, and only
 * regular files and directories are opened (confine-sync.ts). A symlink, FIFO, socket or device
 * met on the way is an UnsafePathError; listings and walks report it with its entry type instead.
 * Small reads are bounded on the opened handle. A deletion never goes through or removes a symlink.
 */
export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  readonly prefersFlatListing = false;
  private real?: string;
  private proc = false;

  constructor(readonly root: string) {}

  /**
   * LocalPaths capability (driver.ts). Code that opens files by local path must open them as
   * confine-sync.ts does (see confinement()): the path may go through a symlink.
   */
  get localRoot(): string {
    return this.root;
  }

  /** The root resolved once (undefined while it does not exist), and whether /proc checks opened handles. */
  confinement(): { realRoot: string; proc: boolean } | undefined {
    if (this.real === undefined) {
      try {
        this.real = fsSync.realpathSync(this.root);
      } catch (err) {
        if (isMissingFile(err)) return undefined;
        throw new StorageError(this.name, `store root ${this.root}: ${(err as Error).message}`, { cause: err });
      }
      this.proc = cfs.procWorks(this.real);
    }
    return { realRoot: this.real, proc: this.proc };
  }

  private refused(r: OpenRefusal, path: string, realRoot: string): never {
    if (r.refused === 'missing') throw new PathNotFoundError(this.name, path);
    throw new UnsafePathError(this.name, r.at.slice(realRoot.length) || '/', r.refused);
  }

  private fail(err: unknown, what: string): never {
    if (err instanceof RegbucketError) throw err;
    if (isMissingFile(err)) throw new PathNotFoundError(this.name, what);
    throw new StorageError(this.name, `${what}: ${(err as Error).message}`, { cause: err });
  }

  /** Opens a checked path; the handle is a regular file or a directory, reached without a symlink. */
  private openAt(path: string, flags: number): { fd: number; st: fsSync.Stats } {
    checkPath(this.name, path);
    const c = this.confinement();
    if (!c) throw new PathNotFoundError(this.name, path);
    let r;
    try {
      r = cfs.open(c.realRoot, path === '/' ? '' : path, flags, c.proc);
    } catch (err) {
      this.fail(err, path);
    }
    if ('refused' in r) this.refused(r, path, c.realRoot);
    return r;
  }

  private openDir(path: string): DirHandle {
    const { fd, st } = this.openAt(path, O_RDONLY | O_DIRECTORY);
    if (!st.isDirectory()) {
      fsSync.closeSync(fd);
      throw new PathNotFoundError(this.name, path);
    }
    const local = this.confinement()!.realRoot + (path === '/' ? '' : path);
    return { fd, child: (name) => (this.proc ? `/proc/self/fd/${fd}/${name}` : `${local}/${name}`) };
  }

  /** After SIGINT/SIGTERM no new file or directory is made: the run is removing its own. */
  private notInterrupted(path: string): void {
    if (interrupted()) throw new StorageError(this.name, `writing ${path}: interrupted`);
  }

  /** The directory, made (one component at a time, each checked) if missing. */
  private ensureDir(path: string): DirHandle {
    try {
      return this.openDir(path);
    } catch (err) {
      if (!(err instanceof PathNotFoundError)) throw err;
    }
    if (path === '/') {
      fsSync.mkdirSync(this.root, { recursive: true });
      return this.openDir(path);
    }
    this.notInterrupted(path);
    const parent = this.ensureDir(dirname(path));
    try {
      fsSync.mkdirSync(parent.child(basename(path)));
    } catch (err) {
      if (code(err) !== 'EEXIST') this.fail(err, path);
    } finally {
      fsSync.closeSync(parent.fd);
    }
    return this.openDir(path);
  }

  /** The entry itself (never followed): undefined when missing. */
  private lstatChild(dir: DirHandle, name: string): fsSync.Stats | undefined {
    return fsSync.lstatSync(dir.child(name), { throwIfNoEntry: false });
  }

  /** Throws UnsafePathError unless `st` is a regular file, a directory or nothing. */
  private plainOrMissing(st: fsSync.Stats | undefined, path: string): void {
    if (!st || st.isFile() || st.isDirectory()) return;
    if (st.isSymbolicLink()) throw new UnsafePathError(this.name, path, 'symlink');
    throw new UnsafePathError(this.name, path, 'special');
  }

  private syncDir(dir: DirHandle): void {
    fsSync.fsyncSync(dir.fd);
  }

  async getContent(path: string, maxBytes = SMALL_FILE_MAX): Promise<Buffer> {
    const { fd, st } = this.openAt(path, O_RDONLY);
    try {
      if (st.isDirectory()) throw new PathNotFoundError(this.name, path);
      if (st.size > maxBytes) throw new UnsafePathError(this.name, path, 'oversized', `${st.size} bytes, at most ${maxBytes} expected`);
      // Bounded on the handle: a file growing after the fstat is not read past the bound.
      const buf = Buffer.allocUnsafe(Math.min(maxBytes + 1, st.size + 4096));
      let at = 0;
      for (;;) {
        const n = fsSync.readSync(fd, buf, at, buf.length - at, at);
        if (n === 0) break;
        at += n;
        if (at > maxBytes) throw new UnsafePathError(this.name, path, 'oversized', `more than ${maxBytes} bytes`);
        if (at === buf.length) break;
      }
      return buf.subarray(0, at);
    } catch (err) {
      this.fail(err, path);
    } finally {
      fsSync.closeSync(fd);
    }
  }

  async putContent(path: string, data: Buffer | string): Promise<void> {
    checkPath(this.name, path);
    const name = basename(path);
    // A gc deleting a directory (an old blob's) while this writes into it takes the temp file
    // with it: the directory is made again and the write repeated.
    for (let attempt = 1; ; attempt++) {
      let dir: DirHandle;
      try {
        dir = this.openDir(dirname(path));
      } catch (err) {
        if (!(err instanceof PathNotFoundError)) throw err;
        if (await this.putInNewDirectories(path, data)) return;
        if (attempt >= 2 * VANISHED_DIR_ATTEMPTS) throw new StorageError(this.name, `writing ${path}: its directory keeps vanishing`);
        continue;
      }
      const tmp = dir.child(`${name}.${randomUUID()}.tmp`);
      try {
        this.plainOrMissing(this.lstatChild(dir, name), path);
        this.notInterrupted(path);
        await writeSynced(tmp, data);
        this.notInterrupted(path);
        await fs.rename(tmp, dir.child(name));
        this.syncDir(dir);
        return;
      } catch (err) {
        await fs.rm(tmp, { force: true });
        if (err instanceof RegbucketError) throw err;
        if (code(err) === 'ENOENT' && attempt < VANISHED_DIR_ATTEMPTS) continue;
        throw new StorageError(this.name, `writing ${path}: ${(err as Error).message}`, { cause: err });
      } finally {
        fsSync.closeSync(dir.fd);
      }
    }
  }

  /**
   * A file whose directories do not exist yet: the new directories and the file are built in a
   * private staging directory and the topmost one is renamed into place, so they appear whole.
   * A directory is what the registry lists (a tag, a revision, a repository): made first and
   * filled later, a write cut short by a crash would leave, say, a tag that is listed but has no
   * `current` link. False when another writer made the directory meanwhile (try again).
   */
  private async putInNewDirectories(path: string, data: Buffer | string): Promise<boolean> {
    let top = dirname(path);
    let up: DirHandle | undefined;
    while (!up) {
      const parent = dirname(top);
      if (parent === '/') {
        // A new store: nothing anyone lists yet.
        fsSync.closeSync(this.ensureDir(dirname(path)).fd);
        return false;
      }
      try {
        up = this.openDir(parent);
      } catch (err) {
        if (!(err instanceof PathNotFoundError)) throw err;
        top = parent;
      }
    }
    const staging = nodePath.join(this.confinement()!.realRoot, STAGING_PREFIX + randomUUID());
    const stagedTop = nodePath.join(staging, basename(top));
    const staged = nodePath.join(stagedTop, ...path.slice(top.length + 1).split('/'));
    try {
      await fs.mkdir(nodePath.dirname(staged), { recursive: true });
      await writeSynced(staged, data);
      try {
        this.notInterrupted(path);
        await fs.rename(stagedTop, up.child(basename(top)));
        this.syncDir(up);
      } catch (err) {
        if (['EEXIST', 'ENOTEMPTY', 'EXDEV', 'ENOENT'].includes(code(err) ?? '')) return false;
        throw err;
      }
      return true;
    } catch (err) {
      if (err instanceof RegbucketError) throw err;
      throw new StorageError(this.name, `writing ${path}: ${(err as Error).message}`, { cause: err });
    } finally {
      fsSync.closeSync(up.fd);
      await fs.rm(staging, { recursive: true, force: true });
    }
  }

  async reader(path: string, offset = 0): Promise<Readable> {
    const { fd, st } = this.openAt(path, O_RDONLY);
    if (st.isDirectory()) {
      fsSync.closeSync(fd);
      throw new PathNotFoundError(this.name, path);
    }
    return createReadStream('', { fd, start: offset, highWaterMark: 1 << 20, autoClose: true });
  }

  async putStream(path: string, data: Readable): Promise<number> {
    checkPath(this.name, path);
    this.notInterrupted(path);
    const name = basename(path);
    const dir = this.ensureDir(dirname(path));
    const tmp = dir.child(`${name}.${randomUUID()}.tmp`);
    let out: fsSync.WriteStream | undefined;
    try {
      this.plainOrMissing(this.lstatChild(dir, name), path);
      out = createWriteStream(tmp, { flags: NEW_FILE as unknown as string, mode: 0o644, highWaterMark: 1 << 20 });
      await pipeline(data, out);
      const fh = await fs.open(tmp, O_RDONLY | O_NOFOLLOW);
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      this.notInterrupted(path);
      await fs.rename(tmp, dir.child(name));
      this.syncDir(dir);
      return out.bytesWritten;
    } catch (err) {
      if (out) {
        if (!out.destroyed) out.destroy();
        await whenClosed(out);
      }
      await fs.rm(tmp, { force: true });
      if (err instanceof RegbucketError) throw err;
      if (code(err) === 'ENOENT') throw new StorageError(this.name, `writing ${path}: its directory was deleted meanwhile`, { cause: err });
      throw err;
    } finally {
      fsSync.closeSync(dir.fd);
    }
  }

  async stat(path: string): Promise<FileInfo> {
    const { fd, st } = this.openAt(path, cfs.O_PATH || O_RDONLY);
    fsSync.closeSync(fd);
    const isDir = st.isDirectory();
    return { path, size: isDir ? 0 : st.size, modTime: st.mtime, isDir, type: isDir ? 'dir' : 'file' };
  }

  /** Direct children with their types (symlinks and special files included, never followed), sorted. */
  async listEntries(path: string): Promise<ListedEntry[]> {
    const dir = this.openDir(path);
    try {
      const local = this.proc ? `/proc/self/fd/${dir.fd}` : this.confinement()!.realRoot + (path === '/' ? '' : path);
      const entries = await fs.readdir(local, { withFileTypes: true });
      return entries.map((e) => ({ path: joinPath(path, e.name), type: entryType(e) })).sort(byPath);
    } catch (err) {
      this.fail(err, path);
    } finally {
      fsSync.closeSync(dir.fd);
    }
  }

  /**
   * listTree (driver.ts), for a survey of the whole store. With /proc, a directory is opened through
   * its parent's open handle (`/proc/self/fd/<parent>/<name>` with O_NOFOLLOW | O_DIRECTORY, as
   * openat() would): no symlink is followed and nothing but a directory opens, without the /proc
   * check of a path-based open, and it is listed synchronously. That is a few syscalls a directory
   * instead of listEntries()'s checked open and thread-pool readdir, which made gc's and verify's
   * survey of a 5,000-directory store cost 0.6 s. A directory that does not open so (replaced
   * meanwhile by a symlink, a file or a special file, or named outside the path grammar) is listed
   * by listEntries(), whose error names it as any listing does.
   */
  async *listTree(path: string): AsyncIterable<ListedDir> {
    interface Held {
      fd: number;
      refs: number;
    }
    const release = (h: Held): void => {
      if (--h.refs === 0) fsSync.closeSync(h.fd);
    };
    const open = (dir: string, parent: Held | undefined): Held | undefined => {
      if (!this.confinement()?.proc) return undefined;
      try {
        if (!parent) return { fd: this.openDir(dir).fd, refs: 1 };
        checkPath(this.name, dir);
        return { fd: fsSync.openSync(`/proc/self/fd/${parent.fd}/${basename(dir)}`, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK), refs: 1 };
      } catch {
        return undefined;
      }
    };
    const pending: { dir: string; parent?: Held }[] = [{ dir: path }];
    try {
      for (let n = 1; pending.length > 0; n++) {
        if (n % TREE_DIRS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
        const { dir, parent } = pending.pop()!;
        let held: Held | undefined;
        try {
          held = open(dir, parent);
        } finally {
          if (parent) release(parent);
        }
        let entries: ListedEntry[] | undefined;
        if (held) {
          try {
            entries = fsSync.readdirSync(`/proc/self/fd/${held.fd}`, { withFileTypes: true }).map((e) => ({ path: joinPath(dir, e.name), type: entryType(e) }));
            for (const e of entries) {
              if (e.type !== 'dir') continue;
              held.refs++;
              pending.push({ dir: e.path, parent: held });
            }
          } catch {
            entries = undefined;
          } finally {
            release(held);
          }
        }
        if (!entries) {
          try {
            entries = await this.listEntries(dir);
          } catch (error) {
            yield { dir, error };
            continue;
          }
          for (const e of entries) if (e.type === 'dir') pending.push({ dir: e.path });
        }
        yield { dir, entries };
      }
    } finally {
      for (const p of pending) if (p.parent) release(p.parent);
    }
  }

  async list(path: string): Promise<string[]> {
    return (await this.listEntries(path)).map((e) => e.path);
  }

  /** Every file below `path`; symlinks and special files are yielded with their type, never followed. */
  async *walk(path: string): AsyncIterable<FileInfo> {
    checkPath(this.name, path);
    const stack = [path];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      let entries: ListedEntry[];
      try {
        entries = await this.listEntries(dir);
      } catch (err) {
        if (err instanceof PathNotFoundError) continue;
        if (err instanceof UnsafePathError && dir !== path && err.path === dir) {
          yield { path: dir, size: 0, modTime: new Date(0), isDir: false, type: err.kind === 'special' ? 'other' : 'symlink' };
          continue;
        }
        throw err;
      }
      const real = this.confinement()!.realRoot;
      for (const e of entries) {
        if (e.type === 'dir') {
          stack.push(e.path);
          continue;
        }
        const st = fsSync.lstatSync(real + e.path, { throwIfNoEntry: false });
        if (!st) continue;
        yield { path: e.path, size: st.size, modTime: st.mtime, isDir: false, type: entryType(st) };
      }
    }
  }

  async move(source: string, dest: string): Promise<void> {
    checkPath(this.name, source);
    checkPath(this.name, dest);
    for (let attempt = 1; ; attempt++) {
      const from = this.openDir(dirname(source));
      try {
        const st = this.lstatChild(from, basename(source));
        if (!st) throw new PathNotFoundError(this.name, source);
        this.plainOrMissing(st, source);
        const to = this.ensureDir(dirname(dest));
        try {
          this.plainOrMissing(this.lstatChild(to, basename(dest)), dest);
          await fs.rename(from.child(basename(source)), to.child(basename(dest)));
          return;
        } finally {
          fsSync.closeSync(to.fd);
        }
      } catch (err) {
        // The destination's directory deleted meanwhile (see putContent), not a missing source.
        if (code(err) === 'ENOENT' && attempt < VANISHED_DIR_ATTEMPTS && this.lstatChild(from, basename(source))) continue;
        this.fail(err, source);
      } finally {
        fsSync.closeSync(from.fd);
      }
    }
  }

  /** The first symlink or special file below a directory (nothing there: undefined). */
  private async hazardBelow(path: string): Promise<UnsafePathError | undefined> {
    for await (const f of this.walk(path)) {
      if (f.type === 'symlink') return new UnsafePathError(this.name, f.path, 'symlink', `inside ${path}, which is not deleted`);
      if (f.type === 'other') return new UnsafePathError(this.name, f.path, 'special', `inside ${path}, which is not deleted`);
    }
    return undefined;
  }

  /** Opens the directory `local` (its parent's handle path + its name) without following a symlink; undefined when gone. */
  private openChildDir(local: string, path: string): number | undefined {
    try {
      return fsSync.openSync(local, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (err) {
      if (code(err) === 'ENOENT') return undefined;
      if (code(err) === 'ELOOP' || code(err) === 'ENOTDIR') throw new UnsafePathError(this.name, path, 'symlink', 'it replaced a directory while that was deleted');
      throw err;
    }
  }

  /**
   * Removes a directory of at most SMALL_TREE entries in all (a tag, a revision, a blob): every
   * directory opened through its parent's handle with O_NOFOLLOW and listed once, in one
   * synchronous pass, a symlink or special file anywhere refusing the whole tree before anything
   * goes; then the files unlinked in parallel and the directories removed level by level, deepest
   * first (an unlink or rmdir may wait on the journal: on a busy machine the waits overlap in the
   * thread pool; done synchronously they took 2.5x as long). Before, a tag directory (five
   * directories, two links) was listed twice, the hazard check then the removal, each directory
   * opened and listed in its own awaited step. 'large' when the tree has more entries: nothing
   * removed, the caller takes removeDirAt.
   */
  private async removeSmallTree(parent: DirHandle, name: string, path: string): Promise<'done' | 'large'> {
    const dirs: { fd: number; local: string; here: string; depth: number; files: string[] }[] = [];
    const todo = [{ local: parent.child(name), path, depth: 0 }];
    let seen = 0;
    let open = -1; // from the removal on: dirs[0..open) still hold their handles (before it, all do)
    try {
      for (let i = 0; i < todo.length; i++) {
        const { local, path: p, depth } = todo[i]!;
        const fd = this.openChildDir(local, p);
        if (fd === undefined) continue; // gone meanwhile: nothing to remove there
        const here = this.proc ? `/proc/self/fd/${fd}` : local;
        const dir = { fd, local, here, depth, files: [] as string[] };
        dirs.push(dir);
        for (const e of fsSync.readdirSync(here, { withFileTypes: true })) {
          if (++seen > SMALL_TREE) return 'large';
          if (e.isDirectory()) todo.push({ local: `${here}/${e.name}`, path: `${p}/${e.name}`, depth: depth + 1 });
          else if (e.isFile()) dir.files.push(e.name);
          else throw new UnsafePathError(this.name, `${p}/${e.name}`, e.isSymbolicLink() ? 'symlink' : 'special', `inside ${path}, which is not deleted`);
        }
      }
      await Promise.all(dirs.flatMap((dir) => dir.files.map((f) => fs.unlink(`${dir.here}/${f}`).catch(ignoreMissing))));
      // Listed breadth first: from the end, a level at a time, each directory after everything below it,
      // each removed through its parent's handle (still open); ENOTEMPTY (written meanwhile) reaches the caller.
      open = dirs.length;
      while (open > 0) {
        const depth = dirs[open - 1]!.depth;
        const level: typeof dirs = [];
        while (open > 0 && dirs[open - 1]!.depth === depth) level.push(dirs[--open]!);
        for (const dir of level) fsSync.closeSync(dir.fd);
        await Promise.all(level.map((dir) => fs.rmdir(dir.local).catch(ignoreMissing)));
      }
      return 'done';
    } finally {
      for (const dir of open < 0 ? dirs : dirs.slice(0, open)) fsSync.closeSync(dir.fd);
    }
  }

  /**
   * Removes the directory `name` of `parent` with everything in it. Each directory is opened
   * through its parent's handle with O_NOFOLLOW and emptied through its own handle, so a
   * component swapped for a symlink while the tree goes is refused, never followed out of the
   * store (a remove by path would follow it). A tree with a symlink or special file anywhere is
   * refused before anything goes; a directory of files only (a blob's, a link's) needs no look
   * beyond its own listing. Files in parallel (an unlink may wait on the journal; on a busy
   * machine the waits overlap), then subdirectories, a few at a time; an entry written meanwhile
   * makes the rmdir fail with ENOTEMPTY, reported by the caller.
   */
  private async removeDirAt(parent: DirHandle, name: string, path: string, checked = false): Promise<void> {
    const local = parent.child(name);
    const fd = this.openChildDir(local, path);
    if (fd === undefined) return;
    const here = this.proc ? `/proc/self/fd/${fd}` : local;
    try {
      const entries = fsSync.readdirSync(here, { withFileTypes: true });
      const unsafe = entries.find((e) => !e.isDirectory() && !e.isFile());
      if (unsafe) throw new UnsafePathError(this.name, `${path}/${unsafe.name}`, unsafe.isSymbolicLink() ? 'symlink' : 'special', `inside ${path}, which is not deleted`);
      const subdirs = entries.filter((e) => e.isDirectory());
      if (subdirs.length > 0 && !checked) {
        const hazard = await this.hazardBelow(path);
        if (hazard) throw hazard;
      }
      await Promise.all(entries.filter((e) => e.isFile()).map((e) => fs.unlink(`${here}/${e.name}`).catch(ignoreMissing)));
      const dir: DirHandle = { fd, child: (n) => `${here}/${n}` };
      await eachLimit(subdirs, SUBDIRS_AT_ONCE, (e) => this.removeDirAt(dir, e.name, `${path}/${e.name}`, true));
    } finally {
      fsSync.closeSync(fd);
    }
    await fs.rmdir(local).catch(ignoreMissing);
  }

  async delete(path: string): Promise<void> {
    checkPath(this.name, path);
    if (path === '/') throw new StorageError(this.name, 'refusing to delete the store root');
    const dir = this.openDir(dirname(path));
    try {
      const name = basename(path);
      const st = this.lstatChild(dir, name);
      if (!st) throw new PathNotFoundError(this.name, path);
      this.plainOrMissing(st, path);
      if (st.isFile()) {
        await fs.unlink(dir.child(name));
        return;
      }
      if ((await this.removeSmallTree(dir, name, path)) === 'large') await this.removeDirAt(dir, name, path);
    } catch (err) {
      if (code(err) === 'ENOTEMPTY' || code(err) === 'EEXIST') throw new ChangedDuringDeleteError(this.name, path);
      this.fail(err, path);
    } finally {
      fsSync.closeSync(dir.fd);
    }
  }

  /** Creates a file that must not exist yet (a lock): false when it exists. */
  async createExclusive(path: string, data: string): Promise<boolean> {
    checkPath(this.name, path);
    const dir = this.ensureDir(dirname(path));
    try {
      await writeSynced(dir.child(basename(path)), data);
      this.syncDir(dir);
      return true;
    } catch (err) {
      if (code(err) === 'EEXIST') return false;
      this.fail(err, path);
    } finally {
      fsSync.closeSync(dir.fd);
    }
  }

  async removeEmptyDir(path: string): Promise<boolean> {
    checkPath(this.name, path);
    if (path === '/') return false;
    let dir: DirHandle;
    try {
      dir = this.openDir(dirname(path));
    } catch (err) {
      if (err instanceof PathNotFoundError) return false;
      throw err;
    }
    try {
      const st = this.lstatChild(dir, basename(path));
      if (!st) return false;
      if (!st.isDirectory()) this.plainOrMissing(st, path);
      if (!st.isDirectory()) return false;
      await fs.rmdir(dir.child(basename(path)));
      return true;
    } catch (err) {
      if (['ENOTEMPTY', 'EEXIST', 'ENOENT'].includes(code(err) ?? '')) return false;
      this.fail(err, path);
    } finally {
      fsSync.closeSync(dir.fd);
    }
  }

  /** Files in parallel (each unlink may wait on the journal): no order among them is promised. */
  async deleteFiles(paths: string[]): Promise<void> {
    for (const p of paths) checkPath(this.name, p); // every path checked before any is deleted
    let refused: UnsafePathError | undefined;
    await eachLimit(paths, DELETE_FILES_AT_ONCE, async (p) => {
      let dir: DirHandle;
      try {
        dir = this.openDir(dirname(p));
      } catch (err) {
        if (err instanceof PathNotFoundError) return;
        if (err instanceof UnsafePathError) return void (refused ??= err);
        throw err;
      }
      try {
        const st = this.lstatChild(dir, basename(p));
        if (!st) return;
        if (!st.isFile()) return void (refused ??= new UnsafePathError(this.name, p, st.isSymbolicLink() ? 'symlink' : 'special'));
        await fs.unlink(dir.child(basename(p))).catch(ignoreMissing);
      } catch (err) {
        this.fail(err, p);
      } finally {
        fsSync.closeSync(dir.fd);
      }
    });
    if (refused) throw refused;
  }

  async touch(path: string): Promise<void> {
    const { fd, st } = this.openAt(path, O_RDONLY);
    try {
      if (st.isDirectory()) throw new PathNotFoundError(this.name, path);
      const now = new Date();
      fsSync.futimesSync(fd, now, now);
    } catch (err) {
      this.fail(err, path);
    } finally {
      fsSync.closeSync(fd);
    }
  }

  /**
   * The file system's clock minus this machine's (ms): the mtime of an empty file written now in
   * the store root, beside the staging directories (a network file system stamps its own time).
   * Undefined when the root is not writable.
   */
  async clockOffset(): Promise<number | undefined> {
    const c = this.confinement();
    if (!c) return undefined;
    const f = nodePath.join(c.realRoot, `${STAGING_PREFIX}clock-${randomUUID()}`);
    const before = Date.now();
    try {
      await fs.writeFile(f, '', { flag: NEW_FILE as unknown as string });
      const st = await fs.lstat(f);
      // Whole seconds: a local disk's coarse timestamps lag by milliseconds, which is no skew.
      return Math.round((st.mtimeMs - (before + Date.now()) / 2) / 1000) * 1000;
    } catch {
      return undefined;
    } finally {
      await fs.rm(f, { force: true }).catch(() => {});
    }
  }

  /**
   * Staging directories and clock probes in the store root (`.regbucket-staging-*`): a process
   * killed in the middle of a write leaves them. Only plain files and directories with the names
   * this driver gives them; anything else there is not ours to touch.
   */
  async listWriteDebris(): Promise<FileInfo[]> {
    if (!this.confinement()) return [];
    const out: FileInfo[] = [];
    for (const e of await this.listEntries('/')) {
      if ((e.type !== 'file' && e.type !== 'dir') || !STAGING_NAME.test(basename(e.path))) continue;
      try {
        out.push(await this.stat(e.path));
      } catch (err) {
        if (!(err instanceof PathNotFoundError || err instanceof UnsafePathError)) throw err;
      }
    }
    return out;
  }

  async close(): Promise<void> {}
}
