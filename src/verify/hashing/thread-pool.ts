// sha256 on more than one core: Node hashes on the thread that calls it, so a small pool of
// worker threads does the hashing.
// - Local files: a worker reads the file itself by path (no bytes cross threads). Every file job
//   goes to every worker and the first one free claims it (an atomic compare-and-swap on shared
//   memory): no round trip to the main thread between small files, and at the end no worker sits
//   idle while another still has a queue.
// - Streams (remote stores): the main thread reads and hands 1 MiB chunks to one worker
//   (transferred, not copied again), a few in flight per stream.
import type { Readable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { confinedFs } from '../../util/confine-sync.js';
import { StorageError, UnsafePathError } from '../../errors.js';
import type { Digest } from '../../image/digest.js';
import { CLAIM_SLOTS, hashWorkerMain, type HashReply, type HashRequest } from './thread-body.js';
import { startThreads } from '../../util/threads.js';

export interface HashResult {
  digest: Digest;
  size: number;
}

const CHUNK = 1 << 20;
const CHUNKS_IN_FLIGHT = 4;

interface Job {
  file: boolean;
  resolve(r: HashResult | undefined): void;
  reject(err: Error): void;
  onBytes?: (n: number) => void;
  /** Bytes reported through onBytes so far. */
  reported: number;
  /** Stream jobs: chunks posted but not hashed yet, and the sender waiting for room. */
  inFlight: number;
  drained?: () => void;
  /** File jobs: the store root their paths are below. */
  root?: string;
}

interface Slot {
  worker: Worker;
  /** Streams it hashes now. */
  streams: number;
}

export class HashPool {
  private readonly slots: Slot[];
  private readonly jobs = new Map<number, Job>();
  /** claims[id % CLAIM_SLOTS] holds `id` while file job `id` is unclaimed. */
  private readonly claims = new Int32Array(new SharedArrayBuffer(4 * CLAIM_SLOTS));
  private nextId = 1;
  private broken?: Error;
  /** File jobs sent and not answered; more than the claim table holds wait their turn. */
  private openFiles = 0;
  private waitingFiles: (() => void)[] = [];

  constructor(readonly threads: number) {
    this.slots = startThreads(threads, hashWorkerMain, [confinedFs], this.claims).map((worker) => {
      const slot: Slot = { worker, streams: 0 };
      slot.worker.on('message', (m: HashReply) => this.onReply(m));
      slot.worker.on('error', (err) => this.fail(err));
      slot.worker.on('exit', (code) => {
        if (this.jobs.size > 0) this.fail(new Error(`hash worker exited with code ${code}`));
      });
      return slot;
    });
  }

  /** A thread that dies takes the pool with it: every job still open fails. */
  private fail(err: Error): void {
    this.broken ??= new StorageError('hash', `hashing thread failed: ${err.message}`, { cause: err });
    for (const job of this.jobs.values()) {
      job.reject(this.broken);
      job.drained?.();
    }
    this.jobs.clear();
    for (const w of this.waitingFiles.splice(0)) w();
  }

  private newJob(file: boolean, onBytes?: (n: number) => void): { id: number; job: Job; done: Promise<HashResult | undefined> } {
    if (this.broken) throw this.broken;
    const id = this.nextId++;
    if (this.nextId === 0x7fffffff) this.nextId = 1;
    let job!: Job;
    const done = new Promise<HashResult | undefined>((resolve, reject) => {
      job = { file, resolve, reject, onBytes, reported: 0, inFlight: 0 };
    });
    this.jobs.set(id, job);
    done.catch(() => undefined); // awaited by the caller; this only keeps an early failure from being "unhandled"
    return { id, job, done };
  }

  private onReply(m: HashReply): void {
    const job = this.jobs.get(m.id);
    if (!job) return;
    if ('progress' in m || 'ack' in m) {
      const n = 'ack' in m ? m.ack : m.progress;
      job.reported += n;
      job.onBytes?.(n);
      if ('ack' in m) {
        job.inFlight--;
        job.drained?.();
      }
      return;
    }
    this.jobs.delete(m.id);
    if (job.file) {
      this.openFiles--;
      this.waitingFiles.shift()?.();
    }
    if ('error' in m) job.reject(new StorageError('hash', m.error));
    else if ('hazard' in m) job.reject(new UnsafePathError('filesystem', m.at.slice(job.root?.length ?? 0) || '/', m.hazard));
    else if ('missing' in m) job.resolve(undefined);
    else {
      if (m.size > job.reported) job.onBytes?.(m.size - job.reported);
      job.resolve({ digest: m.digest as Digest, size: m.size });
    }
  }

  /**
   * sha256 of a store file (`rel` below the resolved `root`), read by whichever worker is free
   * first; undefined if the file does not exist; UnsafePathError for a symlink or special file.
   */
  async hashFile(at: { root: string; proc: boolean }, rel: string, onBytes?: (n: number) => void): Promise<HashResult | undefined> {
    while (this.openFiles >= CLAIM_SLOTS / 2 && !this.broken) await new Promise<void>((r) => this.waitingFiles.push(r));
    const { id, job, done } = this.newJob(true, onBytes);
    job.root = at.root;
    this.openFiles++;
    Atomics.store(this.claims, id % CLAIM_SLOTS, id);
    const req: HashRequest = { op: 'file', id, root: at.root, rel, proc: at.proc };
    for (const s of this.slots) s.worker.postMessage(req);
    return done;
  }

  /** sha256 of a stream, hashed by the worker with the fewest streams. */
  async hashStream(stream: Readable, onBytes?: (n: number) => void): Promise<HashResult> {
    const slot = this.slots.reduce((a, b) => (b.streams < a.streams ? b : a));
    const { id, job, done } = this.newJob(false, onBytes);
    slot.streams++;
    const post = (req: HashRequest, transfer?: ArrayBuffer[]): void => slot.worker.postMessage(req, transfer);
    try {
      post({ op: 'begin', id });
      let staged = Buffer.allocUnsafeSlow(CHUNK);
      let used = 0;
      const send = async (): Promise<void> => {
        while (job.inFlight >= CHUNKS_IN_FLIGHT && this.jobs.has(id)) await new Promise<void>((r) => (job.drained = r));
        job.inFlight++;
        const buf = staged.buffer;
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
