// A read-only store of any size, generated from a seed as it is listed: bench/scale.ts runs gc's
// dry run against it at 10M blobs and more, where no disk or bucket of that size is at hand.
//
// It answers as the S3 driver does: flat listings (`prefersFlatListing`), pages of 1,000 keys in
// key order with sizes, times and ETags, the next page asked for while one is consumed, each
// request after a simulated round trip, and a fraction of them refused with 503 SlowDown and
// retried as the SDK's standard retry mode does (backoff, attempts, retry quota).
//
// Every key comes from (seed, index): layer, config, base-layer and orphan blobs get digests that
// encode their index in key order (a Feistel permutation spreads them over the key space), so a
// shard is listed in order without a table; manifests are real JSON naming those digests, and
// their digests are the sha256 of their bytes, which cannot be chosen: one pass hashes every
// manifest once into a file sorted by digest (40 bytes a manifest, on disk, kept between runs),
// read in chunks while listing and searched for manifest reads. Memory: a repository's keys at a
// time per walk and fixed buffers, whatever the store's size.
//
// Shape (defaults as issue 12 sizes 100M blobs: 10M manifests, 1M tags): images of one manifest,
// one config, `layers` own layers and one of `bases` shared base layers; `imagesPerRepo` images a
// repository, the newest `tagsPerRepo` tagged (each tag moved once: its history names the image
// before); `orphanRate` of the blobs referenced by nothing. Garbage, known from an index alone:
// the orphans, plus with --delete-untagged the untagged images (manifest, config, own layers) and
// the base layers no tagged image uses.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { FileInfo, StorageDriver } from '../src/drivers/driver.js';
import { PathNotFoundError, StorageError } from '../src/errors.js';
import { BLOBS, REPOSITORIES } from '../src/store/paths.js';

export interface Shape {
  seed: number;
  blobs: number;
  imagesPerRepo: number;
  tagsPerRepo: number;
  /** Own layers an image (besides its shared base layer). */
  layers: number;
  bases: number;
  orphanRate: number;
}

export const DEFAULT_SHAPE: Shape = { seed: 1, blobs: 100_000, imagesPerRepo: 100, tagsPerRepo: 10, layers: 8, bases: 1000, orphanRate: 0.05 };

export interface Network {
  /** Simulated round trip of every request (ms). */
  latencyMs: number;
  /** Fraction of request attempts answered 503 SlowDown. */
  throttleRate: number;
  /** The SDK's attempts (1 + --retries, default 6). */
  maxAttempts: number;
}

const PAGE = 1000;
const OLD = new Date('2020-01-01T00:00:00Z');
const LINK_SIZE = 71;
const RECORD = 40; // digest (32), image index (u32), manifest size (u32)
const PREFIXES = 65536; // the index's offsets are by the first two bytes of a digest
// The SDK's standard retry mode (@smithy/core util-retry): throttling backoff base, cap, quota.
const THROTTLING_DELAY_BASE = 1000;
const MAX_RETRY_DELAY = 20_000;
const INITIAL_RETRY_TOKENS = 500;
const THROTTLING_RETRY_COST = 5;

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');
const pad = (n: number, width: number): string => String(n).padStart(width, '0');
const sha256hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const md5hex = (s: string): string => createHash('md5').update(s).digest('hex');

/** A bijection of [0, n): a 4-round Feistel network on the next even power of two, cycle-walked. */
class Permutation {
  private readonly half: number;
  private readonly mask: number;
  private readonly keys: number[];
  constructor(
    private readonly n: number,
    seed: number,
  ) {
    let bits = 2;
    while (2 ** bits < n) bits += 2;
    this.half = bits / 2;
    this.mask = 2 ** this.half - 1;
    this.keys = [1, 2, 3, 4].map((r) => mix32(seed * 31 + r));
  }
  private round(x: number, k: number): number {
    return mix32(x ^ k) & this.mask;
  }
  forward(x: number): number {
    do {
      let l = x >>> this.half;
      let r = x & this.mask;
      for (const k of this.keys) [l, r] = [r, l ^ this.round(r, k)];
      x = l * 2 ** this.half + r;
    } while (x >= this.n);
    return x;
  }
  inverse(x: number): number {
    do {
      let l = x >>> this.half;
      let r = x & this.mask;
      for (let i = this.keys.length - 1; i >= 0; i--) [l, r] = [r ^ this.round(l, this.keys[i]!), l];
      x = l * 2 ** this.half + r;
    } while (x >= this.n);
    return x;
  }
}

