// The gc from start to end: scan, read manifests, mark, fetch the facts candidates need, plan;
// then either report the plan (dry run) or carry it out and report what was deleted.
import type { StorageDriver } from '../drivers/driver.js';
import { readManifests, type ManifestGraph } from './manifest-graph.js';
import { markStore } from './mark.js';
import { fetchFacts } from './facts.js';
import { planGc, type GcPlan } from './plan.js';
import { buildReport, type GcReport, type ReportInput } from './report.js';
import { scanBlobs, scanRepositories } from './scan.js';
import { BlobTable, type RepoScan } from './store-scan.js';
import { sweep, type SweepPhase } from './sweep.js';
import { hasFastReads } from '../drivers/driver.js';
import { localReads, type LocalReadMode } from '../drivers/local-reads/decorator.js';
import { multipartAborter, multipartUploads } from './multipart.js';
import { writeDebris } from './write-debris.js';
import { DEFAULT_MAX_CLOCK_SKEW_MS, gcClock } from './clock.js';
import { HazardLog, surveyHazards } from '../store/hazards.js';
import { blobDataPath } from '../store/paths.js';
import { containPlan, hazardWarnings } from './contain.js';

const LOCAL_CONCURRENCY = 256;

export interface GcOptions {
  dryRun: boolean;
  deleteUntagged: boolean;
  /** Nothing whose storage time is younger than this is deleted. */
  minAgeMs: number;
  /** Uploads (and S3 multipart uploads, and leftovers of killed writes) started longer ago than this are removed. */
  uploadsOlderThanMs: number;
  /** Storage requests in flight. */
  concurrency: number;
  /** The time ages are measured from (default: the storage's clock at the start of the run). */
  now?: number;
  /** A real run refuses to delete when the storage's clock and this machine's differ by more (default 5 min; Infinity: any). */
  maxClockSkewMs?: number;
  /** The store's name in messages. */
  storeName?: string;
  recheckMs?: number;
  /** Local stores: where reads run (tests and benchmarks pin it; default auto). */
  localReads?: LocalReadMode;
  /** Entries per list in the report (a terminal shows a few); all when undefined (--json). */
  listLimit?: number;
  onProgress?: (p: GcProgress) => void;
}

export type GcPhase = 'scan' | 'read' | 'plan' | SweepPhase;

export interface GcProgress {
  phase: GcPhase;
  done: number;
  total: number;
}

export interface GcState {
  table: BlobTable;
  repos: RepoScan[];
  graph: ManifestGraph;
  plan: GcPlan;
}

/**
 * Everything up to the plan: what a dry run prints and a real run carries out. `hazards` holds
 * the unsafe paths surveyed before and met while reading: the plan keeps what they might protect.
 */
export async function planStore(d: StorageDriver, opts: GcOptions, now: number, hazards = new HazardLog()): Promise<GcState> {
  const progress = (phase: GcPhase, done = 0, total = 0): void => opts.onProgress?.({ phase, done, total });
  const table = new BlobTable();
  let listed = 0;
  // Local reads are batched to worker threads: many in flight cost nothing and fill the batches.
  const concurrency = hasFastReads(d) ? Math.max(opts.concurrency, LOCAL_CONCURRENCY) : opts.concurrency;
  const scanOpts = { concurrency, hazards, onListed: () => progress('scan', (listed += 1000)) };
  progress('scan');
  const [repos, , multipart, debris] = await Promise.all([scanRepositories(d, table, scanOpts), scanBlobs(d, table, scanOpts), multipartUploads(d), writeDebris(d)]);
  const graph: ManifestGraph = new Map();
  await readManifests(
    d,
    table,
    graph,
    repos.flatMap((r) => r.revisions),
    {
      concurrency,
      onRead: (done, total) => progress('read', done, total),
    },
  );
  // A manifest too large to read is a multi-GB file where a small one belongs: named like any
  // other unsafe path (marking already keeps every blob for it).
  // A manifest whose blob sits at or below an unsafe path was not read ("missing" to the reads):
  // its references are unknown too, so marking keeps every blob.
  const unsafe = hazards.list().map((h) => h.path);
  for (const [i, info] of graph) {
    const path = blobDataPath(table.set.digest(i));
    if (info.state === 'unreadable' && info.scraped === undefined) hazards.add({ path, kind: 'oversized', detail: info.reason });
    else if (info.state === 'missing' && unsafe.some((u) => path === u || path.startsWith(`${u}/`))) graph.set(i, { state: 'unreadable', reason: 'its blob is behind an unsafe path' });
  }
  progress('plan');
  const markOpts = { deleteUntagged: opts.deleteUntagged, minAgeMs: opts.minAgeMs, now };
  const marks = markStore(table, graph, repos, markOpts);
  await fetchFacts(d, table, marks, concurrency);
  const plan = containPlan(planGc(table, graph, marks, { multipart: multipart ?? [], writeDebris: debris }, { ...markOpts, uploadsOlderThanMs: opts.uploadsOlderThanMs }), table, hazards.list());
  return { table, repos, graph, plan };
}

/** A whole run, up to what the report is made of (buildReport, or reportJson for --json). */
export async function collectGc(store: StorageDriver, opts: GcOptions): Promise<ReportInput> {
  const started = Date.now();
  const clock = opts.now !== undefined ? { now: opts.now, offsetMs: 0 } : await gcClock(store, opts.storeName ?? 'the store', opts.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS, !opts.dryRun);
  const now = clock.now;
  const hazards = new HazardLog();
  await surveyHazards(store, hazards);
  const { d, release } = localReads(store, opts.localReads, undefined, hazards);
  try {
    const { table, repos, graph, plan } = await planStore(d, opts, now, hazards);
    const planned = new Set(hazards.list().map((h) => h.path));
    const swept = opts.dryRun
      ? undefined
      : await sweep(d, table, graph, plan, {
          deleteUntagged: opts.deleteUntagged,
          minAgeMs: opts.minAgeMs,
          uploadsOlderThanMs: opts.uploadsOlderThanMs,
          now,
          concurrency: opts.concurrency,
          recheckMs: opts.recheckMs,
          onProgress: (phase, done, total) => opts.onProgress?.({ phase, done, total }),
          abortMultipart: multipartAborter(d),
          onLeft: (path, why) => plan.warnings.push({ kind: 'left-in-place', repo: '', path, detail: `${path} was not deleted: ${why}` }),
        });
    // Met only while sweeping (created meanwhile): named too.
    plan.warnings.push(...hazardWarnings(hazards.list().filter((h) => !planned.has(h.path))));
    return {
      table,
      repos,
      plan,
      swept,
      deleteUntagged: opts.deleteUntagged,
      minAgeMs: opts.minAgeMs,
      uploadsOlderThanMs: opts.uploadsOlderThanMs,
      seconds: (Date.now() - started) / 1000,
      listLimit: opts.listLimit,
      clockOffsetMs: clock.offsetMs,
    };
  } finally {
    await release();
  }
}

export async function runGc(store: StorageDriver, opts: GcOptions): Promise<GcReport> {
  return buildReport(await collectGc(store, opts));
}
