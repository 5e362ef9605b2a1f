// S3 has no atomic rename, so gc cannot claim a blob before deleting it the way it does on a
// filesystem: it reads the blob's time (HEAD) and then deletes it, and a push that refreshes the
// time of that old blob in between (to reuse it) would link a blob that is then deleted. To close
// that window gc posts a notice naming the blobs of a group before its first HEAD and removes it
// after the DeleteObjects; a push that has refreshed an old blob's time looks for notices naming
// it, waits until they are gone, and only then checks the blob is still there (store/blobs.ts):
//
//   gc:   notice --- HEAD (old) ------- delete ---- notice removed
//   push:                   touch --- [notice seen: wait] ------------ stat: absent -> write again
//
// A gc that was killed leaves its notice behind: notices older than NOTICE_EXPIRY_MS (by the
// storage's clock) are ignored, and gc never deletes a group when more than GROUP_LIMIT_MS have
// passed since it posted the notice (it keeps those blobs for its next run).
import { randomUUID } from 'node:crypto';
import type { FileInfo, StorageDriver } from '../drivers/driver.js';
import { isNotFound } from '../errors.js';
import { storageNow } from './clock.js';
import { orIfNotFound } from '../util/not-found.js';

/** Outside the registry's `docker/` tree, beside the gc lock: the registry never lists it. */
export const NOTICES_DIR = '/.regbucket-gc-notices';
export const NOTICE_EXPIRY_MS = 5 * 60_000;
/** gc skips a group's delete when its notice is older than this (well inside the expiry). */
export const GROUP_LIMIT_MS = 2 * 60_000;
const MAX_NOTICE_BYTES = 64 * 1024;
const POLL_MS = 250;

export interface Notice {
  /** False when the notice is older than GROUP_LIMIT_MS: the group must not be deleted. */
  fresh(): boolean;
  remove(): Promise<void>;
}

/** Posts a notice naming `hexes` (the blobs gc is about to check and delete). */
export async function postNotice(d: StorageDriver, hexes: string[]): Promise<Notice> {
  const path = `${NOTICES_DIR}/${randomUUID()}`;
  const posted = performance.now();
  await d.putContent(path, hexes.join('\n'));
  return {
    fresh: () => performance.now() - posted < GROUP_LIMIT_MS,
    // A notice that cannot be removed expires: the error that matters is the one being handled.
    remove: () => d.deleteFiles([path]).catch(() => undefined),
  };
}

async function* notices(d: StorageDriver): AsyncIterable<FileInfo> {
  try {
    yield* d.walk(NOTICES_DIR);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** Removes the notices of killed gc runs (older than the expiry). */
export async function removeExpiredNotices(d: StorageDriver): Promise<void> {
  const now = await storageNow(d);
  const expired: string[] = [];
  for await (const f of notices(d)) if (now - f.modTime.getTime() > NOTICE_EXPIRY_MS) expired.push(f.path);
  if (expired.length > 0) await d.deleteFiles(expired);
}

async function named(d: StorageDriver, hex: string): Promise<boolean> {
  const now = await storageNow(d);
  for await (const f of notices(d)) {
    if (now - f.modTime.getTime() > NOTICE_EXPIRY_MS || f.size > MAX_NOTICE_BYTES) continue;
    const body = await orIfNotFound(() => d.getContent(f.path, MAX_NOTICE_BYTES), undefined);
    if (!body) continue; // removed meanwhile: that gc is done with its group
    if (body.toString('utf8').split('\n').includes(hex)) return true;
  }
  return false;
}

/** Returns once no live gc notice names the blob (at most NOTICE_EXPIRY_MS, a killed gc's notice). */
export async function waitForNotices(d: StorageDriver, hex: string): Promise<void> {
  while (await named(d, hex)) await new Promise((r) => setTimeout(r, POLL_MS));
}
