// sha256 on more than one core: Node hashes on the thread that calls it, so a small pool of
// worker threads does the hashing. On a filesystem a worker reads the file itself by path (no
// bytes cross threads); for other stores the main thread streams and hands 1 MiB chunks over
// (transferred, not copied again), a few in flight per stream.
import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { StorageError } from '../errors.js';
import type { Digest } from '../image/digest.js';
import { hashWorkerMain, type HashReply, type HashRequest } from './hash-worker.js';

export interface HashResult {
  digest: Digest;
  size: number;
}

const CHUNK = 1 << 20;
const CHUNKS_IN_FLIGHT = 4;

interface Job {
  resolve(r: HashResult | undefined): void;
  reject(err: Error): void;
  onBytes?: (n: number) => void;
  /** Stream jobs: chunks posted but not hashed yet, and the sender waiting for room. */
  inFlight: number;
  drained?: () => void;
}

interface Slot {
  worker: Worker;
  /** The file job it runs (one at a time per worker; stream jobs share the worker). */
  fileJob?: number;
  streams: number;
  jobs: Set<number>;
}

export class HashPool {
  private readonly slots: Slot[];
  private readonly jobs = new Map<number, Job>();
  private readonly fileQueue: { id: number; path: string }[] = [];
  private nextId = 1;
  private broken?: Error;

  constructor(readonly threads: number) {
    // esbuild's keepNames (tsx, vitest) wraps functions in a `__name` helper the worker lacks.
    const source = `var __name = (f) => f;\n(${hashWorkerMain.toString()})()`;
    this.slots = Array.from({ length: Math.max(1, threads) }, () => {
      const slot: Slot = { worker: new Worker(source, { eval: true }), streams: 0, jobs: new Set() };
      slot.worker.on('message', (m: HashReply) => this.onReply(slot, m));
      slot.worker.on('error', (err) => this.fail(slot, err));
      slot.worker.on('exit', (code) => {
        if (slot.jobs.size > 0) this.fail(slot, new Error(`hash worker exited with code ${code}`));
      });
      return slot;
    });
  }

  private fail(slot: Slot, err: Error): void {
    this.broken = new StorageError('hash', `hashing thread failed: ${err.message}`, { cause: err });
    for (const id of slot.jobs) {
      const job = this.jobs.get(id);
      job?.reject(this.broken);
      job?.drained?.();
    }
    slot.jobs.clear();
  }

  private newJob(onBytes?: (n: number) => void): { id: number; job: Job; done: Promise<HashResult | undefined> } {
    const id = this.nextId++;
    let job!: Job;
    const done = new Promise<HashResult | undefined>((resolve, reject) => {
      job = { resolve, reject, onBytes, inFlight: 0 };
    });
    this.jobs.set(id, job);
    done.catch(() => undefined); // awaited by the caller; this only keeps an early failure from being "unhandled"
    return { id, job, done };
  }

  private onReply(slot: Slot, m: HashReply): void {
    const job = this.jobs.get(m.id);
    if (!job) return;
    if ('progress' in m) return job.onBytes?.(m.progress);
    if ('ack' in m) {
      job.onBytes?.(m.ack);
      job.inFlight--;
      job.drained?.();
      return;
    }
    this.jobs.delete(m.id);
    slot.jobs.delete(m.id);
    if ('error' in m) job.reject(new StorageError('hash', m.error));
    else if ('missing' in m) job.resolve(undefined);
    else job.resolve({ digest: m.digest as Digest, size: m.size });
    if (slot.fileJob === m.id) {
      slot.fileJob = undefined;
      this.pump();
    }
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (slot.fileJob !== undefined) continue;
      const next = this.fileQueue.shift();
      if (!next) return;
      slot.fileJob = next.id;
      slot.jobs.add(next.id);
      slot.worker.postMessage({ op: 'file', id: next.id, path: next.path } satisfies HashRequest);
    }
  }

  /** sha256 of a local file, read by a worker; undefined if the file does not exist. */
  hashFile(path: string, onBytes?: (n: number) => void): Promise<HashResult | undefined> {
    if (this.broken) return Promise.reject(this.broken);
    const { id, done } = this.newJob(onBytes);
    this.fileQueue.push({ id, path });
    this.pump();
    return done;
  }

  /** sha256 of a stream, hashed by the worker with the fewest streams. */
  async hashStream(stream: Readable, onBytes?: (n: number) => void): Promise<HashResult> {
    const slot = this.slots.reduce((a, b) => (b.streams < a.streams ? b : a));
    slot.streams++;
    if (this.broken) throw this.broken;
    const { id, job, done } = this.newJob(onBytes);
    slot.jobs.add(id);
    const post = (req: HashRequest, transfer?: ArrayBuffer[]): void => slot.worker.postMessage(req, transfer);
    try {
      post({ op: 'begin', id });
      let staged = Buffer.allocUnsafeSlow(CHUNK);
      let used = 0;
      const send = async (): Promise<void> => {
        while (job.inFlight >= CHUNKS_IN_FLIGHT) await new Promise<void>((r) => (job.drained = r));
        job.inFlight++;
        const buf = staged.buffer as ArrayBuffer;
        post({ op: 'chunk', id, buf, len: used }, [buf]);
        staged = Buffer.allocUnsafeSlow(CHUNK);
        used = 0;
      };
      for await (const c of stream) {
        const chunk = c as Buffer;
        let off = 0;
        while (off < chunk.length) {
          const n = Math.min(CHUNK - used, chunk.length - off);
          chunk.copy(staged, used, off, off + n);
          used += n;
          off += n;
          if (used === CHUNK) await send();
        }
      }
      if (used > 0) await send();
      post({ op: 'end', id });
      return (await done)!;
    } catch (err) {
      // The worker drops the stream's state on `end`; its reply finds no job and is ignored.
      this.jobs.delete(id);
      slot.jobs.delete(id);
      post({ op: 'end', id });
      throw err;
    } finally {
      slot.streams--;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
