import { createHash } from 'node:crypto';
import { hasLocalPaths, type StorageDriver } from '../../drivers/driver.js';
import { UnsafePathError } from '../../errors.js';
import type { HazardLog } from '../../store/hazards.js';
import type { Digest } from '../../image/digest.js';
import { blobDataPath } from '../../store/paths.js';
import { HashPool, type HashResult } from './thread-pool.js';
import { orIfNotFound } from '../../util/not-found.js';

/** Where the bytes of a remote store's blob are hashed: on the main thread, or passed to the workers. */
export type StreamHashing = 'main' | 'workers';

export interface BlobHasherOptions {
  /** Hashing threads (default: one per core). */
  threads: number;
  streamHashing?: StreamHashing;
  /** Where a symlink or special file met is logged (it is then reported missing); else it throws. */
  hazards?: HazardLog;
}

/**
 * Hashes blobs of a store by digest. Filesystem stores: a worker reads the data file itself.
 * Others: the driver's reader streams it and the bytes are hashed as they arrive.
 */
export class BlobHasher {
  private pool?: HashPool;
  private readonly local?: { root: string; proc: boolean };
  private readonly localMissing: boolean = false;

  constructor(
    private readonly d: StorageDriver,
    private readonly opts: BlobHasherOptions,
  ) {
    if (hasLocalPaths(d)) {
      const c = d.confinement();
      if (c) this.local = { root: c.realRoot, proc: c.proc };
      else this.localMissing = true;
    }
    if (this.local !== undefined || opts.streamHashing === 'workers') this.pool = new HashPool(opts.threads);
  }

  /** How many blobs to hash at once: a queue for the workers to take from locally; remote stores want requests in flight. */
  parallelism(requests: number): number {
    return this.local !== undefined ? this.opts.threads * 32 : Math.max(requests, this.opts.threads);
  }

  /** The blob's digest and size as its bytes say; undefined when its data does not exist. */
  async hash(digest: Digest, onBytes?: (n: number) => void): Promise<HashResult | undefined> {
    try {
      return await this.hashRaw(digest, onBytes);
    } catch (err) {
      if (!(err instanceof UnsafePathError) || !this.opts.hazards) throw err;
      this.opts.hazards.add(err);
      return undefined;
    }
  }

  private async hashRaw(digest: Digest, onBytes?: (n: number) => void): Promise<HashResult | undefined> {
    const path = blobDataPath(digest);
    if (this.localMissing) return undefined;
    if (this.local !== undefined) return this.pool!.hashFile(this.local, path, onBytes);
    const stream = await orIfNotFound(() => this.d.reader(path), undefined);
    if (!stream) return undefined;
    if (this.pool) return this.pool.hashStream(stream, onBytes);
    const h = createHash('sha256');
    let size = 0;
    for await (const c of stream) {
      const chunk = c as Buffer;
      h.update(chunk);
      size += chunk.length;
      onBytes?.(chunk.length);
    }
    return { digest: `sha256:${h.digest('hex')}`, size };
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}
