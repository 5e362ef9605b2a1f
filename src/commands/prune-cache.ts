// `prune --cache-ttl / --cache-max-size`: expiry of a pull-through cache's entries
// (src/cache/). The registry must be stopped: it rewrites its schedule from memory every 5 s.
import type { Context } from '../cli/context.js';
import { formatAge, formatBytes } from '../cli/output.js';
import { UsageError, NotFoundError } from '../errors.js';
import { localReads } from '../drivers/local-reads/decorator.js';
import { planCacheExpiry, type CachePlan, type CacheFacts, type EntryDecision } from '../cache/plan.js';
import { executeCacheExpiry, readCacheFacts, type CacheOutcome } from '../cache/run.js';
import { readState, STATE_PATH, type CacheState } from '../cache/state.js';
import { storageNow } from '../store/clock.js';
import { parseDuration } from '../util/duration.js';
import { parseSize } from '../util/size.js';
import { gcAfterPrune } from './prune-gc.js';

export interface CacheFlags {
  cacheTtl?: string;
  cacheMaxSize?: string;
  dryRun?: boolean;
  gc?: boolean;
}

function entryJson(x: EntryDecision): object {
  const e = x.entry;
  return {
    key: e.mapKey,
    repository: e.repo,
    digest: e.digest,
    type: e.type,
    cached: new Date(e.cached).toISOString(),
    action: x.action,
    rule: x.rule,
    reason: x.reason,
    ...(x.untag ? { untag: x.untag } : {}),
  };
}

function planJson(state: CacheState, plan: CachePlan, dryRun: boolean, outcome?: CacheOutcome): object {
  const skipped = new Set(outcome?.skipped.map((s) => s.decision));
  const expired = plan.decisions.filter((x) => x.action === 'expire' && !skipped.has(x));
  return {
    schemaVersion: 1,
    dryRun,
    now: new Date(plan.now).toISOString(),
    stateFile: STATE_PATH,
    entries: state.entries.length,
    expired: expired.map(entryJson),
    // Due, but kept so what stays still works (or a re-check found the store changed).
    kept: [
      ...plan.decisions.filter((x) => x.action === 'keep' && x.rule !== 'fresh').map(entryJson),
      ...(outcome?.skipped ?? []).map((s) => ({ ...entryJson(s.decision), action: 'keep', rule: 'changed', reason: s.why })),
    ],
    unrecognized: state.unknown.map((u) => ({ key: u.mapKey, reason: u.why })),
    duplicateKeys: state.duplicates,
    evictedRepositories: plan.evicted,
    bytes: plan.bytes,
    ...(outcome ? { done: { expired: outcome.expired.length, untagged: outcome.untagged.length, stateWritten: outcome.stateWritten } } : {}),
  };
}

function render(state: CacheState, plan: CachePlan, dryRun: boolean, outcome?: CacheOutcome): string {
  const lines: string[] = [];
  const skipped = new Map(outcome?.skipped.map((s) => [s.decision, s.why]));
  let expired = 0;
  for (const x of plan.decisions) {
    const e = x.entry;
    const what = `${e.type} ${e.repo}@${e.digest}`;
    if (x.action === 'expire' && !skipped.has(x)) {
      expired++;
      const tags = x.untag?.length ? `, untag ${x.untag.join(' ')}` : '';
      lines.push(`${dryRun ? 'would expire' : 'expired'} ${what} (cached ${formatAge(e.cached, plan.now)}; ${x.rule}${tags})`);
    } else if (x.action === 'expire') lines.push(`kept ${what}: ${skipped.get(x)}`);
    else if (x.rule !== 'fresh') lines.push(`kept ${what}: ${x.reason}`);
  }
  for (const u of state.unknown) lines.push(`kept unrecognized entry ${JSON.stringify(u.mapKey)}: ${u.why}`);
  if (state.duplicates.length) lines.push(`${state.duplicates.length} duplicate keys in ${STATE_PATH}: the last value of each kept, as the registry reads it`);
  const b = plan.bytes;
  lines.push(
    `${state.entries.length} entries: ${dryRun ? 'would expire' : 'expired'} ${expired}${plan.evicted.length ? ` (whole repositories for the size limit: ${plan.evicted.join(', ')})` : ''}; linked bytes ${formatBytes(b.before)} -> ${formatBytes(b.after)} after gc${b.limit !== undefined ? ` (limit ${formatBytes(b.limit)})` : ''}`,
  );
  if (outcome) lines.push(outcome.stateWritten ? `${STATE_PATH} rewritten without the expired entries` : `${STATE_PATH} unchanged`);
  if (dryRun) lines.push('dry run: nothing was changed');
  return lines.join('\n');
}

export async function runCache(ctx: Context, globs: string[], flags: CacheFlags, ruleFlags: string[]): Promise<number> {
  if (ruleFlags.length > 0) throw new UsageError(`--cache-ttl/--cache-max-size and ${ruleFlags.join(', ')} exclude each other: expire the cache and prune tags in separate runs`);
  if (globs.length > 0) throw new UsageError('--cache-ttl/--cache-max-size expire the whole cache: give no repository patterns');
  const dryRun = Boolean(flags.dryRun);
  if (dryRun && flags.gc) throw new UsageError('--gc with --dry-run: gc cannot see what prune would expire; run regbucket gc --dry-run after a real prune');
  const ttlMs = flags.cacheTtl !== undefined ? parseDuration(flags.cacheTtl, '--cache-ttl') : undefined;
  const maxBytes = flags.cacheMaxSize !== undefined ? parseSize(flags.cacheMaxSize, '--cache-max-size') : undefined;
  const concurrency = Math.max(1, ctx.globals.concurrency);
  const d = await ctx.registryStore();
  const state = await readState(d);
  if (!state) throw new NotFoundError(`the store has no ${STATE_PATH}: it is not a pull-through cache (registry proxy mode writes that file); prune tags with --keep-last, --keep-within or --policy`);
  const prog = ctx.output.progress('prune: reading the cache');
  let plan: CachePlan;
  let facts: CacheFacts;
  let outcome: CacheOutcome | undefined;
  try {
    const now = await storageNow(d);
    const fast = localReads(d);
    try {
      facts = await readCacheFacts(fast.d, concurrency);
    } finally {
      await fast.release();
    }
    plan = planCacheExpiry(state.entries, facts, { now, ...(ttlMs !== undefined ? { ttlMs } : {}), ...(maxBytes !== undefined ? { maxBytes } : {}) });
    if (!dryRun) {
      prog.update('prune: expiring cache entries');
      outcome = await executeCacheExpiry(d, state, plan, facts, concurrency);
    }
  } finally {
    prog.done();
  }
  const gc = flags.gc ? await gcAfterPrune(ctx, d, concurrency) : undefined;
  ctx.output.result({ ...planJson(state, plan, dryRun, outcome), ...(gc ? { gc } : {}) }, () => render(state, plan, dryRun, outcome));
  return 0;
}
