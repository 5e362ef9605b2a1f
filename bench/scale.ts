// gc's dry run on a store of any size (issue 12): regbucket's own gc code (collectGc, as the CLI
// runs it) against bench/synthetic-store.ts, a store generated from a seed as it is listed, with a
// simulated S3 round trip on every request and a fraction of them answered 503 SlowDown. Reports
// the process's peak RSS, wall time by phase, requests, and whether the plan is exactly the
// generator's garbage (every planned blob is garbage by its index, and the counts match).
// Run: npx tsx bench/scale.ts (or node --expose-gc --import tsx bench/scale.ts, to report what the gc holds)
//      npx tsx bench/scale.ts --blobs <n> [--json] [--concurrency 64] [--latency-ms 20]
//        [--throttle 0.01] [--delete-untagged] [--seed 1] [--temp-dir <dir>]
// With --json the last line is one JSON object (blobs, peakRssMiB, seconds, requests, planCorrect, ...).
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { collectGc, type GcPhase } from '../src/gc/run.js';
import { buildReport } from '../src/gc/report.js';
import { DEFAULT_SHAPE, SyntheticStore, type Shape } from './synthetic-store.js';

const { values: a } = parseArgs({
  options: {
    blobs: { type: 'string', default: String(DEFAULT_SHAPE.blobs) },
    seed: { type: 'string', default: String(DEFAULT_SHAPE.seed) },
    concurrency: { type: 'string', default: '64' },
    'latency-ms': { type: 'string', default: '20' },
    throttle: { type: 'string', default: '0.01' },
    'max-attempts': { type: 'string', default: '6' },
    'images-per-repo': { type: 'string', default: String(DEFAULT_SHAPE.imagesPerRepo) },
    'delete-untagged': { type: 'boolean', default: false },
    'temp-dir': { type: 'string', default: join(tmpdir(), 'regbucket-scale') },
    json: { type: 'boolean', default: false },
  },
});

const mib = (kb: number): number => Math.round(kb / 1024);
const log = (s: string): void => void process.stderr.write(`${s}\n`);

