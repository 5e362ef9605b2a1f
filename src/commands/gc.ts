import type { Context } from '../cli/context.js';
import { formatBytes, type Output } from '../cli/output.js';
import { buildReport, reportJson, type GcReport, type GcTotals, type ReportInput } from '../gc/report.js';
import { collectGc, type GcProgress } from '../gc/run.js';
import { parseDuration } from '../util/duration.js';
import { parseMaxSkew } from '../gc/clock.js';
import { ExitCode } from '../errors.js';
import { lockStore } from '../store/lock.js';
import { escapeText as esc } from '../util/escape.js';
import { setFlagsFromString } from 'node:v8';

interface GcFlags {
  dryRun?: boolean;
  deleteUntagged?: boolean;
  minAge: string;
  uploadsOlderThan: string;
  maxClockSkew: string;
  breakLock?: boolean;
}

/** Items shown per kind on a terminal; --json lists them all. */
const SHOWN = 20;

function progressLine(p: GcProgress): string {
  switch (p.phase) {
    case 'scan':
      return `gc: listing the store${p.done ? ` (${p.done.toLocaleString('en')} entries)` : ''}`;
    case 'read':
      return `gc: reading manifests ${p.done}/${p.total}`;
    case 'plan':
      return 'gc: marking and planning';
    case 'manifests':
      return `gc: deleting manifests (repository ${p.done}/${p.total})`;
    case 'blobs':
      return `gc: deleting blobs ${p.done}/${p.total}`;
    default:
      return `gc: removing ${p.phase === 'links' ? 'layer links' : p.phase}`;
  }
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
}

function totalsLine(t: GcTotals): string {
  const extra: [number, string, string?][] = [
    [t.tags, 'referrers tag'],
    [t.layerLinks, 'layer link'],
    [t.uploads, 'upload'],
    [t.multipartUploads, 'multipart upload'],
    [t.writeDebris, 'leftover of a killed write', 'leftovers of killed writes'],
    [t.repositories, 'repository', 'repositories'],
  ];
  return [`${count(t.blobs, 'blob')} (${formatBytes(t.bytes)})`, count(t.manifests, 'manifest'), ...extra.filter(([n]) => n > 0).map(([n, one, many]) => count(n, one, many))].join(', ');
}

function capped<T>(items: T[], total: number, line: (x: T) => string, what: string): string[] {
  const out = items.slice(0, SHOWN).map(line);
  if (total > out.length) out.push(`  ... and ${count(total - out.length, `more ${what}`)} (--json lists them all)`);
  return out;
}

