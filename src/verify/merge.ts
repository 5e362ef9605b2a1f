// verify --merge: shard reports (verify --shard i/n --json) into the report of one unsharded run.
// Every shard makes every structural check, so those findings come n times and are kept once; a
// blob's digest-mismatch comes from the one shard that hashed it. The store is never read.
import { open } from 'node:fs/promises';
import { constants } from 'node:fs';
import { UsageError } from '../errors.js';
import { FINDING_KINDS, sortFindings, summarize, type Finding } from './findings.js';
import type { ShardInfo, VerifyReport } from './audit.js';
import { MAX_SHARDS, SHARD_ASSIGNMENT } from './shard.js';
import { compareStrings } from '../util/compare.js';

/** A shard's --json document: the report, with the store it audited. */
export type ShardReport = VerifyReport & { shard: ShardInfo; store: string; repos?: string[]; seconds: number };

export interface MergeInfo {
  shards: number;
  /** False when the shards saw different numbers of blobs, links or manifests: the store changed between their runs. */
  consistent: boolean;
}

export type MergedReport = VerifyReport & { store: string; merged: MergeInfo; seconds: number };

const COUNTS = ['repositories', 'blobs', 'links', 'manifests'] as const;

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

/** A report's findings are printed and counted by kind: each must be one verify makes, with its own severity. */
function isFinding(f: unknown): boolean {
  if (typeof f !== 'object' || f === null || Array.isArray(f)) return false;
  const x = f as Record<string, unknown>;
  const opt = (k: string): boolean => x[k] === undefined || typeof x[k] === 'string';
  if (typeof x.kind !== 'string' || !Object.hasOwn(FINDING_KINDS, x.kind)) return false;
  if (x.severity !== FINDING_KINDS[x.kind as keyof typeof FINDING_KINDS].severity) return false;
  if (typeof x.path !== 'string' || typeof x.detail !== 'string' || !['repo', 'tag', 'digest', 'link', 'manifest', 'fix', 'repaired'].every(opt)) return false;
  return x.usedBy === undefined || (Array.isArray(x.usedBy) && x.usedBy.every((u) => typeof u === 'string'));
}

/** Far above any report verify writes (findings are bounded by the store's paths), and bounded. */
const MAX_REPORT_BYTES = 256 * 1024 * 1024;

/** The fields merging relies on, checked: a report from elsewhere is refused, not half-merged. */
function asShardReport(doc: unknown, name: string): ShardReport {
  const d = doc as Partial<ShardReport> | null;
  const bad = (what: string): never => {
    throw new UsageError(`${name} is not a verify --shard report (${what}): give the --json output of regbucket verify --shard i/n`);
  };
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return bad('not a JSON object');
  const s = d.shard;
  if (typeof s !== 'object' || s === null) return bad('no "shard"');
  if (!isCount(s.index) || !isCount(s.count) || s.index >= s.count || s.count > MAX_SHARDS || !isCount(s.blobs)) return bad('"shard" is not {index, count, blobs}');
  if (typeof d.store !== 'string') return bad('no "store"');
  if (d.hashed !== true) return bad('"hashed" is not true');
  if (!Array.isArray(d.findings) || !d.findings.every(isFinding)) return bad('"findings" is not a list of verify findings');
  for (const k of [...COUNTS, 'blobsHashed', 'bytesHashed'] as const) if (!isCount(d[k])) return bad(`no count "${k}"`);
  return d as ShardReport;
}

