import type { Command } from 'commander';
import { lazy, withExamples } from '../define.js';

export function define(program: Command): Command {
  const cmd = program
    .command('mv')
    .summary('Rename a repository')
    .description('Rename a repository. An existing repository is never overwritten; repositories nested below the old name stay where they are.')
    .argument('<repo>', 'the repository to rename')
    .argument('<new-repo>', 'its new name')
    .option('--dry-run', 'check and print the rename, change nothing')
    .action(lazy(() => import('../../commands/mv.js')));
  return withExamples(cmd, [
    { cmd: 'regbucket mv --dry-run team/app team/app-legacy', what: 'check the rename first' },
    { cmd: 'regbucket mv team/app team/app-legacy', what: 'rename; pulls by the old name stop working' },
  ]);
}
