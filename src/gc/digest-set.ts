// A compact set of sha256 digests for stores with millions of blobs. A JS Set of 71-character
// strings costs ~150 bytes a digest; here each digest is 32 binary bytes in one Buffer plus a
// 4-byte slot in an open-addressing table (load at most 1/2), ~45-70 bytes a digest in all.
// Every digest gets a stable index (insertion order), so per-digest facts live in typed-array
// columns beside it instead of in objects.
import type { Digest } from '../image/digest.js';

const KEY = 32;

export class DigestSet {
  private keys: Buffer;
  /** Index + 1 of the digest in each slot, 0 for empty. Length is a power of two. */
  private slots: Int32Array;
  private count = 0;
  private readonly scratch = Buffer.alloc(KEY);
  private readonly growth: ((capacity: number) => void)[] = [];

  constructor(expected = 1024) {
    const cap = Math.max(16, expected);
    this.keys = Buffer.alloc(cap * KEY);
    this.slots = new Int32Array(nextPow2(cap * 2));
  }

  get size(): number {
    return this.count;
  }

  /** Room for this many digests before the key buffer grows (columns follow it). */
  get capacity(): number {
    return this.keys.length / KEY;
  }

  /** Called with the new capacity whenever the key buffer grows. */
  onGrow(fn: (capacity: number) => void): void {
    this.growth.push(fn);
  }

  /** Bytes held by the set itself (keys and slots). */
  get bytes(): number {
    return this.keys.length + this.slots.byteLength;
  }

  /**
   * The index of `d` (`sha256:<hex>` or bare hex, already validated), adding it if new.
   */
  add(d: string): number {
    const slot = this.find(d);
    const at = this.slots[slot]!;
    if (at !== 0) return at - 1;
    if (this.count === this.capacity) this.growKeys();
    const i = this.count++;
    this.scratch.copy(this.keys, i * KEY);
    if (this.count * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    else this.slots[slot] = i + 1;
    return i;
  }

  /** The index of `d`, or -1. */
  indexOf(d: string): number {
    return this.slots[this.find(d)]! - 1;
  }

  has(d: string): boolean {
    return this.indexOf(d) >= 0;
  }

  hex(i: number): string {
    return this.keys.toString('hex', i * KEY, i * KEY + KEY);
  }

  digest(i: number): Digest {
    return `sha256:${this.hex(i)}`;
  }

  /** The indexes in digest order (without making a string of each). */
  sortIndices(indexes: ArrayLike<number>): Int32Array {
    const out = Int32Array.from(indexes);
    const hi = new Float64Array(out.length);
    const lo = new Float64Array(out.length);
    out.forEach((i, n) => {
      hi[n] = this.keys.readUInt32BE(i * KEY);
      lo[n] = this.keys.readUInt32BE(i * KEY + 4);
    });
    const order = Array.from(out.keys()).sort((a, b) => hi[a]! - hi[b]! || lo[a]! - lo[b]! || this.keys.compare(this.keys, out[b]! * KEY, out[b]! * KEY + KEY, out[a]! * KEY, out[a]! * KEY + KEY));
    return Int32Array.from(order, (n) => out[n]!);
  }

  /** Loads `d` into the scratch key and returns its slot, or the empty slot where it belongs. */
  private find(d: string): number {
    this.scratch.write(d.length === 71 ? d.slice(7) : d, 'hex');
    const mask = this.slots.length - 1;
    let s = slotHash(this.scratch, 0) & mask;
    for (;;) {
      const at = this.slots[s]!;
      if (at === 0 || this.scratch.compare(this.keys, (at - 1) * KEY, at * KEY) === 0) return s;
      s = (s + 1) & mask;
    }
  }

  private growKeys(): void {
    const bigger = Buffer.alloc(this.keys.length * 2);
    this.keys.copy(bigger);
    this.keys = bigger;
    for (const fn of this.growth) fn(this.capacity);
  }

  private rehash(size: number): void {
    const slots = new Int32Array(size);
    const mask = size - 1;
    for (let i = 0; i < this.count; i++) {
      let s = slotHash(this.keys, i * KEY) & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = i + 1;
    }
    this.slots = slots;
  }
}

/** sha256 digests are uniform: two of their words make a good hash (two, should the input not be). */
function slotHash(b: Buffer, at: number): number {
  return (b.readUInt32BE(at) ^ Math.imul(b.readUInt32BE(at + 28), 0x9e3779b1)) >>> 0;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

type NumberArray = Float64Array | Int32Array | Uint8Array;

/** A typed-array column indexed like a DigestSet, growing with it. Read and write `data[i]`. */
export class Column<A extends NumberArray> {
  data: A;

  constructor(set: DigestSet, make: (n: number) => A, fill = 0) {
    const alloc = (n: number): A => {
      const a = make(n);
      if (fill !== 0) a.fill(fill);
      return a;
    };
    this.data = alloc(set.capacity);
    set.onGrow((cap) => {
      const a = alloc(cap);
      a.set(this.data);
      this.data = a;
    });
  }
}