/** A regular file of bounded size: a FIFO or device given by mistake would block or never end. */
async function readReport(f: string, shown: string): Promise<string> {
  let h;
  try {
    h = await open(f, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new UsageError(`cannot read shard report ${shown}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const st = await h.stat();
    if (!st.isFile()) throw new UsageError(`shard report ${shown} is not a regular file: give the --json output of regbucket verify --shard i/n`);
    if (st.size > MAX_REPORT_BYTES) throw new UsageError(`shard report ${shown} is larger than ${MAX_REPORT_BYTES / 1024 / 1024} MiB: not a verify --shard report`);
    return await h.readFile('utf8');
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot read shard report ${shown}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  } finally {
    await h.close();
  }
}

/** Reads and checks each report file (the merge's only I/O). */
export async function readShardReports(files: string[]): Promise<ShardReport[]> {
  const out: ShardReport[] = [];
  for (const f of files) {
    const shown = JSON.stringify(f);
    const text = await readReport(f, shown);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new UsageError(`shard report ${shown} is not JSON: give the --json output of regbucket verify --shard i/n`);
    }
    out.push(asShardReport(doc, `shard report ${shown}`));
  }
  return out;
}

/** A finding's identity: every field, in a fixed order. */
function key(f: Finding): string {
  return JSON.stringify(Object.entries(f).sort(([a], [b]) => compareStrings(a, b)));
}

/** The unsharded report the shards add up to; a set that is not exactly shards 0..n-1 of one store is refused. */
export function mergeShardReports(reports: ShardReport[], names: string[]): MergedReport {
  if (reports.length === 0) throw new UsageError('--merge needs the shard reports: regbucket verify --merge shard-0.json shard-1.json ...');
  const first = reports[0]!;
  const n = first.shard.count;
  const byIndex = new Map<number, number>();
  reports.forEach((r, i) => {
    const name = JSON.stringify(names[i]);
    if (r.store !== first.store)
      throw new UsageError(`${name} is a report of store ${JSON.stringify(r.store)}, ${JSON.stringify(names[0])} of ${JSON.stringify(first.store)}: merge the shards of one store`);
    if (r.shard.count !== n) throw new UsageError(`${name} is shard ${r.shard.index}/${r.shard.count}, ${JSON.stringify(names[0])} is one of ${n} shards: merge the shards of one run`);
    const assignment: unknown = r.shard.assignment;
    if (assignment !== SHARD_ASSIGNMENT) throw new UsageError(`${name} splits blobs by ${JSON.stringify(assignment)}, not ${SHARD_ASSIGNMENT}: re-run that shard with this regbucket`);
    if (JSON.stringify(r.repos ?? []) !== JSON.stringify(first.repos ?? [])) throw new UsageError(`${name} audits other repositories than ${JSON.stringify(names[0])}: merge the shards of one run`);
    const dup = byIndex.get(r.shard.index);
    if (dup !== undefined) throw new UsageError(`shard ${r.shard.index}/${n} is given twice (${JSON.stringify(names[dup])} and ${name}): give each shard once`);
    byIndex.set(r.shard.index, i);
  });
  const missing = [...Array(n).keys()].filter((i) => !byIndex.has(i));
  if (missing.length > 0)
    throw new UsageError(`shard${missing.length > 1 ? 's' : ''} ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', ...' : ''} of ${n} missing: give every shard's report`);

  const seen = new Map<string, Finding>();
  for (const r of reports) for (const f of r.findings) seen.set(key(f), f);
  const findings = sortFindings([...seen.values()]);
  const problems = findings.filter((f) => f.severity === 'problem').length;
  const zero = reports[byIndex.get(0)!]!;
  const shareTotal = reports.reduce((t, r) => t + r.shard.blobs, 0);
  const consistent = reports.every((r) => COUNTS.every((k) => r[k] === zero[k])) && shareTotal === zero.blobs;
  return {
    clean: problems === 0,
    hashed: true,
    repositories: zero.repositories,
    blobs: zero.blobs,
    links: zero.links,
    manifests: zero.manifests,
    blobsHashed: reports.reduce((t, r) => t + r.blobsHashed, 0),
    bytesHashed: reports.reduce((t, r) => t + r.bytesHashed, 0),
    problems,
    warnings: findings.length - problems,
    repaired: 0,
    summary: summarize(findings),
    findings,
    store: first.store,
    merged: { shards: n, consistent },
    seconds: Math.max(...reports.map((r) => (typeof r.seconds === 'number' ? r.seconds : 0))),
  };
}
