import { readFile, stat } from 'node:fs/promises';
import type { Context } from '../cli/context.js';
import { formatAge, type Output } from '../cli/output.js';
import { UsageError } from '../errors.js';
import { localReads } from '../drivers/local-reads/decorator.js';
import { compilePolicy, checkRepoPattern, globToRegExp, parsePolicyFile, parseRule, type Policy } from '../retention/policy.js';
import type { PruneOutcome } from '../retention/execute.js';
import { carryOut, planPrune, type PrunePlan } from '../retention/run.js';
import { parseDuration } from '../util/duration.js';
import { runCache } from './prune-cache.js';
import { gcAfterPrune } from './prune-gc.js';

interface PruneFlags {
  keepLast?: string;
  keepWithin?: string;
  match?: string;
  protect: string[];
  untaggedOlderThan?: string;
  policy?: string;
  dryRun?: boolean;
  gc?: boolean;
  cacheTtl?: string;
  cacheMaxSize?: string;
}

const MAX_POLICY_BYTES = 1 << 20;

async function policyFile(path: string): Promise<string> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new UsageError(`--policy ${path} is not a regular file`);
    size = st.size;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--policy ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (size > MAX_POLICY_BYTES) throw new UsageError(`--policy ${path} is ${size} bytes: a policy file is at most ${MAX_POLICY_BYTES}`);
  return readFile(path, 'utf8');
}

/** The policy the flags describe: a file, or one rule from --keep-last/--keep-within/--match. */
async function policyFromFlags(globs: string[], f: PruneFlags): Promise<Policy> {
  const ruleFlags = [f.keepLast && '--keep-last', f.keepWithin && '--keep-within', f.match && '--match', f.untaggedOlderThan && '--untagged-older-than'].filter(Boolean);
  if (f.policy) {
    if (ruleFlags.length > 0) throw new UsageError(`--policy and ${ruleFlags.join(', ')} exclude each other: put the rule in the policy file`);
    const p = parsePolicyFile(await policyFile(f.policy));
    for (const rp of p.policies) rp.protect.push(...f.protect);
    return p;
  }
  if (ruleFlags.length === 0) throw new UsageError('nothing to prune by: give --keep-last, --keep-within (with --match to select tags), --untagged-older-than, or --policy <file>');
  const hasRule = f.keepLast !== undefined || f.keepWithin !== undefined || f.match !== undefined;
  if (hasRule && f.keepLast === undefined && f.keepWithin === undefined) throw new UsageError('--match needs --keep-last or --keep-within (--keep-last 0 removes every tag it selects)');
  const keepLast = f.keepLast === undefined ? undefined : Number(f.keepLast);
  if (keepLast !== undefined && (!Number.isInteger(keepLast) || keepLast < 0 || !/^\d+$/.test(f.keepLast!)))
    throw new UsageError(`--keep-last takes a whole number, got ${JSON.stringify(f.keepLast)}`);
  const rule = hasRule
    ? parseRule({ ...(f.match !== undefined ? { match: f.match } : {}), ...(keepLast !== undefined ? { keepLast } : {}), ...(f.keepWithin !== undefined ? { keepWithin: f.keepWithin } : {}) }, 'flags')
    : undefined;
  return {
    policies: [
      {
        repositories: globs.length > 0 ? globs : ['**'],
        protect: f.protect,
        rules: rule ? [rule] : [],
        ...(f.untaggedOlderThan !== undefined ? { untaggedOlderThanMs: parseDuration(f.untaggedOlderThan, '--untagged-older-than') } : {}),
      },
    ],
  };
}

