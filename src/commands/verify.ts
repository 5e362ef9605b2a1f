import { availableParallelism } from 'node:os';
import type { Context } from '../cli/context.js';
import { formatBytes, type Output } from '../cli/output.js';
import { storeIdentity } from '../drivers/store-url.js';
import { ExitCode, UsageError } from '../errors.js';
import { parseRepoName } from '../image/reference.js';
import { lockStore } from '../store/lock.js';
import { escapeText as esc } from '../util/escape.js';
import { verifyStore, type AuditProgress, type VerifyReport } from '../verify/audit.js';
import { FINDING_KINDS, type Finding } from '../verify/findings.js';
import { mergeShardReports, readShardReports } from '../verify/merge.js';
import { parseShard, shardFromEnv, type Shard } from '../verify/shard.js';
import { Checkpoint } from '../verify/checkpoint.js';

interface VerifyOptions {
  hash: boolean;
  fix?: boolean;
  /** The old --workers (hidden): hashing threads; else --concurrency, at most one per CPU. */
  workers?: number;
  breakLock?: boolean;
  /** i/n: hash only this shard's share of the blobs (else the job engine's variables say). */
  shard?: string;
  /** The arguments are shard reports to combine. */
  merge?: boolean;
  /** A local file of blob hash results: a re-run hashes only blobs changed since (checkpoint.ts). */
  checkpoint?: string;
}

/** Warnings shown per kind on a terminal; --json lists them all. */
const WARNINGS_SHOWN = 20;

