// The audit: scan, read links, read and parse every revision, hash blobs, apply the rules
// (checks.ts), and with --fix carry out the safe repairs (fix.ts).
import type { StorageDriver } from '../drivers/driver.js';
import { isNotFound } from '../errors.js';
import { sha256, type Digest } from '../image/digest.js';
import { MAX_MANIFEST_BYTES, parseManifest } from '../image/manifest.js';
import { blobDataPath } from '../store/paths.js';
import { BlobHasher, type StreamHashing } from './blob-hasher.js';
import { checkStore, type AuditData, type ManifestState } from './checks.js';
import { eachLimit } from './each-limit.js';
import { sortFindings, summarize, type Finding, type KindCount } from './findings.js';
import type { HashResult } from './hash-pool.js';
import { scanStore, statBlobs, type Inventory } from './inventory.js';
import { readLinks } from './link-check.js';
import { applyRepairs, planRepairs, type Repair } from './fix.js';

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
}

async function readRevisions(d: StorageDriver, a: AuditData, digests: Digest[], opts: VerifyOptions, tick: () => void): Promise<void> {
  await eachLimit(digests, opts.concurrency, async (digest) => {
    const blob = a.inv.blobs.get(digest);
    let state: ManifestState;
    if (!blob?.exists) state = { state: 'missing' };
    else if (blob.size > MAX_MANIFEST_BYTES) state = { state: 'bad', reason: `its blob is ${blob.size} bytes: not a manifest` };
    else {
      let bytes: Buffer | undefined;
      try {
        bytes = await d.getContent(blobDataPath(digest));
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
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
    for (const x of [m.config, ...m.layers, ...m.manifests]) if (x) out.push(x.digest);
  }
  return out;
}

async function hashBlobs(a: AuditData, hasher: BlobHasher, opts: VerifyOptions, report: (p: Omit<AuditProgress, 'phase'>) => void): Promise<void> {
  const todo = [...a.inv.blobs.values()].filter((b) => b.exists && !a.hashed.has(b.digest)).sort((x, y) => y.size - x.size);
  const totalBytes = todo.reduce((s, b) => s + b.size, 0);
  let done = 0;
  let bytes = 0;
  await eachLimit(todo, hasher.parallelism(opts.concurrency), async (b) => {
    const r = await hasher.hash(b.digest, (n) => {
      bytes += n;
      report({ done, total: todo.length, bytes, totalBytes });
    });
    if (r) a.hashed.set(b.digest, r);
    else b.exists = false; // deleted while we looked
    done++;
    report({ done, total: todo.length, bytes, totalBytes });
  });
}

/** A digest and reference audit of the store, and with `fix` its safe repairs. */
export async function verifyStore(d: StorageDriver, opts: VerifyOptions): Promise<VerifyReport> {
  const progress = (phase: AuditPhase, p: Partial<AuditProgress> = {}): void =>
    opts.onProgress?.({ phase, done: 0, total: 0, bytes: 0, totalBytes: 0, ...p });
  progress('scan');
  const inv: Inventory = await scanStore(d, { repos: opts.repos, concurrency: opts.concurrency });
  const a: AuditData = { inv, manifests: new Map(), hashed: new Map(), now: opts.now ?? new Date() };

  const links = inv.repos.flatMap((r) => [...r.layers, ...r.revisions, ...[...r.tags.values()].flatMap((t) => [...(t.current ? [t.current] : []), ...t.index])]);
  let n = 0;
  await readLinks(d, links, opts.concurrency, () => progress('links', { done: ++n, total: links.length }));

  const revisions = [...new Set(inv.repos.flatMap((r) => r.revisions.filter((l) => l.content !== undefined).map((l) => l.named!)))];
  if (!inv.allBlobs) await statBlobs(d, revisions, opts.concurrency, inv.blobs);
  n = 0;
  await readRevisions(d, a, revisions, opts, () => progress('manifests', { done: ++n, total: revisions.length }));
  if (!inv.allBlobs) await statBlobs(d, scopedDigests(a), opts.concurrency, inv.blobs);

  // Worker threads start only when something is hashed in bulk.
  let pool: BlobHasher | undefined;
  const hasher = (): BlobHasher => (pool ??= new BlobHasher(d, { threads: opts.threads, streamHashing: opts.streamHashing }));
  let bytesHashed = 0;
  let repairs: Repair[] | undefined;
  let findings: Finding[];
  try {
    if (opts.hash) await hashBlobs(a, hasher(), opts, (p) => progress('hash', p));
    for (const h of a.hashed.values()) bytesHashed += h?.size ?? 0;
    const blobsHashed = a.hashed.size;
    findings = checkStore(a);
    if (opts.fix) {
      progress('fix');
      const verified = async (digest: Digest): Promise<boolean> => {
        let h: HashResult | undefined = a.hashed.get(digest);
        if (!h && inv.blobs.get(digest)?.exists) {
          h = await hasher().hash(digest);
          a.hashed.set(digest, h);
        }
        return h?.digest === digest;
      };
      repairs = await applyRepairs(d, await planRepairs(findings, a, verified), opts.concurrency);
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
    };
  } finally {
    await pool?.close();
  }
}
