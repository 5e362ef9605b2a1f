import type { Command } from 'commander';
import { lazy, withExamples } from '../define.js';
import { addFormatOptions } from '../format.js';

export function define(program: Command): Command {
  const cmd = program
    .command('du')
    .summary('Space per repository: total, exclusive, shared, reclaimable')
    .description('Space per repository: total, exclusive (freed by deleting it, then gc), shared, reclaimable by gc now; store totals and dedup ratio.')
    .argument('[repos...]', 'repository names or globs to show (totals are always the whole store)')
    .option('--sort <key>', 'bytes, exclusive, shared, reclaimable or name', 'bytes');
  addFormatOptions(cmd).action(lazy(() => import('../../commands/du.js')));
  return withExamples(cmd, [
    { cmd: 'regbucket du', what: 'every repository, largest first, and the store totals' },
    { cmd: "regbucket du --sort exclusive 'team/*'", what: 'what deleting each team repository would free' },
    { cmd: "regbucket du --format tsv --no-headers | awk -F'\\t' '$3 > 1e9 {print $1}'", what: 'scripts: repositories whose exclusive bytes pass 1 GB' },
  ]);
}