function progressLine(p: AuditProgress, hashStart: number): string {
  switch (p.phase) {
    case 'scan':
      return 'verify: listing the store';
    case 'links':
      return `verify: reading links ${p.done}/${p.total}`;
    case 'manifests':
      return `verify: reading manifests ${p.done}/${p.total}`;
    case 'hash': {
      const secs = (Date.now() - hashStart) / 1000;
      const rate = secs > 0 ? `, ${formatBytes(p.bytes / secs)}/s` : '';
      const pct = p.totalBytes > 0 ? ` (${Math.floor((100 * p.bytes) / p.totalBytes)}%)` : '';
      return `verify: hashing ${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)}${pct}${rate}, ${p.done}/${p.total} blobs`;
    }
    case 'fix':
      return 'verify: repairing';
  }
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function findingLine(f: Finding): string {
  const where = [f.repo && `repo=${esc(f.repo)}`, f.tag && `tag=${esc(f.tag)}`, f.digest && `digest=${esc(f.digest)}`, `path=${esc(f.path)}`].filter(Boolean).join(' ');
  const lines = [`${f.severity} ${f.kind} ${where}`, `  ${esc(f.detail)}`];
  if (f.usedBy?.length) lines.push(`  used by ${f.usedBy.map(esc).join(', ')}`);
  if (f.fix && !f.repaired) lines.push(`  fix: ${esc(f.fix)}`);
  if (f.repaired) lines.push(`  repaired: ${esc(f.repaired)}`);
  return lines.join('\n');
}

function render(out: Output, r: VerifyReport, seconds: number): string {
  const hashed = r.hashed ? `${count(r.blobsHashed, 'blob')} hashed (${formatBytes(r.bytesHashed)})` : `${count(r.blobsHashed, 'manifest')} hashed (--no-hash)`;
  const seen = [count(r.repositories, 'repository', 'repositories'), count(r.blobs, 'blob'), count(r.links, 'link'), count(r.manifests, 'manifest')];
  const lines = [`verified ${seen.join(', ')}; ${hashed} in ${seconds.toFixed(1)} s`];
  if (r.checkpoint?.resumed) {
    const c = r.checkpoint;
    lines.push(`resumed from ${esc(c.file)}: ${c.blobsSkipped} of ${count(r.blobsHashed, 'blob')} unchanged since hashed by an earlier run (${formatBytes(c.bytesSkipped)} not read again)`);
  }
  if (r.shard) lines.push(`shard ${r.shard.index} of ${r.shard.count}: its share is ${count(r.shard.blobs, 'blob')}; merge the shards' --json reports with regbucket verify --merge`);
  if (r.summary.length > 0) {
    lines.push(
      out.table(
        ['kind', 'severity', 'count', 'repaired', 'meaning'],
        r.summary.map((s) => [s.kind, s.severity, s.count, s.repaired, FINDING_KINDS[s.kind].text]),
      ),
    );
  }
  const shown = new Map<string, number>();
  let hidden = 0;
  for (const f of r.findings) {
    if (f.severity === 'warning') {
      const n = (shown.get(f.kind) ?? 0) + 1;
      shown.set(f.kind, n);
      if (n > WARNINGS_SHOWN) {
        hidden++;
        continue;
      }
    }
    lines.push(findingLine(f));
  }
  if (hidden > 0) lines.push(`... and ${count(hidden, 'more warning')} (--json lists every finding)`);
  const left = r.problems - r.findings.filter((f) => f.severity === 'problem' && f.repaired).length;
  if (r.repairs) lines.push(`${count(r.repairs.length, 'repair')} made`);
  lines.push(left > 0 ? `${count(left, 'problem')} found` : `no problems found${r.warnings ? ` (${count(r.warnings, 'warning')})` : ''}`);
  return lines.join('\n');
}

/** --shard, else the job engine's variables; refused where a shard cannot be right. */
function shardOf(opts: VerifyOptions): Shard | undefined {
  const shard = opts.shard !== undefined ? parseShard(opts.shard) : shardFromEnv(process.env);
  if (!shard) return undefined;
  const given = opts.shard !== undefined ? '--shard' : 'a shard (from the job environment)';
  if (opts.fix) throw new UsageError(`${given} with --fix: a shard sees only its share of the hashes, so it cannot judge a repair; merge the shard reports, then run regbucket verify --fix unsharded`);
  if (!opts.hash) throw new UsageError(`${given} with --no-hash: sharding splits the hashing and --no-hash does none; run one regbucket verify --no-hash`);
  return shard;
}

/** --checkpoint: read (a re-run says it is resuming) or created; refused where it cannot apply. */
async function openCheckpoint(ctx: Context, opts: VerifyOptions, shard: Shard | undefined): Promise<Checkpoint | undefined> {
  const file = opts.checkpoint;
  if (file === undefined) return undefined;
  if (file === '') throw new UsageError('--checkpoint needs a file name');
  if (opts.fix) throw new UsageError('--checkpoint with --fix: a repair is judged on bytes hashed by the run that makes it; run verify --fix without --checkpoint');
  if (!opts.hash) throw new UsageError('--checkpoint with --no-hash: the checkpoint holds blob hashes and --no-hash makes none');
  const cp = await Checkpoint.open(file, { store: storeIdentity(ctx.storeUrl), shard });
  if (cp.records > 0) ctx.output.info(`verify: resuming from ${esc(file)}: ${count(cp.records, 'blob')} already hashed; only those whose size or modification time changed are hashed again`);
  if (cp.ignoredLines > 0) ctx.output.warn(`checkpoint ${file}: ${count(cp.ignoredLines, 'line')} unreadable (torn by a kill, or corrupt) ignored; those blobs are hashed again`);
  return cp;
}

async function merge(ctx: Context, files: string[], opts: VerifyOptions): Promise<number> {
  if (opts.shard !== undefined || opts.fix || !opts.hash || opts.checkpoint !== undefined) {
    throw new UsageError('--merge combines reports and reads no store: it takes no --shard, --fix, --no-hash or --checkpoint');
  }
  const report = mergeShardReports(await readShardReports(files), files);
  ctx.output.result(report, () =>
    [
      `merged ${count(report.merged.shards, 'shard report')} of ${esc(report.store)}`,
      ...(report.merged.consistent
        ? []
        : ['warning: the shards saw different counts of blobs, links or manifests: the store changed between their runs, and the findings are the union of what each saw']),
      render(ctx.output, report, report.seconds),
    ].join('\n'),
  );
  return report.clean ? ExitCode.ok : ExitCode.integrity;
}

export async function run(ctx: Context, repos: string[], opts: VerifyOptions): Promise<number> {
  if (opts.merge) return merge(ctx, repos, opts);
  const shard = shardOf(opts);
  const names = repos.map(parseRepoName);
  const d = await ctx.registryStore();
  const checkpoint = await openCheckpoint(ctx, opts, shard);
  const lock = opts.fix ? await lockStore(d, 'regbucket verify --fix', { breakLock: opts.breakLock }) : undefined;
  const started = Date.now();
  const prog = ctx.output.progress('verify: listing the store');
  let hashStart = 0;
  let last = 0;
  let report: VerifyReport;
  try {
    report = await verifyStore(d, {
      repos: names,
      hash: opts.hash,
      fix: Boolean(opts.fix),
      concurrency: Math.max(1, ctx.globals.concurrency),
      threads: opts.workers ?? Math.max(1, Math.min(ctx.globals.concurrency, availableParallelism())),
      shard,
      checkpoint,
      onProgress: (p) => {
        const now = Date.now();
        if (p.phase === 'hash' && hashStart === 0) hashStart = now;
        if (now - last < 200 && p.done !== p.total) return;
        last = now;
        prog.update(progressLine(p, hashStart));
      },
    });
  } finally {
    prog.done();
    await lock?.release();
    await checkpoint?.close();
  }
  const seconds = (Date.now() - started) / 1000;
  const doc = shard ? { ...report, store: storeIdentity(ctx.storeUrl), ...(names.length ? { repos: names } : {}), seconds } : { ...report, seconds };
  ctx.output.result(doc, () => render(ctx.output, report, seconds));
  return report.clean ? ExitCode.ok : ExitCode.integrity;
}
