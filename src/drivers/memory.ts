import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { PathNotFoundError } from '../errors.js';
import { checkPath, type FileInfo, type StorageDriver } from './driver.js';

interface Entry {
  data: Buffer;
  modTime: Date;
}

/** In-memory driver for unit tests. Directories are implicit, as on S3. */
export class MemoryDriver implements StorageDriver {
  readonly name = 'memory';
  readonly prefersFlatListing = true;
  private readonly files = new Map<string, Entry>();

  private check(path: string): void {
    checkPath(this.name, path);
  }

  private prefix(path: string): string {
    return path === '/' ? '/' : `${path}/`;
  }

  async getContent(path: string): Promise<Buffer> {
    this.check(path);
    const e = this.files.get(path);
    if (!e) throw new PathNotFoundError(this.name, path);
    return Buffer.from(e.data);
  }

  async putContent(path: string, data: Buffer | string): Promise<void> {
    this.check(path);
    this.files.set(path, { data: Buffer.from(data), modTime: new Date() });
  }

  async reader(path: string, offset = 0): Promise<Readable> {
    const data = await this.getContent(path);
    return Readable.from([data.subarray(Math.min(offset, data.length))]);
  }

  async putStream(path: string, data: Readable): Promise<number> {
    this.check(path);
    const chunks: Buffer[] = [];
    for await (const c of data) chunks.push(Buffer.from(c as Uint8Array));
    const buf = Buffer.concat(chunks);
    this.files.set(path, { data: buf, modTime: new Date() });
    return buf.length;
  }

  async stat(path: string): Promise<FileInfo> {
    this.check(path);
    const e = this.files.get(path);
    if (e) return { path, size: e.data.length, modTime: e.modTime, isDir: false };
    const p = this.prefix(path);
    for (const [k, v] of this.files) {
      if (k.startsWith(p)) return { path, size: 0, modTime: v.modTime, isDir: true };
    }
    throw new PathNotFoundError(this.name, path);
  }

  async list(path: string): Promise<string[]> {
    this.check(path);
    const p = this.prefix(path);
    const out = new Set<string>();
    for (const k of this.files.keys()) {
      if (!k.startsWith(p)) continue;
      const rest = k.slice(p.length);
      out.add(p + rest.split('/')[0]);
    }
    if (out.size === 0 && path !== '/') throw new PathNotFoundError(this.name, path);
    return [...out].sort();
  }

  async *walk(path: string): AsyncIterable<FileInfo> {
    this.check(path);
    const p = this.prefix(path);
    for (const [k, v] of [...this.files]) {
      // Listings carry an ETag as S3's do (the MD5 of a single-part object), so flat-listing
      // code paths that trust it are exercised in unit tests too.
      if (k.startsWith(p)) yield { path: k, size: v.data.length, modTime: v.modTime, isDir: false, etag: createHash('md5').update(v.data).digest('hex') };
    }
  }

  async move(source: string, dest: string): Promise<void> {
    this.check(source);
    this.check(dest);
    const e = this.files.get(source);
    if (!e) throw new PathNotFoundError(this.name, source);
    this.files.set(dest, e);
    this.files.delete(source);
  }

  async delete(path: string): Promise<void> {
    this.check(path);
    const p = this.prefix(path);
    let found = this.files.delete(path);
    for (const k of [...this.files.keys()]) {
      if (k.startsWith(p)) {
        this.files.delete(k);
        found = true;
      }
    }
    if (!found) throw new PathNotFoundError(this.name, path);
  }

  async deleteFiles(paths: string[]): Promise<void> {
    for (const path of paths) this.check(path); // every path checked before any is deleted
    for (const path of paths) this.files.delete(path);
  }

  async touch(path: string): Promise<void> {
    this.check(path);
    const e = this.files.get(path);
    if (!e) throw new PathNotFoundError(this.name, path);
    e.modTime = new Date();
  }

  /** Test hook: set a file's modification time. */
  setModTime(path: string, modTime: Date): void {
    const e = this.files.get(path);
    if (e) e.modTime = modTime;
  }

  async close(): Promise<void> {}
}
