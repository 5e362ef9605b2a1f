// The audit: scan, read links, read and parse every revision, hash blobs, apply the rules
// (checks.ts), and with --fix carry out the safe repairs (fix.ts).
import type { StorageDriver } from '../drivers/driver.js';
import { isDigest, sha256, type Digest } from '../image/digest.js';
import { aliasTargets, hashAliases, readAliasLinks } from './aliases.js';
import { MAX_MANIFEST_BYTES, parseManifest } from '../image/manifest.js';
import { blobDataPath } from '../store/paths.js';
import { BlobHasher, type StreamHashing } from './hashing/blob-hasher.js';
import { checkStore, type AuditData, type ManifestState } from './checks.js';
import { eachLimit } from '../util/each-limit.js';
import { sortFindings, summarize, type Finding, type KindCount } from './findings.js';
import type { HashResult } from './hashing/thread-pool.js';
import { HashFeed } from './hashing/hash-as-found.js';
import { scanStore, statBlobs, type BlobInfo, type Inventory } from './inventory.js';
import { readLinks } from './link-check.js';
import { applyRepairs, planRepairs, type Repair } from './fix.js';
import { describeHazard, HazardLog, surveyHazards, tolerant } from '../store/hazards.js';
import { finding } from './findings.js';
import { orIfNotFound } from '../util/not-found.js';
import { owns, SHARD_ASSIGNMENT, type Shard } from './shard.js';
import type { Checkpoint } from './checkpoint.js';
import { resumingFeed } from './resume.js';

export type AuditPhase = 'scan' | 'links' | 'manifests' | 'hash' | 'fix';

export interface AuditProgress {
  phase: AuditPhase;
  done: number;
  total: number;
  /** Bytes hashed so far and in all (phase `hash`). */
  bytes: number;
  totalBytes: number;
}

export interface VerifyOptions {
  /** Audit only these repositories (no orphan check: that needs the whole store). */
  repos?: string[];
  /** Hash every blob (false: --no-hash, manifests are still hashed). */
  hash: boolean;
  fix: boolean;
  /** Storage requests in flight. */
  concurrency: number;
  /** Hashing threads. */
  threads: number;
  streamHashing?: StreamHashing;
  /** Hash only this shard's share of the blobs (shard.ts); every other check is made in full. */
  shard?: Shard;
  /** Results of earlier runs: unchanged blobs are not hashed again, and what is hashed is recorded. */
  checkpoint?: Checkpoint;
  now?: Date;
  onProgress?: (p: AuditProgress) => void;
}

export interface VerifyReport {
  /** No problems left (warnings allowed). */
  clean: boolean;
  hashed: boolean;
  repositories: number;
  blobs: number;
  links: number;
  manifests: number;
  blobsHashed: number;
  bytesHashed: number;
  problems: number;
  warnings: number;
  repaired: number;
  summary: KindCount[];
  findings: Finding[];
  /** With --fix: every repair made, in order. */
  repairs?: Repair[];
  /** With a shard: which one, and how many of the blobs seen are its share (hashed by it alone). */
  shard?: ShardInfo;
  /** With a checkpoint: the blobs (of `blobsHashed`) whose earlier result was taken instead of hashing them. */
  checkpoint?: CheckpointInfo;
}

export interface CheckpointInfo {
  file: string;
  /** The file held results of an earlier run. */
  resumed: boolean;
  blobsSkipped: number;
  bytesSkipped: number;
  /** Lines of the file that were not records (a torn last line, corruption): those blobs were hashed. */
  ignoredLines: number;
}

/** How many of the digests pass `mine`, counted without copying them. */
function share(digests: Iterable<Digest>, mine: (g: Digest) => boolean): number {
  let n = 0;
  for (const g of digests) if (mine(g)) n++;
  return n;
}

export interface ShardInfo {
  index: number;
  count: number;
  assignment: typeof SHARD_ASSIGNMENT;
  /** Blobs (directories under blobs/) that are this shard's share; over all shards they add up to `blobs`. */
  blobs: number;
}

