// Batches of small synchronous filesystem calls (read a small file, stat, list a directory),
// run on the main thread or in a worker thread that answers each batch in one message. Workers
// are started from the source text of these functions (`eval: true`, as the hash workers are) so
// the same code runs from dist/, under tsx and under vitest: localOps must not refer to anything
// outside its own body, imports included; it gets `require` from its caller.

/** Main thread -> worker. `paths` are absolute local paths. */
export type LocalRequest = { id: number; op: 'read'; paths: string[]; max: number } | { id: number; op: 'stat' | 'names'; paths: string[] };

/** Status per path: >= 0 a size (read) or the kind (stat: 1 file, 2 directory); negative: */
export const MISSING = -1;
export const TOO_BIG = -2;
export const FAILED = -3;

/** Worker -> main thread. */
export type LocalReply =
  /** read: status per path, the bytes of every file read one after the other. */
  | { id: number; op: 'read'; status: number[]; data: ArrayBuffer; errors: (string | null)[] }
  /** stat: status per path, and modification time and size. */
  | { id: number; op: 'stat'; status: number[]; mtimeMs: number[]; size: number[]; errors: (string | null)[] }
  /** names: entries per directory (null: missing). */
  | { id: number; op: 'names'; names: (string[] | null)[]; errors: (string | null)[] }
  | { id: number; op: 'crash'; error: string };

export interface LocalOps {
  read(paths: string[], max: number): LocalReply & { op: 'read' };
  stat(paths: string[]): LocalReply & { op: 'stat' };
  names(paths: string[]): LocalReply & { op: 'names' };
}

export function localOps(req: NodeJS.Require): LocalOps {
  const fs = req('node:fs') as typeof import('node:fs');
  const missing = (err: unknown): boolean => {
    const code = (err as { code?: string }).code;
    return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
  };
  const message = (err: unknown): string => (err as Error).message ?? String(err);

  const read = (paths: string[], max: number): LocalReply & { op: 'read' } => {
    const status: number[] = [];
    const errors: (string | null)[] = [];
    const parts: Uint8Array[] = [];
    let total = 0;
    for (const p of paths) {
      let fd = -1;
      try {
        fd = fs.openSync(p, 'r');
        const st = fs.fstatSync(fd);
        const size = st.size;
        if (st.isDirectory()) {
          status.push(-1);
        } else if (size > max) {
          status.push(-2);
        } else {
          const buf = new Uint8Array(size);
          let at = 0;
          while (at < size) {
            const n = fs.readSync(fd, buf, at, size - at, at);
            if (n === 0) break;
            at += n;
          }
          parts.push(buf.subarray(0, at));
          total += at;
          status.push(at);
        }
        errors.push(null);
      } catch (err) {
        status.push(missing(err) ? -1 : -3);
        errors.push(missing(err) ? null : message(err));
      } finally {
        if (fd >= 0) fs.closeSync(fd);
      }
    }
    const data = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      data.set(part, at);
      at += part.length;
    }
    return { id: 0, op: 'read', status, data: data.buffer, errors };
  };

  const stat = (paths: string[]): LocalReply & { op: 'stat' } => {
    const status: number[] = [];
    const mtimeMs: number[] = [];
    const size: number[] = [];
    const errors: (string | null)[] = [];
    for (const p of paths) {
      try {
        const st = fs.statSync(p, { throwIfNoEntry: false });
        status.push(st ? (st.isDirectory() ? 2 : 1) : -1);
        mtimeMs.push(st ? st.mtimeMs : 0);
        size.push(st && !st.isDirectory() ? st.size : 0);
        errors.push(null);
      } catch (err) {
        status.push(missing(err) ? -1 : -3);
        mtimeMs.push(0);
        size.push(0);
        errors.push(missing(err) ? null : message(err));
      }
    }
    return { id: 0, op: 'stat', status, mtimeMs, size, errors };
  };

  const names = (paths: string[]): LocalReply & { op: 'names' } => {
    const out: (string[] | null)[] = [];
    const errors: (string | null)[] = [];
    for (const p of paths) {
      try {
        out.push(fs.readdirSync(p));
        errors.push(null);
      } catch (err) {
        out.push(null);
        errors.push(missing(err) ? null : message(err));
      }
    }
    return { id: 0, op: 'names', names: out, errors };
  };

  return { read, stat, names };
}

/** A worker thread's body: `ops` is localOps, passed as source text too. */
export function localWorkerMain(ops: typeof localOps): void {
  const { parentPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  const port = parentPort!;
  const run = ops(require);
  port.on('message', (m: LocalRequest) => {
    try {
      const reply: LocalReply = m.op === 'read' ? run.read(m.paths, m.max) : m.op === 'stat' ? run.stat(m.paths) : run.names(m.paths);
      reply.id = m.id;
      port.postMessage(reply, reply.op === 'read' ? [reply.data] : []);
    } catch (err) {
      port.postMessage({ id: m.id, op: 'crash', error: (err as Error).message ?? String(err) });
    }
  });
}
