// The body of a hashing worker thread. It is started from its source text
// (Function.prototype.toString, `eval: true`) so that the same code runs from dist/, under tsx and
// under vitest without a loader for .ts workers: it must not refer to anything outside its own
// body, imports included, and requires what it needs.

/** Size of the shared claim table: more than the file jobs ever open at once. */
export const CLAIM_SLOTS = 1 << 16;

/** Main thread -> worker. */
export type HashRequest =
  /** A store file: `rel` below the resolved store `root` (confine-sync.ts rules: no symlink, regular files only). */
  { op: 'file'; id: number; root: string; rel: string; proc: boolean } | { op: 'begin'; id: number } | { op: 'chunk'; id: number; buf: ArrayBuffer; len: number } | { op: 'end'; id: number };

/** Worker -> main thread. */
export type HashReply =
  /** Bytes hashed since the last report (big files); a result reports the rest. */
  | { id: number; progress: number }
  | { id: number; ack: number }
  | { id: number; digest: string; size: number }
  | { id: number; missing: true }
  /** A symlink or special file on the way (`at`: local path); nothing was read. */
  | { id: number; hazard: 'symlink' | 'special' | 'loop'; at: string }
  | { id: number; error: string };

export function hashWorkerMain(confine: (fs: typeof import('node:fs')) => import('../../util/confine-sync.js').ConfinedFs): void {
  const threads = require('node:worker_threads') as typeof import('node:worker_threads');
  const { parentPort } = threads;
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  const fs = require('node:fs') as typeof import('node:fs');
  const cfs = confine(fs);
  const port = parentPort!;
  // 128 KiB reads stay in L2 between the copy from the page cache and the hash (1 MiB: ~7% slower).
  const CHUNK = 128 << 10;
  const PROGRESS_EVERY = 32 << 20;
  const buf = Buffer.allocUnsafe(CHUNK);
  const streams = new Map<number, { hash: import('node:crypto').Hash; size: number }>();
  const reply = (r: HashReply): void => port.postMessage(r);
  // claims[id % size] holds `id` while file job `id` is unclaimed: every worker is sent every file
  // job, and the one that swaps the id out first runs it.
  const claims = threads.workerData as Int32Array;
  const claim = (id: number): boolean => Atomics.compareExchange(claims, id % claims.length, id, -id) === id;

  // Synchronous reads: this thread does nothing else, and per-file costs stay low for the many
  // small blobs (configs, manifests) of a real store. Jobs queue up as messages.
  function hashFile(id: number, root: string, rel: string, proc: boolean): void {
    let fd: number;
    try {
      const o = cfs.open(root, rel, fs.constants.O_RDONLY, proc);
      if ('refused' in o) return reply(o.refused === 'missing' ? { id, missing: true } : { id, hazard: o.refused, at: o.at });
      if (o.st.isDirectory()) {
        fs.closeSync(o.fd);
        return reply({ id, missing: true });
      }
      fd = o.fd;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return reply({ id, missing: true });
      return reply({ id, error: (err as Error).message });
    }
    try {
      const hash = createHash('sha256');
      let size = 0;
      let reported = 0;
      for (;;) {
        const n = fs.readSync(fd, buf, 0, CHUNK, null);
        if (n === 0) break;
        hash.update(n === CHUNK ? buf : buf.subarray(0, n));
        size += n;
        if (size - reported >= PROGRESS_EVERY) {
          reply({ id, progress: size - reported });
          reported = size;
        }
      }
      // The bytes not reported yet travel with the result: one message for a small file.
      reply({ id, digest: `sha256:${hash.digest('hex')}`, size });
    } catch (err) {
      reply({ id, error: (err as Error).message });
    } finally {
      fs.closeSync(fd);
    }
  }

  port.on('message', (m: HashRequest) => {
    switch (m.op) {
      case 'file':
        if (claim(m.id)) hashFile(m.id, m.root, m.rel, m.proc);
        break;
      case 'begin':
        streams.set(m.id, { hash: createHash('sha256'), size: 0 });
        break;
      case 'chunk': {
        const s = streams.get(m.id)!;
        s.hash.update(new Uint8Array(m.buf, 0, m.len));
        s.size += m.len;
        reply({ id: m.id, ack: m.len });
        break;
      }
      case 'end': {
        const s = streams.get(m.id)!;
        streams.delete(m.id);
        reply({ id: m.id, digest: `sha256:${s.hash.digest('hex')}`, size: s.size });
        break;
      }
    }
  });
}