export type BlobKind = { kind: 'base'; base: number } | { kind: 'config' | 'layer'; image: number } | { kind: 'orphan'; orphan: number } | { kind: 'manifest'; image: number };

export interface Counts {
  repos: number;
  images: number;
  tags: number;
  orphans: number;
  bases: number;
  /** Blobs that are not manifests (their digests are derived, not hashed). */
  synthetic: number;
}

/** What a store of `shape` holds, from the shape alone. */
export function countsOf(shape: Shape): Counts {
  const perImage = shape.layers + 2; // manifest, config, own layers (base layers are counted apart)
  const perRepo = shape.imagesPerRepo * perImage;
  const repos = Math.floor((shape.blobs - shape.bases - Math.floor(shape.blobs * shape.orphanRate)) / perRepo);
  if (repos < 1) throw new Error(`${shape.blobs} blobs hold less than one repository of this shape`);
  const images = repos * shape.imagesPerRepo;
  const orphans = shape.blobs - shape.bases - images * perImage;
  return { repos, images, tags: repos * Math.min(shape.tagsPerRepo, shape.imagesPerRepo), orphans, bases: shape.bases, synthetic: shape.blobs - images };
}

export class SyntheticStore implements StorageDriver {
  readonly name = 's3';
  readonly prefersFlatListing = true;
  readonly counts: Counts;
  readonly requests = new Map<string, number>();
  throttled = 0;
  /** Request attempts in flight now, and at most. */
  inFlight = 0;
  maxInFlight = 0;
  /** Milliseconds of simulated round trips (every attempt). */
  requestMs = 0;
  private readonly perm: Permutation;
  private readonly scale: number;
  private readonly teams: number;
  private readonly tags: number;
  /** Base layers a tagged image uses (what --delete-untagged keeps). */
  private readonly taggedBase: Uint8Array;
  private readonly indexFd: number;
  private readonly offsets: Uint32Array;
  private readonly lookup: Buffer;
  private attempts = 0;
  private readonly seedMix: number;
  private readonly seedMix2: number;
  private retryTokens = INITIAL_RETRY_TOKENS;

  constructor(
    readonly shape: Shape,
    readonly net: Network,
    tempDir: string,
  ) {
    this.counts = countsOf(shape);
    const c = this.counts;
    this.perm = new Permutation(c.synthetic, shape.seed);
    this.scale = 2 ** 48 / c.synthetic;
    this.seedMix = mix32(shape.seed * 7 + 1);
    this.seedMix2 = mix32(shape.seed * 7 + 2);
    this.teams = Math.min(100, c.repos);
    this.tags = Math.min(shape.tagsPerRepo, shape.imagesPerRepo);
    this.taggedBase = new Uint8Array(c.bases);
    let covered = 0;
    for (let r = 0; r < c.repos && covered < c.bases; r++) {
      for (let k = shape.imagesPerRepo - this.tags; k < shape.imagesPerRepo; k++) {
        const b = (r * shape.imagesPerRepo + k) % c.bases;
        if (!this.taggedBase[b]) covered++;
        this.taggedBase[b] = 1;
      }
    }
    const file = buildIndex(this, tempDir);
    this.indexFd = openSync(file, 'r');
    this.offsets = new Uint32Array(readFileSync(`${file}.off`).buffer.slice(0));
    let widest = 0;
    for (let p = 0; p < PREFIXES; p++) widest = Math.max(widest, this.offsets[p + 1]! - this.offsets[p]!);
    this.lookup = Buffer.alloc(Math.max(1, widest) * RECORD);
  }