async function main(): Promise<void> {
  const shape: Shape = { ...DEFAULT_SHAPE, blobs: Number(a.blobs), seed: Number(a.seed), imagesPerRepo: Number(a['images-per-repo']) };
  const concurrency = Number(a.concurrency);
  const deleteUntagged = a['delete-untagged'];
  const t0 = Date.now();
  const store = new SyntheticStore(shape, { latencyMs: Number(a['latency-ms']), throttleRate: Number(a.throttle), maxAttempts: Number(a['max-attempts']) }, a['temp-dir']);
  const indexSeconds = (Date.now() - t0) / 1000;
  const c = store.counts;
  log(`store: ${shape.blobs} blobs, ${c.images} manifests, ${c.repos} repositories, ${c.tags} tags, ${c.orphans} orphans (manifest index ready in ${indexSeconds.toFixed(1)} s)`);
  const baseRss = process.memoryUsage().rss;
  const basePeak = process.resourceUsage().maxRSS;
  const phases: Partial<Record<GcPhase, number>> = {};
  let phase: GcPhase | undefined;
  const started = Date.now();
  let lastLog = started;
  let heldAtPlan: NodeJS.MemoryUsage | undefined;
  const input = await collectGc(store, {
    dryRun: true,
    deleteUntagged,
    minAgeMs: 0,
    uploadsOlderThanMs: 7 * 86_400_000,
    concurrency,
    now: Date.now(),
    listLimit: 20,
    onProgress: (p) => {
      const now = Date.now();
      if (p.phase !== phase) {
        phase = p.phase;
        phases[p.phase] = (now - started) / 1000;
        // What the gc holds once every manifest is read (table, repositories, manifest graph), garbage
        // collected first: what has to fit, against the peak, which also counts garbage not yet collected.
        if (p.phase === 'plan' && typeof global.gc === 'function') {
          global.gc();
          heldAtPlan = process.memoryUsage();
        }
      }
      if (now - lastLog > 10_000) {
        lastLog = now;
        log(`  ${p.phase} ${p.done}${p.total ? `/${p.total}` : ''} at ${((now - started) / 1000).toFixed(0)} s, rss ${mib(process.memoryUsage().rss / 1024)} MiB, ${store.requestTotal()} requests`);
      }
    },
  });
  const seconds = (Date.now() - started) / 1000;
  const gcPeak = process.resourceUsage().maxRSS;
  const report = buildReport(input);

  // The plan against the generator: each planned blob garbage by its index, and as many as expected.
  let wrong = 0;
  let firstWrong = '';
  for (const i of input.plan.blobs) {
    const hex = input.table.set.hex(i);
    const kind = store.classify(hex);
    if (!kind || !store.isGarbage(kind, deleteUntagged)) {
      wrong++;
      firstWrong ||= `${hex} (${kind?.kind ?? 'not in the store'})`;
    }
  }
  const expected = store.expectedGarbage(deleteUntagged);
  const revisions = input.plan.repos.reduce((n, r) => n + r.revisions.length, 0);
  const planCorrect =
    wrong === 0 && input.plan.blobs.length === expected && revisions === store.expectedRevisions(deleteUntagged) && report.scanned.blobs === shape.blobs && input.plan.warnings.length === 0;
  const requests = store.requestTotal();
  const row = {
    blobs: shape.blobs,
    manifests: c.images,
    repositories: c.repos,
    tags: c.tags,
    deleteUntagged,
    peakRssMiB: mib(gcPeak),
    rssBeforeGcMiB: mib(baseRss / 1024),
    peakBeforeGcMiB: mib(basePeak),
    /** With node --expose-gc: heap and array buffers live when planning starts, and the digest table's share. */
    heldAtPlanMiB: heldAtPlan ? mib((heldAtPlan.heapUsed + heldAtPlan.arrayBuffers) / 1024) : null,
    tableMiB: mib(input.table.bytes / 1024),
    seconds: Number(seconds.toFixed(1)),
    phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Number(v.toFixed(1))])),
    requests,
    requestsByOp: Object.fromEntries(store.requests),
    throttled: store.throttled,
    concurrency,
    maxInFlight: store.maxInFlight,
    latencyMs: store.net.latencyMs,
    throttleRate: store.net.throttleRate,
    /** The round trips' time if `concurrency` were always in flight: the floor the issue measures wall time against. */
    requestSeconds: Number((store.requestMs / 1000 / concurrency).toFixed(1)),
    planned: input.plan.blobs.length,
    expected,
    plannedRevisions: revisions,
    wrong,
    ...(firstWrong ? { firstWrong } : {}),
    warnings: input.plan.warnings.length,
    scannedBlobs: report.scanned.blobs,
    planCorrect,
    seed: shape.seed,
    indexSeconds: Number(indexSeconds.toFixed(1)),
  };
  await store.close();
  if (a.json) {
    console.log(JSON.stringify(row));
    return;
  }
  console.log(
    [
      `${row.blobs} blobs (${row.manifests} manifests, ${row.repositories} repositories, ${row.tags} tags): gc --dry-run${deleteUntagged ? ' --delete-untagged' : ''} in ${row.seconds} s (phases start at ${JSON.stringify(row.phases)})`,
      `peak RSS ${row.peakRssMiB} MiB (${row.rssBeforeGcMiB} MiB before gc started); held when planning ${row.heldAtPlanMiB ?? '?'} MiB, of which the digest table ${row.tableMiB} MiB`,
      `${requests} requests (${JSON.stringify(row.requestsByOp)}), ${row.throttled} answered SlowDown; at most ${row.maxInFlight} in flight of ${concurrency}; round trips / concurrency: ${row.requestSeconds} s`,
      `plan: ${row.planned} blobs, ${row.plannedRevisions} revisions; expected ${expected}; ${wrong} not garbage; planCorrect ${planCorrect}`,
    ].join('\n'),
  );
}

await main();
