// verify --checkpoint in the audit: a blob found by the scan is hashed only when the checkpoint
// has no result for the bytes it holds now (same size, modification time and ETag); otherwise
// the earlier result goes into the audit exactly as if the blob had been hashed again.
import type { StorageDriver } from '../drivers/driver.js';
import type { Digest } from '../image/digest.js';
import { statBlob } from '../store/blobs.js';
import { stampOf, type Checkpoint } from './checkpoint.js';
import type { HashFeed } from './hashing/hash-as-found.js';
import type { HashResult } from './hashing/thread-pool.js';
import type { BlobInfo } from './inventory.js';

/** `feed.add`, or the checkpoint's result for the blob; filesystem listings give no stamp: one stat. */
export function resumingFeed(d: StorageDriver, cp: Checkpoint, feed: HashFeed, hashed: Map<Digest, HashResult | undefined>): (b: BlobInfo) => Promise<void> {
  return async (b) => {
    const stamp = b.stamp ?? stampOf(await statBlob(d, b.digest));
    if (!stamp) return feed.add(b); // gone, or not a plain file: the hashing says which
    b.stamp = stamp;
    const earlier = cp.lookup(b.digest, stamp);
    if (!earlier) return feed.add(b);
    hashed.set(b.digest, earlier);
    b.size = earlier.size;
  };
}