  // ---- what the store holds, by index ----

  /** Synthetic blob j: base layers, then each image's config and own layers, then orphans. */
  private synth(kind: 'base' | 'config' | 'layer' | 'orphan', n: number, layer = 0): number {
    const { bases, images } = this.counts;
    if (kind === 'base') return n;
    if (kind === 'orphan') return bases + images * (this.shape.layers + 1) + n;
    return bases + n * (this.shape.layers + 1) + (kind === 'config' ? 0 : 1 + layer);
  }

  /** The digest (hex) of synthetic blob j: its place in key order, its index, then filler from the seed. */
  hexOf(j: number): string {
    const hi = Math.floor(this.perm.forward(j) * this.scale);
    const a = hex8(mix32(Math.imul(j, 0x9e3779b1) ^ this.seedMix));
    const b = hex8(mix32(j ^ a.length ^ this.seedMix2));
    return hi.toString(16).padStart(12, '0') + hex8(j) + a + b + a + b + a + b.slice(0, 4);
  }

  /** The synthetic blob a digest names, or undefined. */
  private synthOf(hex: string): number | undefined {
    const j = parseInt(hex.slice(12, 20), 16);
    return j < this.counts.synthetic && this.hexOf(j) === hex ? j : undefined;
  }

  private sizeOf(j: number): number {
    return j < this.counts.bases ? 30_000_000 : 1000 + (mix32(j ^ this.shape.seed) % 50_000_000);
  }

  classify(hex: string): BlobKind | undefined {
    const j = this.synthOf(hex);
    if (j === undefined) {
      const rec = this.findManifest(hex);
      return rec && { kind: 'manifest', image: rec.image };
    }
    const { bases, images } = this.counts;
    if (j < bases) return { kind: 'base', base: j };
    const k = j - bases;
    if (k < images * (this.shape.layers + 1)) return { kind: k % (this.shape.layers + 1) === 0 ? 'config' : 'layer', image: Math.floor(k / (this.shape.layers + 1)) };
    return { kind: 'orphan', orphan: k - images * (this.shape.layers + 1) };
  }

  isTagged(image: number): boolean {
    return image % this.shape.imagesPerRepo >= this.shape.imagesPerRepo - this.tags;
  }

  /** Whether gc should plan to delete this blob. */
  isGarbage(b: BlobKind, deleteUntagged: boolean): boolean {
    switch (b.kind) {
      case 'orphan':
        return true;
      case 'base':
        return deleteUntagged ? !this.taggedBase[b.base] : b.base >= this.counts.images;
      default:
        return deleteUntagged && !this.isTagged(b.image);
    }
  }

  /** How many blobs gc should plan to delete. */
  expectedGarbage(deleteUntagged: boolean): number {
    const c = this.counts;
    let bases = 0;
    for (let b = 0; b < c.bases; b++) if (this.isGarbage({ kind: 'base', base: b }, deleteUntagged)) bases++;
    const untagged = deleteUntagged ? c.repos * (this.shape.imagesPerRepo - this.tags) : 0;
    return c.orphans + bases + untagged * (this.shape.layers + 2);
  }

  /** Untagged revisions, what --delete-untagged removes. */
  expectedRevisions(deleteUntagged: boolean): number {
    return deleteUntagged ? this.counts.repos * (this.shape.imagesPerRepo - this.tags) : 0;
  }

  /** Image i's blobs: config, then its base layer and own layers (synthetic indexes). */
  private imageBlobs(i: number): number[] {
    const out = [this.synth('config', i), this.synth('base', i % this.counts.bases)];
    for (let l = 0; l < this.shape.layers; l++) out.push(this.synth('layer', i, l));
    return out;
  }

