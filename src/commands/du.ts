import type { Context } from '../cli/context.js';
import type { FormatFlags } from '../cli/format.js';
import { UsageError } from '../errors.js';
import { localReads } from '../drivers/local-reads/decorator.js';
import { checkRepoPattern, globToRegExp } from '../retention/policy.js';
import { readStoreUsage } from '../retention/inventory.js';
import { computeUsage, type StoreUsage } from '../usage/du.js';
import { byName } from '../util/compare.js';

type SortKey = 'bytes' | 'exclusive' | 'shared' | 'reclaimable' | 'name';

interface DuFlags extends FormatFlags {
  sort: string;
}

const SORTS: Record<SortKey, (a: StoreUsage['repositories'][number], b: StoreUsage['repositories'][number]) => number> = {
  bytes: (a, b) => b.bytes - a.bytes,
  exclusive: (a, b) => b.exclusiveBytes - a.exclusiveBytes,
  shared: (a, b) => b.sharedBytes - a.sharedBytes,
  reclaimable: (a, b) => b.reclaimableBytes - a.reclaimableBytes,
  name: () => 0,
};

function render(ctx: Context, u: StoreUsage): string {
  const out = ctx.output;
  const t = u.total;
  const size = (n: number): string => out.size(n);
  if (out.tabular.format === 'tsv') {
    // Rows only, every value exact: the store totals are in the table and the --json document.
    return out.table(
      ['REPOSITORY', 'BYTES', 'EXCLUSIVE', 'SHARED', 'RECLAIMABLE', 'BLOBS', 'UPLOADS', 'UPLOAD_BYTES'],
      u.repositories.map((r) => [r.name, r.bytes, r.exclusiveBytes, r.sharedBytes, r.reclaimableBytes, r.blobs, r.uploads, r.uploadBytes]),
    );
  }
  const table = out.table(
    ['REPOSITORY', 'BYTES', 'EXCLUSIVE', 'SHARED', 'RECLAIMABLE', 'BLOBS', 'UPLOADS'],
    u.repositories.map((r) => [r.name, size(r.bytes), size(r.exclusiveBytes), size(r.sharedBytes), size(r.reclaimableBytes), r.blobs, r.uploads ? `${r.uploads} (${size(r.uploadBytes)})` : '']),
  );
  // Sizes in sentences: exact ones (--bytes) say their unit.
  const words = (n: number): string => (out.tabular.exactSizes ? `${n} bytes` : size(n));
  const lines = [
    table,
    `store: ${words(t.bytes)} in ${t.blobs} blobs; ${words(t.logicalBytes)} before deduplication (ratio ${t.dedupRatio.toFixed(2)})`,
    `reclaimable by gc now: ${words(t.reclaimableBytes)}${t.unlinkedBytes ? ` (${words(t.unlinkedBytes)} linked by no repository)` : ''}`,
  ];
  if (t.uploads) lines.push(`uploads in flight: ${t.uploads} (${words(t.uploadBytes)})`);
  return lines.join('\n');
}

export async function run(ctx: Context, globs: string[], flags: DuFlags): Promise<number> {
  ctx.output.useFormat(flags);
  if (!(flags.sort in SORTS)) throw new UsageError(`--sort ${JSON.stringify(flags.sort)}: use one of ${Object.keys(SORTS).join(', ')}`);
  for (const g of globs) checkRepoPattern(g);
  const only = globs.map(globToRegExp);
  const fast = localReads(await ctx.registryStore());
  const prog = ctx.output.progress('du: reading the store');
  let usage: StoreUsage;
  try {
    const reading = await readStoreUsage(fast.d, { concurrency: Math.max(1, ctx.globals.concurrency) });
    usage = computeUsage(reading.table, reading.repos, reading.uploads);
  } finally {
    prog.done();
    await fast.release();
  }
  // Exclusive and shared are computed over the whole store; the patterns only choose the rows.
  if (only.length > 0) usage.repositories = usage.repositories.filter((r) => only.some((g) => g.test(r.name)));
  usage.repositories.sort((a, b) => SORTS[flags.sort as SortKey](a, b) || byName(a, b));
  ctx.output.references(usage.repositories.map((r) => r.name));
  ctx.output.result(usage, () => render(ctx, usage));
  return 0;
}
