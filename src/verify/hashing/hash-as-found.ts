import type { BlobHasher } from './blob-hasher.js';
import type { HashResult } from './thread-pool.js';
import type { BlobInfo } from '../inventory.js';

export interface HashFeedProgress {
  done: number;
  total: number;
  bytes: number;
  totalBytes: number;
}

/**
 * Blobs go in as they are found and are hashed at once, at most `limit` at a time: `add` waits
 * for room, which holds the scan back instead of queueing a million blobs. The first error
 * surfaces from the next `add` or from `drain`.
 */
export class HashFeed {
  private running = 0;
  private waiters: (() => void)[] = [];
  private failed?: { err: unknown };
  private readonly p: HashFeedProgress = { done: 0, total: 0, bytes: 0, totalBytes: 0 };

  constructor(
    private readonly hasher: BlobHasher,
    private readonly limit: number,
    private readonly onResult: (b: BlobInfo, r: HashResult | undefined) => void,
    private readonly onProgress: (p: HashFeedProgress) => void,
  ) {}

  private async room(): Promise<void> {
    while (this.running >= this.limit && !this.failed) await new Promise<void>((r) => this.waiters.push(r));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }

  async add(b: BlobInfo): Promise<void> {
    await this.room();
    if (this.failed) throw this.failed.err;
    this.running++;
    this.p.total++;
    this.p.totalBytes += b.size ?? 0;
    this.hasher
      .hash(b.digest, (n) => {
        this.p.bytes += n;
        this.onProgress(this.p);
      })
      .then(
        (r) => {
          this.p.done++;
          this.onResult(b, r);
          this.onProgress(this.p);
        },
        (err: unknown) => {
          this.failed ??= { err };
        },
      )
      .finally(() => {
        this.running--;
        this.wake();
      });
  }

  /** Waits for every blob added so far. */
  async drain(): Promise<void> {
    while (this.running > 0) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failed) throw this.failed.err;
  }
}
