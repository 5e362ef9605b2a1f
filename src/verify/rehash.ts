// Re-hashing named blobs of a store (copy --verify): verify's hasher on a list instead of a scan.
import type { StorageDriver } from '../drivers/driver.js';
import type { Digest } from '../image/digest.js';
import { eachLimit } from '../util/each-limit.js';
import { BlobHasher } from './hashing/blob-hasher.js';

export interface RehashReport {
  blobs: number;
  bytes: number;
  /** Blobs whose bytes hash to another digest (`found`), or that are missing (`found` absent). */
  bad: { digest: Digest; found?: string }[];
}

export async function rehashBlobs(d: StorageDriver, digests: Iterable<Digest>, opts: { threads: number; concurrency: number; onBlob?: (r: RehashReport) => void }): Promise<RehashReport> {
  const hasher = new BlobHasher(d, { threads: opts.threads });
  const report: RehashReport = { blobs: 0, bytes: 0, bad: [] };
  try {
    await eachLimit(digests, hasher.parallelism(opts.concurrency), async (digest) => {
      const r = await hasher.hash(digest);
      report.blobs++;
      if (r) report.bytes += r.size;
      if (r?.digest !== digest) report.bad.push({ digest, ...(r ? { found: r.digest } : {}) });
      opts.onBlob?.(report);
    });
  } finally {
    await hasher.close();
  }
  return report;
}
