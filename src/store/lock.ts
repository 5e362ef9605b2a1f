// One deleting run at a time on a store (gc, verify --fix): a lock file in the store root, outside
// the registry's `docker/` tree (the registry never lists it). Held while the run lasts, its time
// refreshed every HEARTBEAT_MS; a lock whose holder is gone (same host, no such process) or whose
// time is older than EXPIRY_MS is stale and taken over. --break-lock takes any lock.
import { hostname } from 'node:os';
import type { StorageDriver } from '../drivers/driver.js';
import { isNotFound, RegbucketError, UnsafePathError } from '../errors.js';
import { onInterrupt } from '../util/interrupt.js';
import { processAlive } from '../util/process-alive.js';
import { ignoreNotFound } from '../util/not-found.js';

export const LOCK_PATH = '/.regbucket-gc.lock';
const HEARTBEAT_MS = 30_000;
export const LOCK_EXPIRY_MS = 10 * 60_000;
const MAX_LOCK_BYTES = 4096;

/** Another run holds the store's lock. Exit 1: try again later (or --break-lock). */
export class StoreLockedError extends RegbucketError {}

/** What can hold a lock: a driver that creates files exclusively (a filesystem). */
export interface ExclusiveCreate {
  createExclusive(path: string, data: string): Promise<boolean>;
}

export function canLock(d: StorageDriver): d is StorageDriver & ExclusiveCreate {
  return typeof (d as Partial<ExclusiveCreate>).createExclusive === 'function';
}

interface Holder {
  pid: number;
  host: string;
  command: string;
  started: string;
}

export interface StoreLock {
  release(): Promise<void>;
}

async function readHolder(d: StorageDriver): Promise<{ holder?: Holder; ageMs: number } | undefined> {
  try {
    const st = await d.stat(LOCK_PATH);
    let holder: Holder | undefined;
    try {
      holder = JSON.parse((await d.getContent(LOCK_PATH, MAX_LOCK_BYTES)).toString('utf8')) as Holder;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      if (err instanceof UnsafePathError) throw err;
      holder = undefined; // unreadable: judged by its age alone
    }
    return { holder, ageMs: Date.now() - st.modTime.getTime() };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Takes the store's lock for `command`, or throws StoreLockedError naming the holder. Stores
 * that cannot create a file exclusively (S3) are not locked.
 */
export async function lockStore(d: StorageDriver, command: string, opts: { breakLock?: boolean } = {}): Promise<StoreLock> {
  if (!canLock(d)) return { release: async () => {} };
  const me: Holder = { pid: process.pid, host: hostname(), command, started: new Date().toISOString() };
  const content = JSON.stringify(me);
  for (let attempt = 0; ; attempt++) {
    if (await d.createExclusive(LOCK_PATH, content)) break;
    const held = await readHolder(d);
    if (!held) continue; // released meanwhile
    const h = held.holder;
    const gone = h !== undefined && h.host === me.host && !processAlive(h.pid);
    const stale = gone || held.ageMs > LOCK_EXPIRY_MS;
    if (!stale && !opts.breakLock) {
      const who = h ? `${h.command} (pid ${h.pid} on ${h.host}, started ${h.started})` : 'another run';
      throw new StoreLockedError(
        `the store is locked by ${who}: wait for it to finish; if it is not running, pass --break-lock (the lock is ${LOCK_PATH.slice(1)} in the store root and expires ${Math.round(LOCK_EXPIRY_MS / 60_000)} minutes after its last refresh)`,
      );
    }
    if (attempt >= 3) throw new StoreLockedError(`could not take the store lock ${LOCK_PATH.slice(1)}: others keep taking it`);
    await ignoreNotFound(() => d.deleteFiles([LOCK_PATH]));
  }
  const timer = setInterval(() => {
    d.touch?.(LOCK_PATH).catch(() => undefined);
  }, HEARTBEAT_MS);
  timer.unref();
  const untrack = onInterrupt(() => release());
  const release = async (): Promise<void> => {
    untrack();
    clearInterval(timer);
    const held = await readHolder(d).catch(() => undefined);
    // Ours only: after an expiry another run may hold it now.
    if (held?.holder?.pid === me.pid && held.holder.host === me.host && held.holder.started === me.started) await d.deleteFiles([LOCK_PATH]).catch(() => undefined);
  };
  return { release };
}
