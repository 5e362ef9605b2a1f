import type { Context } from '../cli/context.js';
import { executeRename, planRename } from '../store/rename.js';

interface MvOptions {
  dryRun?: boolean;
}

export async function run(ctx: Context, from: string, to: string, opts: MvOptions): Promise<number> {
  const d = await ctx.registryStore();
  const plan = await planRename(d, from, to);
  const dryRun = Boolean(opts.dryRun);
  if (!dryRun) await executeRename(d, plan);
  ctx.output.result(
    { dryRun, ...plan },
    () => `${dryRun ? 'would rename' : 'renamed'} ${plan.from} to ${plan.to}${plan.files ? ` (${plan.files} files copied, then removed)` : ''}${dryRun ? '\ndry run: nothing was changed' : ''}`,
  );
  if (!dryRun) ctx.output.info('restart a registry serving this store: it caches what it has read');
  return 0;
}