async function readRevisions(d: StorageDriver, a: AuditData, digests: Digest[], opts: VerifyOptions, tick: () => void): Promise<void> {
  await eachLimit(digests, opts.concurrency, async (digest) => {
    const blob = a.inv.blobs.get(digest);
    let state: ManifestState;
    if (!blob?.exists) state = { state: 'missing' };
    else if (blob.size! > MAX_MANIFEST_BYTES) state = { state: 'bad', reason: `its blob is ${blob.size} bytes: not a manifest` };
    else {
      const bytes = await orIfNotFound(() => d.getContent(blobDataPath(digest)), undefined);
      if (!bytes) state = { state: 'missing' };
      else {
        const actual = sha256(bytes);
        a.hashed.set(digest, { digest: actual, size: bytes.length });
        if (actual !== digest) state = { state: 'mismatch' };
        else {
          try {
            state = { state: 'ok', manifest: parseManifest(bytes, 'the manifest') };
          } catch (err) {
            state = { state: 'bad', reason: (err as Error).message };
          }
        }
      }
    }
    a.manifests.set(digest, state);
    tick();
  });
}

/** Digests a repo-scoped audit needs blob info for: layer links and every reference. */
function scopedDigests(a: AuditData): Digest[] {
  const out: Digest[] = [];
  for (const r of a.inv.repos) for (const l of r.layers) if (l.content !== undefined) out.push(l.named!);
  for (const s of a.manifests.values()) {
    if (s.state !== 'ok') continue;
    const m = s.manifest;
    for (const x of [m.config, ...m.layers, ...m.manifests]) if (x && isDigest(x.digest)) out.push(x.digest);
  }
  return [...out, ...aliasTargets(a.aliases)];
}