function render(out: Output, r: GcReport): string {
  const s = r.scanned;
  const lines = [`scanned ${count(s.repositories, 'repository', 'repositories')}, ${count(s.blobs, 'blob')}, ${count(s.manifests, 'manifest')}, ${count(s.tags, 'tag')} in ${r.seconds.toFixed(1)} s`];
  const verb = r.dryRun ? 'would delete' : 'deleted';
  const shown = r.deleted ?? r.planned;
  lines.push(`${verb} ${totalsLine(shown)}`);
  if (r.deleted && r.deleted.blobs + r.deleted.manifests < r.planned.blobs + r.planned.manifests) {
    lines.push(`planned ${totalsLine(r.planned)}; re-checks kept the rest (written to meanwhile)`);
  }
  const k = r.kept;
  const young = [
    k.youngBlobs && count(k.youngBlobs, 'unreferenced blob') + ` younger than ${r.minAge}`,
    k.recentlyLinked && count(k.recentlyLinked, 'unreferenced blob') + ` linked less than ${r.minAge} ago`,
    k.youngRevisions && count(k.youngRevisions, 'untagged manifest') + ` younger than ${r.minAge}`,
  ].filter(Boolean);
  lines.push(`kept ${count(k.marked, 'referenced blob')}${young.length ? `; ${young.join('; ')}` : ''}`);
  if (r.repositories.length > 0) {
    lines.push(
      out.table(
        ['repository', 'blobs', 'bytes', 'manifests', 'layer links', 'uploads', 'removed'],
        r.repositories.map((x) => [x.repository, x.blobs, formatBytes(x.bytes), x.manifests, x.layerLinks, x.uploads, x.removed ? 'yes' : '']),
      ),
    );
  }
  const l = r.lists;
  lines.push(...capped(l.manifests, shown.manifests, (m) => `${verb} manifest ${m.repository}@${m.digest}`, 'manifests'));
  lines.push(...capped(l.tags, shown.tags, (t) => `${verb} referrers tag ${t.repository}:${t.tag} (its subject is gone)`, 'tags'));
  lines.push(...capped(l.repositories, shown.repositories, (name) => `${verb} repository ${name} (no manifest left)`, 'repositories'));
  for (const w of r.warnings) {
    lines.push(w.path !== undefined ? `warning: ${w.kind}: ${esc(w.detail)}` : `warning: ${w.kind} ${esc(w.repo)}${w.tag ? `:${esc(w.tag)}` : ''}${w.digest ? `@${w.digest}` : ''}: ${esc(w.detail)}`);
  }
  if (r.clockOffsetMs === null) lines.push("warning: the store does not tell its time: ages were measured by this machine's clock (a real run refuses; see --max-clock-skew)");
  else if (Math.abs(r.clockOffsetMs) >= 60_000) lines.push(`note: ages measured by the store's clock, ${Math.round(r.clockOffsetMs / 1000)} s from this machine's`);
  if (r.dryRun) lines.push('dry run: nothing was deleted');
  else if (shown.blobs > 0) lines.push('restart any registry serving this store: it caches blob descriptors and may answer for deleted blobs');
  return lines.join('\n');
}

export async function run(ctx: Context, flags: GcFlags): Promise<number> {
  // The scan's garbage (listings, entries, replies of the read threads) is short-lived, but V8's
  // default heap growth let it take the peak RSS of a dry run on a 375k-file store from ~70 MiB
  // after start to ~200 MiB; sized for memory the heap peaks ~70 MiB lower (bench/gc-rss.ts).
  // Only the gc's process: it changes how often V8 collects, nothing the gc computes.
  setFlagsFromString('--optimize-for-size');
  const minAgeMs = parseDuration(flags.minAge, '--min-age');
  const uploadsOlderThanMs = parseDuration(flags.uploadsOlderThan, '--uploads-older-than');
  const maxClockSkewMs = parseMaxSkew(flags.maxClockSkew, parseDuration);
  const d = await ctx.registryStore();
  // A dry run deletes nothing: it needs no lock and may run beside a real one.
  const lock = flags.dryRun ? undefined : await lockStore(d, 'regbucket gc', { breakLock: flags.breakLock });
  const prog = ctx.output.progress('gc: listing the store');
  let last = 0;
  let run: ReportInput;
  try {
    run = await collectGc(d, {
      dryRun: Boolean(flags.dryRun),
      deleteUntagged: Boolean(flags.deleteUntagged),
      minAgeMs,
      uploadsOlderThanMs,
      concurrency: Math.max(1, ctx.globals.concurrency),
      maxClockSkewMs,
      storeName: ctx.storeUrl,
      listLimit: ctx.output.mode === 'json' ? undefined : SHOWN,
      onProgress: (p) => {
        if (!ctx.output.showsProgress) return;
        const now = Date.now();
        if (now - last < 200 && p.done !== p.total) return;
        last = now;
        prog.update(progressLine(p));
      },
    });
  } finally {
    prog.done();
    await lock?.release();
  }
  if (ctx.output.mode === 'json') await ctx.output.jsonStream(reportJson(run));
  else {
    const report = buildReport(run);
    ctx.output.result(report, () => render(ctx.output, report));
  }
  // Unsafe paths (symlinks, special files): what they might protect was kept; the store needs a look.
  return run.plan.warnings.some((w) => w.kind === 'unsafe-path') ? ExitCode.integrity : ExitCode.ok;
}
