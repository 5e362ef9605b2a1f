// A StorageDriver decorator that counts calls by method: the storage round trips of a filesystem
// store (each call is one or a few syscalls; S3 counts its own requests). Deterministic, so tests
// assert the counts as numbers.
import type { Readable } from 'node:stream';
import type { FileInfo, StorageDriver } from '../../src/drivers/driver.js';

export class CountingDriver implements StorageDriver {
  readonly counts = new Map<string, number>();

  constructor(readonly inner: StorageDriver) {}

  get name(): string {
    return this.inner.name;
  }
  get prefersFlatListing(): boolean {
    return this.inner.prefersFlatListing;
  }

  private n(op: string): void {
    this.counts.set(op, (this.counts.get(op) ?? 0) + 1);
  }

  /** Counts by method, sorted by name. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => (a < b ? -1 : 1)));
  }
  total(): number {
    let t = 0;
    for (const v of this.counts.values()) t += v;
    return t;
  }
  reset(): void {
    this.counts.clear();
  }

  getContent(path: string): Promise<Buffer> {
    this.n('getContent');
    return this.inner.getContent(path);
  }
  putContent(path: string, data: Buffer | string): Promise<void> {
    this.n('putContent');
    return this.inner.putContent(path, data);
  }
  reader(path: string, offset?: number): Promise<Readable> {
    this.n('reader');
    return this.inner.reader(path, offset);
  }
  putStream(path: string, data: Readable): Promise<number> {
    this.n('putStream');
    return this.inner.putStream(path, data);
  }
  stat(path: string): Promise<FileInfo> {
    this.n('stat');
    return this.inner.stat(path);
  }
  list(path: string): Promise<string[]> {
    this.n('list');
    return this.inner.list(path);
  }
  walk(path: string): AsyncIterable<FileInfo> {
    this.n('walk');
    return this.inner.walk(path);
  }
  move(source: string, dest: string): Promise<void> {
    this.n('move');
    return this.inner.move(source, dest);
  }
  delete(path: string): Promise<void> {
    this.n('delete');
    return this.inner.delete(path);
  }
  deleteFiles(paths: string[]): Promise<void> {
    this.n('deleteFiles');
    return this.inner.deleteFiles(paths);
  }
  get touch(): ((path: string) => Promise<void>) | undefined {
    const t = this.inner.touch?.bind(this.inner);
    if (!t) return undefined;
    return (path: string) => {
      this.n('touch');
      return t(path);
    };
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