/** A digest and reference audit of the store, and with `fix` its safe repairs. */
export async function verifyStore(store: StorageDriver, opts: VerifyOptions): Promise<VerifyReport> {
  // Symlinks and special files found by the survey or met while reading are findings; to the
  // audit's reads they are missing, and no repair goes near them.
  const hazards = new HazardLog();
  await surveyHazards(store, hazards);
  const d = tolerant(store, hazards);
  const progress = (phase: AuditPhase, p: Partial<AuditProgress> = {}): void => opts.onProgress?.({ phase, done: 0, total: 0, bytes: 0, totalBytes: 0, ...p });
  // Worker threads start only when something is hashed in bulk.
  let pool: BlobHasher | undefined;
  const hasher = (): BlobHasher => (pool ??= new BlobHasher(store, { threads: opts.threads, streamHashing: opts.streamHashing, hazards }));
  const hashed = new Map<Digest, HashResult | undefined>();
  // Blobs are hashed while the rest of the store is read: on a whole-store audit from the moment
  // the scan finds them.
  let showHash = true; // hash progress, except while links and manifests are read
  const feed = opts.hash
    ? new HashFeed(
        hasher(),
        hasher().parallelism(opts.concurrency),
        (b, r) => {
          if (r) {
            hashed.set(b.digest, r);
            if (b.stamp) opts.checkpoint?.record(b.digest, b.stamp, r);
            b.size = r.size;
          } else b.exists = false; // no data (or deleted while we looked)
        },
        (p) => {
          if (showHash) progress('hash', p);
        },
      )
    : undefined;
  try {
    progress('scan');
    const mine = (g: Digest): boolean => owns(opts.shard, g);
    const cp = opts.checkpoint;
    const add = feed && (cp ? resumingFeed(d, cp, feed, hashed) : (b: BlobInfo) => feed.add(b));
    const inv: Inventory = await scanStore(d, { repos: opts.repos, concurrency: opts.concurrency, onBlob: add, hashes: mine });
    const a: AuditData = { inv, manifests: new Map(), hashed, aliases: new Map(), aliasHashes: new Map(), now: opts.now ?? new Date() };

    const links = inv.repos.flatMap((r) => [...r.layers, ...r.revisions, ...[...r.tags.values()].flatMap((t) => [...(t.current ? [t.current] : []), ...t.index])]);
    showHash = false;
    let n = 0;
    await readLinks(d, links, opts.concurrency, () => progress('links', { done: ++n, total: links.length }));

    const revisions = [...new Set(inv.repos.flatMap((r) => r.revisions.filter((l) => l.content !== undefined).map((l) => l.named!)))];
    // Sizes first: a revision that is really a 10 GB layer must not be read into memory.
    await statBlobs(d, revisions, opts.concurrency, inv.blobs);
    n = 0;
    await readRevisions(d, a, revisions, opts, () => progress('manifests', { done: ++n, total: revisions.length }));
    const readable = inv.repos.flatMap((r) =>
      r.revisions.flatMap((l) => {
        const s = l.content === undefined ? undefined : a.manifests.get(l.named!);
        return s?.state === 'ok' ? [{ repo: r.name, manifest: s.manifest }] : [];
      }),
    );
    a.aliases = await readAliasLinks(d, readable, opts.concurrency);
    if (!inv.allBlobs) {
      await statBlobs(d, scopedDigests(a), opts.concurrency, inv.blobs);
      if (add) for (const b of inv.blobs.values()) if (b.exists && !hashed.has(b.digest) && mine(b.digest)) await add(b);
    }
    showHash = true;
    await feed?.drain();
    if (opts.hash) a.aliasHashes = await hashAliases(d, a.aliases, (g) => mine(g) && (inv.blobs.get(g)?.exists ?? false), opts.concurrency);

    // Manifests are read by every shard but counted by the one whose share they are: the shards'
    // counts add up to an unsharded run's.
    let bytesHashed = 0;
    let blobsHashed = 0;
    for (const [g, h] of hashed) {
      if (!mine(g)) continue;
      blobsHashed++;
      bytesHashed += h?.size ?? 0;
    }
    const unsafe = () =>
      hazards
        .list()
        .map((h) => finding({ kind: 'unsafe-path', path: h.path, detail: `${describeHazard(h)}: regbucket does not follow, open or fix through it; look at it and remove or replace it by hand` }));
    let findings = [...checkStore(a), ...unsafe()];
    let repairs: Repair[] | undefined;
    if (opts.fix) {
      progress('fix');
      const verified = async (digest: Digest): Promise<boolean> => {
        let h: HashResult | undefined = hashed.get(digest);
        if (!h && inv.blobs.get(digest)?.exists) {
          h = await hasher().hash(digest);
          hashed.set(digest, h);
        }
        return h?.digest === digest;
      };
      const plannedRepairs = await planRepairs(findings, a, verified);
      const before = hazards.size;
      repairs = await applyRepairs(d, plannedRepairs, opts.concurrency, hazards.list());
      if (hazards.size > before) findings = [...findings.filter((f) => f.kind !== 'unsafe-path'), ...unsafe()];
    }
    findings = sortFindings(findings);
    const problems = findings.filter((f) => f.severity === 'problem');
    return {
      clean: problems.every((f) => f.repaired),
      hashed: opts.hash,
      repositories: inv.repos.length,
      blobs: inv.blobs.size,
      links: links.filter((l) => l.content !== undefined).length,
      manifests: revisions.length,
      blobsHashed,
      bytesHashed,
      problems: problems.length,
      warnings: findings.length - problems.length,
      repaired: findings.filter((f) => f.repaired).length,
      summary: summarize(findings),
      findings,
      ...(repairs ? { repairs } : {}),
      ...(opts.shard ? { shard: { ...opts.shard, assignment: SHARD_ASSIGNMENT, blobs: share(inv.blobs.keys(), mine) } } : {}),
      ...(cp ? { checkpoint: { file: cp.file, resumed: cp.records > 0, blobsSkipped: cp.blobsSkipped, bytesSkipped: cp.bytesSkipped, ignoredLines: cp.ignoredLines } } : {}),
    };
  } finally {
    await feed?.drain().catch(() => undefined);
    await pool?.close();
  }
}
