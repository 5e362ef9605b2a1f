import type { WriteStream } from 'node:fs';

/**
 * Resolves once a file write stream has let go of its file. A stream destroyed by a failing
 * pipeline may still be opening (and creating) its file: removing the temp file before that
 * would leave it behind.
 */
export function whenClosed(out: WriteStream): Promise<void> {
  if (out.closed) return Promise.resolve();
  return new Promise((resolve) => out.once('close', () => resolve()));
}