  /** Image i's manifest, real JSON naming its config, base layer and own layers (`hexes`: imageBlobs' digests, when known). */
  manifestBody(i: number, hexes?: string[]): Buffer {
    const blobs = this.imageBlobs(i);
    const hex = hexes ?? blobs.map((j) => this.hexOf(j));
    const desc = (mediaType: string, k: number): string => `{"mediaType":"${mediaType}","digest":"sha256:${hex[k]!}","size":${this.sizeOf(blobs[k]!)}}`;
    const layers: string[] = [];
    for (let k = 1; k < blobs.length; k++) layers.push(desc('application/vnd.oci.image.layer.v1.tar+gzip', k));
    return Buffer.from(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":${desc('application/vnd.oci.image.config.v1+json', 0)},"layers":[${layers.join(',')}]}`);
  }

  /** Index record of a manifest digest (one read of its two-byte prefix's records). */
  findManifest(hex: string): { image: number; size: number } | undefined {
    const p = parseInt(hex.slice(0, 4), 16);
    const from = this.offsets[p]!;
    const n = this.offsets[p + 1]! - from;
    if (n === 0) return undefined;
    readSync(this.indexFd, this.lookup, 0, n * RECORD, from * RECORD);
    const want = Buffer.from(hex, 'hex');
    for (let k = 0; k < n; k++) {
      if (this.lookup.compare(want, 0, 32, k * RECORD, k * RECORD + 32) === 0) return { image: this.lookup.readUInt32BE(k * RECORD + 32), size: this.lookup.readUInt32BE(k * RECORD + 36) };
    }
    return undefined;
  }

  // ---- keys, in order ----

  private file(path: string, size: number, etag: string): FileInfo {
    return { path, size, modTime: OLD, isDir: false, etag };
  }

  private blobFile(hex: string, size: number): FileInfo {
    return this.file(`${BLOBS}/${hex.slice(0, 2)}/${hex}/data`, size, hex.slice(20, 52));
  }

  /** First key-order position whose digest starts with byte >= s. */
  private shardStart(s: number): number {
    let lo = 0;
    let hi = this.counts.synthetic;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (Math.floor(Math.floor(mid * this.scale) / 2 ** 40) >= s) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Blob data keys of shard s: the synthetic blobs there merged with the index's manifests. */
  private *shardKeys(s: number): Generator<FileInfo> {
    const end = this.shardStart(s + 1);
    let v = this.shardStart(s);
    let m = this.offsets[s * 256]!;
    const mEnd = this.offsets[(s + 1) * 256]!;
    const chunk = Buffer.alloc(PAGE * RECORD);
    let chunkFrom = m;
    let chunkN = 0;
    const manifestAt = (k: number): { hex: string; size: number } => {
      if (k >= chunkFrom + chunkN) {
        chunkFrom = k;
        chunkN = Math.min(PAGE, mEnd - k);
        readSync(this.indexFd, chunk, 0, chunkN * RECORD, k * RECORD);
      }
      const at = (k - chunkFrom) * RECORD;
      return { hex: chunk.toString('hex', at, at + 32), size: chunk.readUInt32BE(at + 36) };
    };
    let nextSynth = v < end ? this.hexOf(this.perm.inverse(v)) : undefined;
    let nextManifest = m < mEnd ? manifestAt(m) : undefined;
    while (nextSynth !== undefined || nextManifest !== undefined) {
      if (nextManifest === undefined || (nextSynth !== undefined && nextSynth < nextManifest.hex)) {
        yield this.blobFile(nextSynth!, this.sizeOf(parseInt(nextSynth!.slice(12, 20), 16)));
        v++;
        nextSynth = v < end ? this.hexOf(this.perm.inverse(v)) : undefined;
      } else {
        yield this.blobFile(nextManifest.hex, nextManifest.size);
        m++;
        nextManifest = m < mEnd ? manifestAt(m) : undefined;
      }
    }
  }

  repoName(r: number): string {
    return `ns${pad(r % this.teams, 3)}/app-${pad(r, 7)}`;
  }

  /** Every key of repository r, in key order (one repository's worth of memory). */
  private repoKeys(r: number): FileInfo[] {
    const dir = `${REPOSITORIES}/${this.repoName(r)}`;
    // ETags: S3's is the MD5 of the link's content; only tag `current` links are read by it (resolved
    // without a read when it matches a revision), the others get a string of the same length.
    const link = (path: string, hex: string, md5 = false): FileInfo => this.file(path, LINK_SIZE, md5 ? md5hex(`sha256:${hex}`) : hex.slice(0, 32));
    const P = this.shape.imagesPerRepo;
    const layers = new Set<string>();
    const manifests: string[] = [];
    for (let k = 0; k < P; k++) {
      const i = r * P + k;
      const hexes = this.imageBlobs(i).map((j) => this.hexOf(j));
      for (const h of hexes) layers.add(h);
      manifests.push(sha256hex(this.manifestBody(i, hexes)));
    }
    const out: FileInfo[] = [];
    for (const h of [...layers].sort()) out.push(link(`${dir}/_layers/sha256/${h}/link`, h));
    for (const h of [...manifests].sort()) out.push(link(`${dir}/_manifests/revisions/sha256/${h}/link`, h));
    for (let t = 0; t < this.tags; t++) {
      const tag = `${dir}/_manifests/tags/v${pad(t, 3)}`;
      const current = manifests[P - this.tags + t]!;
      out.push(link(`${tag}/current/link`, current, true));
      const history = [current];
      if (P - 2 * this.tags + t >= 0) history.push(manifests[P - 2 * this.tags + t]!);
      for (const h of history.sort()) out.push(link(`${tag}/index/sha256/${h}/link`, h));
    }
    return out;
  }

  private *teamKeys(t: number): Generator<FileInfo> {
    for (let r = t; r < this.counts.repos; r += this.teams) yield* this.repoKeys(r);
  }

  /** Every key below `path`, in key order. */
  private *keysUnder(path: string): Generator<FileInfo> {
    if (path === BLOBS) {
      for (let s = 0; s < 256; s++) yield* this.shardKeys(s);
      return;
    }
    const shard = /^\/docker\/registry\/v2\/blobs\/sha256\/([0-9a-f]{2})$/.exec(path);
    if (shard) return yield* this.shardKeys(parseInt(shard[1]!, 16));
    if (path === REPOSITORIES) {
      for (let t = 0; t < this.teams; t++) yield* this.teamKeys(t);
      return;
    }
    const team = /^\/docker\/registry\/v2\/repositories\/ns(\d{3})$/.exec(path);
    if (team) return yield* this.teamKeys(Number(team[1]));
    const repo = /^\/docker\/registry\/v2\/repositories\/ns\d{3}\/app-(\d{7})(\/.*)?$/.exec(path);
    if (repo && Number(repo[1]) < this.counts.repos) for (const f of this.repoKeys(Number(repo[1]))) if (f.path.startsWith(`${path}/`)) yield f;
  }

  // ---- requests ----

  /** One request: a round trip per attempt; SlowDown answers retried as the SDK's standard mode does. */
  private async request<T>(op: string, key: string, answer: () => T): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.requests.set(op, (this.requests.get(op) ?? 0) + 1);
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      this.requestMs += this.net.latencyMs;
      await sleep(this.net.latencyMs);
      this.inFlight--;
      const n = ++this.attempts;
      if (mix32(n ^ mix32(this.shape.seed)) / 2 ** 32 >= this.net.throttleRate) {
        this.retryTokens = Math.min(INITIAL_RETRY_TOKENS, this.retryTokens + (attempt > 1 ? THROTTLING_RETRY_COST : 1));
        return answer();
      }
      this.throttled++;
      if (attempt >= this.net.maxAttempts || this.retryTokens < THROTTLING_RETRY_COST) {
        const why = attempt >= this.net.maxAttempts ? `after ${attempt} attempts` : `after ${attempt} attempts, the retry quota spent`;
        throw new StorageError(this.name, `${op} s3://synthetic/${key}: Please reduce your request rate. (HTTP 503, ${why})`);
      }
      this.retryTokens -= THROTTLING_RETRY_COST;
      await sleep(Math.floor((mix32(n * 3 + 1) / 2 ** 32) * Math.min(THROTTLING_DELAY_BASE * 2 ** (attempt - 1), MAX_RETRY_DELAY)));
    }
  }

