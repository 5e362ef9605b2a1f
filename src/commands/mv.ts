import type { Command } from 'commander';
import { action } from '../cli/action.js';
import type { Context } from '../cli/context.js';
import { executeRename, planRename } from '../store/rename.js';

interface MvOptions {
  dryRun?: boolean;
}

async function mv(ctx: Context, from: string, to: string, opts: MvOptions): Promise<number> {
  const d = await ctx.registryStore();
  const plan = await planRename(d, from, to);
  const dryRun = Boolean(opts.dryRun);
  if (!dryRun) await executeRename(d, plan);
  ctx.output.result({ dryRun, ...plan }, () => `${dryRun ? 'would rename' : 'renamed'} ${plan.from} to ${plan.to}${plan.files ? ` (${plan.files} files copied, then removed)` : ''}${dryRun ? '\ndry run: nothing was changed' : ''}`);
  if (!dryRun) ctx.output.info('restart a registry serving this store: it caches what it has read');
  return 0;
}

export function register(program: Command): void {
  program
    .command('mv')
    .description('rename a repository (refuses to overwrite an existing one; repositories nested below it stay)')
    .argument('<repo>', 'the repository to rename')
    .argument('<new-repo>', 'its new name')
    .option('--dry-run', 'check and print the rename, change nothing')
    .action(action(mv));
}
