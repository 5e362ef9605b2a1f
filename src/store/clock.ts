// The storage's clock. Ages (gc --min-age, upload purges, a push deciding whether a reused blob
// needs its time refreshed) compare times the storage stamped (S3 LastModified, file mtimes) with
// "now": that "now" must come from the storage's clock too, not this machine's, or a machine
// whose clock runs ahead sees a push in progress as old garbage.
import type { StorageDriver } from '../drivers/driver.js';

export interface StorageClock {
  /** The storage's time minus this machine's (ms); undefined when the storage does not say. */
  offsetMs: number | undefined;
}

/** Drivers that can read their storage's clock (S3: the Date header; filesystem: a new file's mtime). */
interface ClockedDriver {
  clockOffset(): Promise<number | undefined>;
}

function hasClock(d: StorageDriver): d is StorageDriver & ClockedDriver {
  return typeof (d as Partial<ClockedDriver>).clockOffset === 'function';
}

const cache = new WeakMap<StorageDriver, Promise<StorageClock>>();

/**
 * The storage's clock offset, read once per driver (a driver without a clock of its own, like
 * the in-memory one, shares this process's: offset 0).
 */
export function storageClock(d: StorageDriver): Promise<StorageClock> {
  let c = cache.get(d);
  if (!c) {
    c = hasClock(d) ? d.clockOffset().then((offsetMs) => ({ offsetMs })) : Promise.resolve({ offsetMs: 0 });
    // A failed reading is not remembered: the next caller asks again.
    c.catch(() => cache.delete(d));
    cache.set(d, c);
  }
  return c;
}

/** The storage's time now, or this machine's when the storage does not say. */
export async function storageNow(d: StorageDriver): Promise<number> {
  const { offsetMs } = await storageClock(d);
  return Date.now() + (offsetMs ?? 0);
}