  requestTotal(): number {
    let n = 0;
    for (const v of this.requests.values()) n += v;
    return n;
  }

  // ---- the driver ----

  async *walk(path: string): AsyncIterable<FileInfo> {
    const keys = this.keysUnder(path);
    let first = keys.next();
    const page = (): { files: FileInfo[]; more: boolean } => {
      const files: FileInfo[] = [];
      while (!first.done && files.length < PAGE) {
        files.push(first.value);
        first = keys.next();
      }
      return { files, more: !first.done };
    };
    let next: Promise<{ files: FileInfo[]; more: boolean }> | undefined = this.request('ListObjectsV2', path, page);
    while (next) {
      const got: { files: FileInfo[]; more: boolean } = await next;
      // As the S3 driver does: the next page is asked for while this one is consumed.
      next = got.more ? this.request('ListObjectsV2', path, page) : undefined;
      next?.catch(() => {});
      yield* got.files;
    }
  }

  async list(path: string): Promise<string[]> {
    const children: string[] = [];
    if (path === BLOBS) {
      for (let s = 0; s < 256; s++)
        if (this.shardStart(s) < this.shardStart(s + 1) || this.offsets[s * 256] !== this.offsets[(s + 1) * 256]) children.push(`${BLOBS}/${s.toString(16).padStart(2, '0')}`);
    } else if (path === REPOSITORIES) {
      for (let t = 0; t < this.teams; t++) children.push(`${REPOSITORIES}/ns${pad(t, 3)}`);
    } else if (/^\/docker\/registry\/v2\/repositories\/ns\d{3}$/.test(path)) {
      for (let r = Number(path.slice(-3)); r < this.counts.repos; r += this.teams) children.push(`${REPOSITORIES}/${this.repoName(r)}`);
    } else {
      const seen = new Set<string>();
      for (const f of this.keysUnder(path)) seen.add(`${path}/${f.path.slice(path.length + 1).split('/')[0]}`);
      children.push(...seen);
    }
    const pages = Math.max(1, Math.ceil(children.length / PAGE));
    for (let p = 1; p < pages; p++) await this.request('ListObjectsV2', path, () => undefined);
    const out = await this.request('ListObjectsV2', path, () => children);
    if (out.length === 0) throw new PathNotFoundError(this.name, path);
    return out;
  }

