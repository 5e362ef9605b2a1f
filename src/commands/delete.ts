import type { Context } from '../cli/context.js';
import { UsageError } from '../errors.js';
import { localReads } from '../drivers/local-reads/decorator.js';
import { parseStoreRef } from '../image/reference.js';
import { parseRepoName } from '../image/reference.js';
import { executeDelete, planDelete, type DeletePlan, type DeleteTarget } from '../store/removal.js';
import { planDeleteRepository } from '../store/rename.js';

interface DeleteOptions {
  dryRun?: boolean;
  force?: boolean;
  repository: string[];
}

function target(ref: string): DeleteTarget {
  const r = parseStoreRef(ref);
  if (r.digest && r.tag) throw new UsageError(`${ref} names both a tag and a digest: delete ${r.repo}:${r.tag} (untag) or ${r.repo}@${r.digest} (the manifest and its tags)`);
  if (r.digest) return { repo: r.repo, digest: r.digest };
  if (r.tag) return { repo: r.repo, tag: r.tag };
  throw new UsageError(`${ref} names no tag or manifest: give ${r.repo}:<tag> to untag or ${r.repo}@<digest> to delete a manifest`);
}

function render(plan: DeletePlan, dryRun: boolean): string {
  const lines: string[] = [];
  for (const m of plan.manifests) {
    lines.push(`${dryRun ? 'would delete' : 'deleted'} manifest ${m.repo}@${m.digest}${m.mediaType ? ` (${m.mediaType})` : ''}`);
    for (const r of m.referencedBy) lines.push(`  referenced by index ${r.digest}${r.tags.length ? ` (tag ${r.tags.join(', ')})` : ''}: forced`);
  }
  for (const t of plan.tags) lines.push(`${dryRun ? 'would untag' : 'untagged'} ${t.repo}:${t.tag}${t.digest ? ` (was ${t.digest})` : ''}`);
  return lines.join('\n');
}

export async function run(ctx: Context, refs: string[], opts: DeleteOptions): Promise<number> {
  if (opts.repository.length > 0) {
    if (refs.length > 0) throw new UsageError('give <refs...> or --repository, not both');
    return deleteRepositories(ctx, opts);
  }
  if (refs.length === 0) throw new UsageError('nothing to delete: give <repo>:<tag>, <repo>@<digest> or --repository <repo>');
  // Every argument is checked before the store is opened: a bad one writes nothing.
  const targets = refs.map(target);
  const d = await ctx.registryStore();
  const dryRun = Boolean(opts.dryRun);
  // Planning reads every tag link and revision of the repository: fast local reads where they apply.
  const fast = localReads(d);
  let plan: DeletePlan;
  try {
    plan = await planDelete(fast.d, targets, { force: Boolean(opts.force), concurrency: Math.max(1, ctx.globals.concurrency) });
  } finally {
    await fast.release();
  }
  if (!dryRun) await executeDelete(d, plan);
  ctx.output.result({ dryRun, ...plan }, () => render(plan, dryRun));
  if (!dryRun && plan.manifests.length > 0) {
    ctx.output.info('blobs stay until regbucket gc; restart a registry serving this store (it caches descriptors and may still serve a deleted manifest)');
  }
  return 0;
}

async function deleteRepositories(ctx: Context, opts: DeleteOptions): Promise<number> {
  const repos = [...new Set(opts.repository.map(parseRepoName))];
  const d = await ctx.registryStore();
  const dryRun = Boolean(opts.dryRun);
  const fast = localReads(d);
  const plans: { repository: string; plan: DeletePlan }[] = [];
  try {
    for (const repo of repos) plans.push({ repository: repo, plan: await planDeleteRepository(fast.d, repo, Math.max(1, ctx.globals.concurrency)) });
  } finally {
    await fast.release();
  }
  if (!dryRun) for (const p of plans) await executeDelete(d, p.plan);
  const json = { dryRun, repositories: plans.map((p) => ({ repository: p.repository, manifests: p.plan.manifests.map((m) => m.digest).sort(), tags: p.plan.tags.map((t) => t.tag).sort() })) };
  ctx.output.result(json, () =>
    plans
      .map((p) => `${dryRun ? 'would delete' : 'deleted'} repository ${p.repository}: ${p.plan.manifests.length} manifests, ${p.plan.tags.length} tags`)
      .concat(dryRun ? ['dry run: nothing was deleted'] : ['blobs and layer links stay until regbucket gc (which then removes the emptied repositories)'])
      .join('\n'),
  );
  return 0;
}
