// The ignore-not-found pattern in one place: a path that does not exist is an answer (no link, an
// empty listing, nothing left to delete), any other failure is not. Thunks, not promises, so a
// driver method that throws synchronously is treated as one that rejects.
import { isNotFound } from '../errors.js';

/** `work`'s value, or `fallback` when it fails because its store path does not exist. */
export async function orIfNotFound<T, F>(work: () => Promise<T>, fallback: F): Promise<T | F> {
  try {
    return await work();
  } catch (err) {
    if (isNotFound(err)) return fallback;
    throw err;
  }
}

/** Waits for `work`; its store path not existing (deleted meanwhile, never there) is no failure. */
export async function ignoreNotFound(work: () => Promise<unknown>): Promise<void> {
  await orIfNotFound(work, undefined);
}

/** A filesystem error saying the path, or a directory on the way to it, does not exist. */
export function isMissingFile(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
