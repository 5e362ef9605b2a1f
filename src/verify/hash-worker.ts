// The body of a hashing worker thread. It is started from its source text
// (Function.prototype.toString, `eval: true`) so that the same code runs from dist/, under tsx and
// under vitest without a loader for .ts workers: it must not refer to anything outside its own
// body, imports included, and requires what it needs.

/** Main thread -> worker. */
export type HashRequest =
  | { op: 'file'; id: number; path: string }
  | { op: 'begin'; id: number }
  | { op: 'chunk'; id: number; buf: ArrayBuffer; len: number }
  | { op: 'end'; id: number };

/** Worker -> main thread. */
export type HashReply =
  | { id: number; progress: number }
  | { id: number; ack: number }
  | { id: number; digest: string; size: number }
  | { id: number; missing: true }
  | { id: number; error: string };

export function hashWorkerMain(): void {
  const { parentPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  const { open } = require('node:fs/promises') as typeof import('node:fs/promises');
  const port = parentPort!;
  const CHUNK = 1 << 20;
  const PROGRESS_EVERY = 32 << 20;
  const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  const streams = new Map<number, { hash: import('node:crypto').Hash; size: number }>();
  const reply = (r: HashReply): void => port.postMessage(r);

  // Two buffers: the next read runs on libuv's pool while this thread hashes the last one.
  async function hashFile(id: number, path: string): Promise<void> {
    let fh: import('node:fs/promises').FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return reply({ id, missing: true });
      return reply({ id, error: (err as Error).message });
    }
    try {
      const hash = createHash('sha256');
      let size = 0;
      let reported = 0;
      let i = 0;
      let pending = fh.read(bufs[0]!, 0, CHUNK, null);
      for (;;) {
        const { bytesRead } = await pending;
        if (bytesRead === 0) break;
        const cur = bufs[i]!;
        i ^= 1;
        pending = fh.read(bufs[i]!, 0, CHUNK, null);
        hash.update(bytesRead === CHUNK ? cur : cur.subarray(0, bytesRead));
        size += bytesRead;
        if (size - reported >= PROGRESS_EVERY) {
          reply({ id, progress: size - reported });
          reported = size;
        }
      }
      if (size > reported) reply({ id, progress: size - reported });
      reply({ id, digest: `sha256:${hash.digest('hex')}`, size });
    } catch (err) {
      reply({ id, error: (err as Error).message });
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  port.on('message', (m: HashRequest) => {
    switch (m.op) {
      case 'file':
        void hashFile(m.id, m.path);
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
