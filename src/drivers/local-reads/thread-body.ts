// Batches of small synchronous filesystem calls (read a small file, stat, list a directory),
// run on the main thread or in a worker thread that answers each batch in one message. Workers
// are started from the source text of these functions (`eval: true`, as the hash workers are) so
// the same code runs from dist/, under tsx and under vitest: localOps must not refer to anything
// outside its own body, imports included; it gets `require` from its caller.

import type { ConfinedFs } from '../../util/confine-sync.js';

/** Where the paths of a request are: the resolved store root, and whether /proc checks handles. */
export interface LocalRoot {
  root: string;
  proc: boolean;
}

/** Main thread -> worker. `paths` are driver paths below `root` ("" for the root itself). */
export type LocalRequest = ({ id: number; op: 'read'; paths: string[]; max: number } | { id: number; op: 'stat' | 'names'; paths: string[] }) & LocalRoot;

/** Status per path: >= 0 a size (read) or the kind (stat: 1 file, 2 directory); negative: */
export const MISSING = -1;
export const TOO_BIG = -2;
export const FAILED = -3;
/** A symlink or special file on the way (errors[i]: `<kind> <local path>`); never followed or opened. */
export const HAZARD = -4;

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
  read(at: LocalRoot, paths: string[], max: number): LocalReply & { op: 'read' };
  stat(at: LocalRoot, paths: string[]): LocalReply & { op: 'stat' };
  names(at: LocalRoot, paths: string[]): LocalReply & { op: 'names' };
}

/** `confine` is confine-sync.ts's confinedFs (passed in: workers get it as source text). */
export function localOps(req: NodeJS.Require, confine: (fs: typeof import('node:fs')) => ConfinedFs): LocalOps {
  const fs = req('node:fs') as typeof import('node:fs');
  const cfs = confine(fs);
  const O_PATH_OR_READ = cfs.O_PATH || fs.constants.O_RDONLY;
  const DIR = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY;
  /** An opened handle, or the status (and error text) for the path. */
  const open = (at: LocalRoot, p: string, flags: number): { fd: number; st: import('node:fs').Stats } | { status: number; error: string | null } => {
    const r = cfs.open(at.root, p, flags, at.proc);
    if (!('refused' in r)) return r;
    if (r.refused === 'missing') return { status: -1, error: null };
    return { status: -4, error: `${r.refused} ${r.at}` };
  };
  const missing = (err: unknown): boolean => {
    const code = (err as { code?: string }).code;
    return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
  };
  const message = (err: unknown): string => (err as Error).message ?? String(err);

  const read = (at: LocalRoot, paths: string[], max: number): LocalReply & { op: 'read' } => {
    const status: number[] = [];
    const errors: (string | null)[] = [];
    const parts: Uint8Array[] = [];
    let total = 0;
    for (const p of paths) {
      let fd = -1;
      try {
        const o = open(at, p, fs.constants.O_RDONLY);
        if ('status' in o) {
          status.push(o.status);
          errors.push(o.error);
          continue;
        }
        fd = o.fd;
        const st = o.st;
        const size = st.size;
        if (st.isDirectory()) {
          status.push(-1);
        } else if (size > max) {
          status.push(-2);
        } else {
          const buf = new Uint8Array(size);
          let got = 0;
          while (got < size) {
            const n = fs.readSync(fd, buf, got, size - got, got);
            if (n === 0) break;
            got += n;
          }
          parts.push(buf.subarray(0, got));
          total += got;
          status.push(got);
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
    let off = 0;
    for (const part of parts) {
      data.set(part, off);
      off += part.length;
    }
    return { id: 0, op: 'read', status, data: data.buffer, errors };
  };

  const stat = (at: LocalRoot, paths: string[]): LocalReply & { op: 'stat' } => {
    const status: number[] = [];
    const mtimeMs: number[] = [];
    const size: number[] = [];
    const errors: (string | null)[] = [];
    for (const p of paths) {
      try {
        const o = open(at, p, O_PATH_OR_READ);
        let st: import('node:fs').Stats | undefined;
        if ('status' in o) {
          if (o.status !== -1) {
            status.push(o.status);
            mtimeMs.push(0);
            size.push(0);
            errors.push(o.error);
            continue;
          }
        } else {
          st = o.st;
          fs.closeSync(o.fd);
        }
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

  const names = (at: LocalRoot, paths: string[]): LocalReply & { op: 'names' } => {
    const out: (string[] | null)[] = [];
    const errors: (string | null)[] = [];
    for (const p of paths) {
      try {
        const o = open(at, p, DIR);
        if ('status' in o) {
          out.push(null);
          errors.push(o.error);
          continue;
        }
        try {
          out.push(o.st.isDirectory() ? fs.readdirSync(at.proc ? `/proc/self/fd/${o.fd}` : at.root + p) : null);
        } finally {
          fs.closeSync(o.fd);
        }
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

/** A worker thread's body: `ops` is localOps and `confine` confinedFs, passed as source text too. */
export function localWorkerMain(ops: typeof localOps, confine: (fs: typeof import('node:fs')) => ConfinedFs): void {
  const { parentPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  const port = parentPort!;
  const run = ops(require, confine);
  port.on('message', (m: LocalRequest) => {
    try {
      const reply: LocalReply = m.op === 'read' ? run.read(m, m.paths, m.max) : m.op === 'stat' ? run.stat(m, m.paths) : run.names(m, m.paths);
      reply.id = m.id;
      port.postMessage(reply, reply.op === 'read' ? [reply.data] : []);
    } catch (err) {
      port.postMessage({ id: m.id, op: 'crash', error: (err as Error).message ?? String(err) });
    }
  });
}
