// A few worker threads doing small synchronous filesystem calls (thread-body.ts) in batches. On
// one thread synchronous calls wait for the disk one at a time: with a cold page cache a gc of a
// big store is bound by I/O latency. Workers keep several calls in flight and use the other
// cores. Calls made in the same turn of the event loop travel together.
import type { Worker } from 'node:worker_threads';
import { confinedFs } from '../../util/confine-sync.js';
import { StorageError, UnsafePathError, type HazardKind } from '../../errors.js';
import { FAILED, HAZARD, localOps, localWorkerMain, MISSING, TOO_BIG, type LocalReply, type LocalRequest, type LocalRoot } from './thread-body.js';
import { startThreads } from '../../util/threads.js';

const BATCH = 64;
/**
 * A read thread's young generation: its garbage is small reply arrays (file bytes live outside
 * the heap), and V8's default (up to 3 x 16 MiB a thread) made four threads cost ~60 MiB of
 * peak RSS more on a 375k-file gc (bench/gc-rss.ts).
 */
const YOUNG_GENERATION_MB = 2;

export type Op = 'read' | 'stat' | 'names';
export type ReadResult = Buffer | 'missing' | 'too-big';
export interface StatResult {
  isDir: boolean;
  mtimeMs: number;
  size: number;
}
/** What one call gets: a read's bytes, a stat (undefined: missing), a directory's names (undefined: missing). */
export type CallResult = ReadResult | StatResult | string[] | undefined;

/** The result for each path of a batch, or the error for that path. */
export function settle(paths: string[], m: LocalReply, at: LocalRoot): (CallResult | StorageError)[] {
  if (m.op === 'crash') return paths.map(() => new StorageError('filesystem', m.error));
  const error = (i: number): StorageError | undefined => {
    const e = m.errors[i];
    if (!e) return undefined;
    const hazard = /^(symlink|special|loop) (.*)$/s.exec(e);
    if (hazard) return new UnsafePathError('filesystem', hazard[2]!.slice(at.root.length) || '/', hazard[1] as HazardKind);
    return new StorageError('filesystem', `${paths[i]}: ${e}`);
  };
  if (m.op === 'read') {
    const data = Buffer.from(m.data);
    let at = 0;
    return m.status.map((s, i) => {
      if (s === FAILED || s === HAZARD) return error(i)!;
      if (s === MISSING) return 'missing';
      if (s === TOO_BIG) return 'too-big';
      at += s;
      return data.subarray(at - s, at);
    });
  }
  if (m.op === 'stat') {
    return m.status.map((s, i) => (s === FAILED || s === HAZARD ? error(i)! : s === MISSING ? undefined : { isDir: s === 2, mtimeMs: m.mtimeMs[i]!, size: m.size[i]! }));
  }
  return m.names.map((n, i) => error(i) ?? n ?? undefined);
}

interface Call {
  path: string;
  resolve(v: CallResult): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  busy: number;
}

export class LocalPool {
  private readonly slots: Slot[];
  private readonly pending = new Map<Op, Call[]>();
  private readonly inFlight = new Map<number, Call[]>();
  private nextId = 1;
  private scheduled = false;
  private broken?: Error;

  constructor(
    threads: number,
    private readonly max: number,
    private readonly at: LocalRoot,
  ) {
    this.slots = startThreads(threads, localWorkerMain, [localOps, confinedFs], undefined, { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB }).map((worker) => {
      const slot: Slot = { worker, busy: 0 };
      slot.worker.on('message', (m: LocalReply) => this.onReply(slot, m));
      slot.worker.on('error', (err) => this.fail(err));
      slot.worker.unref();
      return slot;
    });
  }

  call(op: Op, path: string): Promise<CallResult> {
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      let q = this.pending.get(op);
      if (!q) this.pending.set(op, (q = []));
      q.push({ path, resolve, reject });
      if (q.length >= BATCH) this.send(op);
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          for (const o of [...this.pending.keys()]) this.send(o);
        });
      }
    });
  }

  private send(op: Op): void {
    const calls = this.pending.get(op);
    if (!calls?.length) return;
    this.pending.delete(op);
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    this.inFlight.set(id, calls);
    if (slot.busy++ === 0) slot.worker.ref();
    const paths = calls.map((c) => c.path);
    const { root, proc } = this.at;
    const req: LocalRequest = op === 'read' ? { id, op, paths, max: this.max, root, proc } : { id, op, paths, root, proc };
    slot.worker.postMessage(req);
  }

  private onReply(slot: Slot, m: LocalReply): void {
    if (--slot.busy === 0) slot.worker.unref();
    const calls = this.inFlight.get(m.id);
    if (!calls) return;
    this.inFlight.delete(m.id);
    settle(
      calls.map((c) => c.path),
      m,
      this.at,
    ).forEach((r, i) => (r instanceof StorageError ? calls[i]!.reject(r) : calls[i]!.resolve(r)));
  }

  private fail(err: Error): void {
    this.broken ??= new StorageError('filesystem', `read thread failed: ${err.message}`, { cause: err });
    for (const calls of [...this.inFlight.values(), ...this.pending.values()]) for (const c of calls) c.reject(this.broken);
    this.inFlight.clear();
    this.pending.clear();
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
