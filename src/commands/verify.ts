import { availableParallelism } from 'node:os';
import type { Context } from '../cli/context.js';
import { formatBytes, type Output } from '../cli/output.js';
import { ExitCode } from '../errors.js';
import { parseRepoName } from '../image/reference.js';
import { lockStore } from '../store/lock.js';
import { escapeText as esc } from '../util/escape.js';
import { verifyStore, type AuditProgress, type VerifyReport } from '../verify/audit.js';
import { FINDING_KINDS, type Finding } from '../verify/findings.js';

interface VerifyOptions {
  hash: boolean;
  fix?: boolean;
  /** The old --workers (hidden): hashing threads; else --concurrency, at most one per CPU. */
  workers?: number;
  breakLock?: boolean;
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
  if (f.usedBy?.length) lines.push(`  used by ${f.usedBy.join(', ')}`);
  if (f.fix && !f.repaired) lines.push(`  fix: ${f.fix}`);
  if (f.repaired) lines.push(`  repaired: ${f.repaired}`);
  return lines.join('\n');
}

function render(out: Output, r: VerifyReport, seconds: number): string {
  const hashed = r.hashed ? `${count(r.blobsHashed, 'blob')} hashed (${formatBytes(r.bytesHashed)})` : `${count(r.blobsHashed, 'manifest')} hashed (--no-hash)`;
  const seen = [count(r.repositories, 'repository', 'repositories'), count(r.blobs, 'blob'), count(r.links, 'link'), count(r.manifests, 'manifest')];
  const lines = [`verified ${seen.join(', ')}; ${hashed} in ${seconds.toFixed(1)} s`];
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

export async function run(ctx: Context, repos: string[], opts: VerifyOptions): Promise<number> {
  const names = repos.map(parseRepoName);
  const d = await ctx.registryStore();
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
  }
  const seconds = (Date.now() - started) / 1000;
  ctx.output.result({ ...report, seconds }, () => render(ctx.output, report, seconds));
  return report.clean ? ExitCode.ok : ExitCode.integrity;
}
