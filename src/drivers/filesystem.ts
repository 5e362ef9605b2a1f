import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type Dirent } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PathNotFoundError, RegbucketError, StorageError } from '../errors.js';
import { whenClosed } from '../util/write-stream.js';
import { checkPath, joinPath, type FileInfo, type StorageDriver } from './driver.js';

/** Staging directories sit in the store root, outside the registry's `docker/` tree: nothing lists them. */
const STAGING_PREFIX = '.regbucket-staging-';
/** Writes into a directory that another process deletes meanwhile are tried this many times. */
const VANISHED_DIR_ATTEMPTS = 4;

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') return false;
    throw err;
  }
}

/** Writes a new file and fsyncs it, so a rename after it never exposes unwritten bytes. */
async function writeSynced(file: string, data: Buffer | string): Promise<void> {
  const fh = await fs.open(file, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * A directory with the meaning of the registry's `storage.filesystem.rootdirectory`.
 * Small writes and streams go to `<path>.<uuid>.tmp` beside the target, are fsynced and renamed
 * into place (what distribution 3.1 does), so a crash never leaves a half-written link.
 */
export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  readonly prefersFlatListing = false;

  constructor(readonly root: string) {}

  /** LocalPaths capability (driver.ts). */
  get localRoot(): string {
    return this.root;
  }

  private full(path: string): string {
    checkPath(this.name, path);
    return path === '/' ? this.root : nodePath.join(this.root, ...path.slice(1).split('/'));
  }

  private inside(p: string): boolean {
    const rel = nodePath.relative(this.root, p);
    return rel !== '' && !rel.startsWith('..') && !nodePath.isAbsolute(rel);
  }

  private notFound(err: unknown, path: string): never {
    if (err instanceof RegbucketError) throw err;
    if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') throw new PathNotFoundError(this.name, path);
    throw new StorageError(this.name, `${path}: ${(err as Error).message}`, { cause: err });
  }

  async getContent(path: string): Promise<Buffer> {
    const f = this.full(path);
    try {
      return await fs.readFile(f);
    } catch (err) {
      if (code(err) === 'EISDIR') throw new PathNotFoundError(this.name, path);
      this.notFound(err, path);
    }
  }

  private async commitTemp(tmp: string, target: string): Promise<void> {
    await fs.rename(tmp, target);
    // fsync the directory so the rename itself survives a power cut.
    const dir = await fs.open(nodePath.dirname(target), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  async putContent(path: string, data: Buffer | string): Promise<void> {
    const target = this.full(path);
    // A gc deleting a directory (an old blob's) while this writes into it takes the temp file
    // with it: the directory is made again and the write repeated.
    for (let attempt = 1; ; attempt++) {
      if (await this.putInNewDirectories(path, target, data)) return;
      await fs.mkdir(nodePath.dirname(target), { recursive: true });
      const tmp = `${target}.${randomUUID()}.tmp`;
      try {
        await writeSynced(tmp, data);
        await this.commitTemp(tmp, target);
        return;
      } catch (err) {
        await fs.rm(tmp, { force: true });
        if (code(err) === 'ENOENT' && attempt < VANISHED_DIR_ATTEMPTS) continue;
        throw new StorageError(this.name, `writing ${path}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  /**
   * A file whose directories do not exist yet: the new directories and the file are built in a
   * private staging directory and the topmost one is renamed into place, so they appear whole.
   * A directory is what the registry lists (a tag, a revision, a repository): made first and
   * filled later, a write cut short by a crash would leave, say, a tag that is listed but has no
   * `current` link. False when the parent exists, or another writer made the directory meanwhile.
   */
  private async putInNewDirectories(path: string, target: string, data: Buffer | string): Promise<boolean> {
    let top = nodePath.dirname(target);
    if (await exists(top)) return false;
    for (;;) {
      if (!this.inside(top)) return false; // a new store: nothing anyone lists yet
      const up = nodePath.dirname(top);
      if (await exists(up)) break;
      top = up;
    }
    const staging = nodePath.join(this.root, STAGING_PREFIX + randomUUID());
    const stagedTop = nodePath.join(staging, nodePath.basename(top));
    const staged = nodePath.join(stagedTop, nodePath.relative(top, target));
    try {
      await fs.mkdir(nodePath.dirname(staged), { recursive: true });
      await writeSynced(staged, data);
      try {
        await this.commitTemp(stagedTop, top);
      } catch (err) {
        if (['EEXIST', 'ENOTEMPTY', 'EXDEV'].includes(code(err) ?? '')) return false;
        throw err;
      }
      return true;
    } catch (err) {
      throw new StorageError(this.name, `writing ${path}: ${(err as Error).message}`, { cause: err });
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
    }
  }

  async reader(path: string, offset = 0): Promise<Readable> {
    const f = this.full(path);
    try {
      const st = await fs.stat(f);
      if (st.isDirectory()) throw new PathNotFoundError(this.name, path);
    } catch (err) {
      if (err instanceof PathNotFoundError) throw err;
      this.notFound(err, path);
    }
    return createReadStream(f, { start: offset, highWaterMark: 1 << 20 });
  }

  async putStream(path: string, data: Readable): Promise<number> {
    const target = this.full(path);
    await fs.mkdir(nodePath.dirname(target), { recursive: true });
    const tmp = `${target}.${randomUUID()}.tmp`;
    const out = createWriteStream(tmp, { highWaterMark: 1 << 20 });
    try {
      await pipeline(data, out);
      const fh = await fs.open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.commitTemp(tmp, target);
      return out.bytesWritten;
    } catch (err) {
      if (!out.destroyed) out.destroy();
      await whenClosed(out);
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  async stat(path: string): Promise<FileInfo> {
    try {
      const st = await fs.stat(this.full(path));
      return { path, size: st.isDirectory() ? 0 : st.size, modTime: st.mtime, isDir: st.isDirectory() };
    } catch (err) {
      this.notFound(err, path);
    }
  }

  async list(path: string): Promise<string[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.full(path));
    } catch (err) {
      this.notFound(err, path);
    }
    return names.sort().map((n) => joinPath(path, n));
  }

  async *walk(path: string): AsyncIterable<FileInfo> {
    checkPath(this.name, path);
    const stack = [path];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      let entries: Dirent[];
      try {
        entries = await fs.readdir(this.full(dir), { withFileTypes: true });
      } catch (err) {
        if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') continue;
        throw new StorageError(this.name, `listing ${dir}: ${(err as Error).message}`, { cause: err });
      }
      for (const e of entries) {
        const p = joinPath(dir, e.name);
        if (e.isDirectory()) stack.push(p);
        else if (e.isFile()) {
          try {
            const st = await fs.stat(this.full(p));
            yield { path: p, size: st.size, modTime: st.mtime, isDir: false };
          } catch (err) {
            if (code(err) !== 'ENOENT') throw err;
          }
        }
        // Symlinks and other special files are not part of the layout: never followed.
      }
    }
  }

  async move(source: string, dest: string): Promise<void> {
    const s = this.full(source);
    const d = this.full(dest);
    for (let attempt = 1; ; attempt++) {
      await fs.mkdir(nodePath.dirname(d), { recursive: true });
      try {
        await fs.rename(s, d);
        return;
      } catch (err) {
        // The destination's directory deleted meanwhile (see putContent), not a missing source.
        if (code(err) === 'ENOENT' && attempt < VANISHED_DIR_ATTEMPTS && (await exists(s))) continue;
        this.notFound(err, source);
      }
    }
  }

  async delete(path: string): Promise<void> {
    const f = this.full(path);
    try {
      await fs.lstat(f);
    } catch (err) {
      this.notFound(err, path);
    }
    await fs.rm(f, { recursive: true, force: true });
  }

  async deleteFiles(paths: string[]): Promise<void> {
    const files = paths.map((p) => this.full(p)); // every path checked before any is deleted
    for (const f of files) await fs.rm(f, { force: true });
  }

  async touch(path: string): Promise<void> {
    const now = new Date();
    try {
      await fs.utimes(this.full(path), now, now);
    } catch (err) {
      this.notFound(err, path);
    }
  }

  /**
   * The file system's clock minus this machine's (ms): the mtime of an empty file written now in
   * the store root, beside the staging directories (a network file system stamps its own time).
   * Undefined when the root is not writable.
   */
  async clockOffset(): Promise<number | undefined> {
    const f = nodePath.join(this.root, `${STAGING_PREFIX}clock-${randomUUID()}`);
    const before = Date.now();
    try {
      await fs.writeFile(f, '', { flag: 'wx' });
      const st = await fs.lstat(f);
      // Whole seconds: a local disk's coarse timestamps lag by milliseconds, which is no skew.
      return Math.round((st.mtimeMs - (before + Date.now()) / 2) / 1000) * 1000;
    } catch {
      return undefined;
    } finally {
      await fs.rm(f, { force: true }).catch(() => {});
    }
  }

  async close(): Promise<void> {}
}