  private info(path: string): FileInfo | undefined {
    const blob = /^\/docker\/registry\/v2\/blobs\/sha256\/[0-9a-f]{2}\/([0-9a-f]{64})\/data$/.exec(path);
    if (blob) {
      const hex = blob[1]!;
      const j = this.synthOf(hex);
      if (j !== undefined) return this.blobFile(hex, this.sizeOf(j));
      const m = this.findManifest(hex);
      return m && this.blobFile(hex, m.size);
    }
    const dir = path.slice(0, path.lastIndexOf('/'));
    for (const f of /\/repositories\//.test(path) ? this.keysUnder(dir) : []) if (f.path === path) return f;
    return undefined;
  }

  async statFile(path: string): Promise<FileInfo> {
    const f = await this.request('HeadObject', path, () => this.info(path));
    if (!f) throw new PathNotFoundError(this.name, path);
    return f;
  }

  async stat(path: string): Promise<FileInfo> {
    return this.statFile(path);
  }

  async getContent(path: string): Promise<Buffer> {
    const body = await this.request('GetObject', path, () => {
      const blob = /^\/docker\/registry\/v2\/blobs\/sha256\/[0-9a-f]{2}\/([0-9a-f]{64})\/data$/.exec(path);
      if (blob) {
        const m = this.findManifest(blob[1]!);
        if (m) return this.manifestBody(m.image);
        if (this.synthOf(blob[1]!) !== undefined) throw new StorageError(this.name, `${path}: the synthetic store generates no layer content`);
        return undefined;
      }
      const tag = /^\/docker\/registry\/v2\/repositories\/ns\d{3}\/app-(\d{7})\/_manifests\/tags\/v(\d{3})\/current\/link$/.exec(path);
      if (tag && Number(tag[1]) < this.counts.repos && Number(tag[2]) < this.tags) {
        const P = this.shape.imagesPerRepo;
        return Buffer.from(`sha256:${sha256hex(this.manifestBody(Number(tag[1]) * P + P - this.tags + Number(tag[2])))}`);
      }
      return undefined;
    });
    if (!body) throw new PathNotFoundError(this.name, path);
    return body;
  }

  readonly putContent = readOnly;
  readonly reader = readOnly;
  readonly putStream = readOnly;
  readonly move = readOnly;
  readonly delete = readOnly;
  readonly deleteFiles = readOnly;

  async close(): Promise<void> {
    closeSync(this.indexFd);
  }
}

function readOnly(): never {
  throw new Error('the synthetic store is read-only: run gc with --dry-run');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The manifests' index: every manifest hashed once, records bucketed by first byte into 256
 * files, each sorted and appended to one file sorted by digest, with the record offset of every
 * two-byte prefix beside it. Kept in `tempDir` for the next run of the same shape.
 */
function buildIndex(store: SyntheticStore, tempDir: string): string {
  const s = store.shape;
  const file = join(tempDir, `manifests-${s.seed}-${s.blobs}-${s.imagesPerRepo}-${s.tagsPerRepo}-${s.layers}-${s.bases}-${s.orphanRate}.idx`);
  if (existsSync(file) && existsSync(`${file}.off`) && statSync(file).size === store.counts.images * RECORD) return file;
  mkdirSync(tempDir, { recursive: true });
  const work = `${file}.tmp-${process.pid}`;
  mkdirSync(work, { recursive: true });
  try {
    const BUF = 16 * 1024;
    const fds = Array.from({ length: 256 }, (_, b) => openSync(join(work, String(b)), 'w'));
    const bufs = Array.from({ length: 256 }, () => Buffer.alloc(BUF));
    const used = new Int32Array(256);
    const rec = Buffer.alloc(RECORD);
    for (let i = 0; i < store.counts.images; i++) {
      const body = store.manifestBody(i);
      createHash('sha256').update(body).digest().copy(rec, 0);
      rec.writeUInt32BE(i, 32);
      rec.writeUInt32BE(body.length, 36);
      const b = rec[0]!;
      if (used[b]! + RECORD > BUF) {
        writeSync(fds[b]!, bufs[b]!, 0, used[b]);
        used[b] = 0;
      }
      rec.copy(bufs[b]!, used[b]);
      used[b]! += RECORD;
    }
    fds.forEach((fd, b) => {
      writeSync(fd, bufs[b]!, 0, used[b]);
      closeSync(fd);
    });
    const offsets = new Uint32Array(PREFIXES + 1);
    const out = openSync(`${work}/all`, 'w');
    let n = 0;
    for (let b = 0; b < 256; b++) {
      const data = readFileSync(join(work, String(b)));
      const count = data.length / RECORD;
      const order = Array.from({ length: count }, (_, k) => k).sort((x, y) => data.compare(data, y * RECORD, y * RECORD + 32, x * RECORD, x * RECORD + 32));
      const sorted = Buffer.alloc(data.length);
      order.forEach((k, at) => {
        data.copy(sorted, at * RECORD, k * RECORD, k * RECORD + RECORD);
        offsets[data.readUInt16BE(k * RECORD) + 1]!++;
      });
      writeSync(out, sorted);
      n += count;
    }
    closeSync(out);
    for (let p = 0; p < PREFIXES; p++) offsets[p + 1]! += offsets[p]!;
    if (n !== store.counts.images || offsets[PREFIXES] !== n) throw new Error('manifest index: count mismatch');
    writeFileSync(`${file}.off`, Buffer.from(offsets.buffer));
    renameSync(`${work}/all`, file);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return file;
}
