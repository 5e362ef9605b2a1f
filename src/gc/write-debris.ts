// Leftovers of regbucket's own killed writes outside the registry's layout (a filesystem store's
// `.regbucket-staging-*` entries in its root). The registry never looks there; gc removes them
// once as old as a stale upload, so a crash leaves nothing behind for good.
import { hasWriteDebris, type StorageDriver } from '../drivers/driver.js';
import type { WriteDebrisEntry } from './store-scan.js';

/** Every leftover, or none when the backend leaves none (S3 and memory writes are atomic). */
export async function writeDebris(d: StorageDriver): Promise<WriteDebrisEntry[]> {
  if (!hasWriteDebris(d)) return [];
  return (await d.listWriteDebris()).map((f) => ({ path: f.path, modified: f.modTime.getTime() }));
}