function iso(t: number): string | null {
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

export function planJson(plan: PrunePlan, dryRun: boolean, outcome?: PruneOutcome): object {
  const count = (xs: { action: string }[], a: string): number => xs.filter((x) => x.action === a).length;
  const tags = plan.repositories.flatMap((r) => r.tags);
  const manifests = plan.repositories.flatMap((r) => r.manifests);
  return {
    schemaVersion: 1,
    dryRun,
    now: new Date(plan.now).toISOString(),
    repositories: plan.repositories.map((r) => ({
      name: r.name,
      policy: r.policy,
      ...(r.pinned ? { pinned: r.pinned } : {}),
      tags: r.tags.map((t) => ({ tag: t.tag, digest: t.digest, pushed: iso(t.pushed), action: t.action, rule: t.rule, reason: t.reason })),
      manifests: r.manifests.map((m) => ({ digest: m.digest, pushed: iso(m.pushed), action: m.action, rule: m.rule, reason: m.reason })),
    })),
    totals: {
      repositories: plan.repositories.length,
      tags: { kept: count(tags, 'keep'), untag: count(tags, 'untag') },
      manifests: { kept: count(manifests, 'keep'), delete: count(manifests, 'delete') },
    },
    ...(outcome ? { done: { untagged: outcome.untagged.length, deleted: outcome.deleted.length, skipped: outcome.skipped } } : {}),
  };
}

function render(out: Output, plan: PrunePlan, dryRun: boolean, outcome?: PruneOutcome): string {
  const lines: string[] = [];
  let kept = 0;
  let untag = 0;
  let del = 0;
  for (const r of plan.repositories) {
    for (const t of r.tags) {
      if (t.action === 'keep') kept++;
      else {
        untag++;
        lines.push(`${dryRun ? 'would untag' : 'untag'} ${r.name}:${t.tag} (pushed ${formatAge(t.pushed, plan.now)}; ${t.rule}: ${t.reason})`);
      }
    }
    for (const m of r.manifests) {
      if (m.action !== 'delete') continue;
      del++;
      lines.push(`${dryRun ? 'would delete' : 'delete'} manifest ${r.name}@${m.digest} (pushed ${formatAge(m.pushed, plan.now)}; ${m.reason})`);
    }
    if (r.pinned) out.warn(`${r.name}: ${r.pinned}: no manifest of it is deleted`);
  }
  for (const s of outcome?.skipped ?? []) lines.push(`kept ${s.repo}${s.tag ? `:${s.tag}` : `@${s.digest}`}: ${s.why}`);
  const verb = dryRun ? 'would untag' : 'untagged';
  const done = outcome ? outcome.untagged.length : untag;
  const gone = outcome ? outcome.deleted.length : del;
  const n = (k: number, one: string): string => `${k} ${one}${k === 1 ? '' : 's'}`;
  lines.push(
    `${plan.repositories.length} ${plan.repositories.length === 1 ? 'repository' : 'repositories'}: ${verb} ${n(done, 'tag')}, ${dryRun ? 'would delete' : 'deleted'} ${n(gone, 'manifest')}, kept ${n(kept, 'tag')}${outcome && outcome.skipped.length ? ` (${outcome.skipped.length} planned steps kept: written to since the plan)` : ''}`,
  );
  if (dryRun) lines.push('dry run: nothing was changed (regbucket prune --json lists every tag and manifest with the rule that decided)');
  return lines.join('\n');
}

export async function run(ctx: Context, globs: string[], flags: PruneFlags): Promise<number> {
  if (flags.cacheTtl !== undefined || flags.cacheMaxSize !== undefined) {
    const ruleFlags = [
      flags.keepLast && '--keep-last',
      flags.keepWithin && '--keep-within',
      flags.match && '--match',
      flags.untaggedOlderThan && '--untagged-older-than',
      flags.policy && '--policy',
      flags.protect.length > 0 && '--protect',
    ].filter((x): x is string => Boolean(x));
    return runCache(ctx, globs, flags, ruleFlags);
  }
  for (const g of globs) checkRepoPattern(g);
  const dryRun = Boolean(flags.dryRun);
  if (dryRun && flags.gc) throw new UsageError('--gc with --dry-run: gc cannot see what prune would untag; run regbucket gc --dry-run after a real prune');
  const policies = compilePolicy(await policyFromFlags(globs, flags));
  const only = flags.policy ? globs.map(globToRegExp) : undefined;
  const d = await ctx.registryStore();
  const opts = { dryRun, concurrency: Math.max(1, ctx.globals.concurrency), only };
  const prog = ctx.output.progress('prune: reading the store');
  let plan: PrunePlan;
  let outcome: PruneOutcome | undefined;
  try {
    const fast = localReads(d);
    try {
      plan = await planPrune(fast.d, policies, opts);
    } finally {
      await fast.release();
    }
    if (!dryRun) {
      prog.update('prune: untagging');
      outcome = await carryOut(d, policies, plan, opts);
    }
  } finally {
    prog.done();
  }
  const gc = flags.gc ? await gcAfterPrune(ctx, d, opts.concurrency) : undefined;
  ctx.output.result({ ...planJson(plan, dryRun, outcome), ...(gc ? { gc } : {}) }, () => render(ctx.output, plan, dryRun, outcome));
  if (!dryRun && (outcome?.deleted.length ?? 0) > 0) ctx.output.info('restart a registry serving this store: it caches descriptors and may still serve a deleted manifest');
  return 0;
}
