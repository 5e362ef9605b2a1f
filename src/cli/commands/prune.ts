import type { Command } from 'commander';
import { collect, lazy, withExamples } from '../define.js';

export function define(program: Command): Command {
  const cmd = program
    .command('prune')
    .summary('Untag by retention policy; --gc frees the space after')
    .description('Untag by retention policy: keep the last N, those pushed within a window, protected names. --gc frees the space after.')
    .argument('[repos...]', 'repository names or globs (* within a component, ** across); none: every repository')
    .option('--keep-last <n>', 'keep the n most recently pushed tags (of those --match selects)')
    .option('--keep-within <duration>', 'keep tags pushed less than this long ago (7d, 12h, 2w)')
    .option('--match <regex>', 'the tags the rule applies to (default: all); others are kept')
    .option('--protect <regex>', 'never remove tags matching this (repeatable)', collect, [])
    .option('--untagged-older-than <duration>', 'also delete manifests no kept tag reaches, pushed longer ago than this')
    .option('--policy <file>', 'rules per repository pattern from a YAML file (docs/retention-policy.md)')
    .option('--cache-ttl <duration>', "pull-through cache: expire entries cached longer ago than this (0s: all), as the registry's scheduler does")
    .option('--cache-max-size <size>', 'pull-through cache: then expire whole repositories, oldest first, until it holds at most this (10G, 500MiB)')
    .option('--dry-run', 'print the plan, change nothing')
    .option('--gc', 'run gc after pruning (frees the blobs of deleted manifests)')
    .action(lazy(() => import('../../commands/prune.js')));
  return withExamples(cmd, [
    { cmd: "regbucket prune --dry-run --keep-last 10 --protect '^v\\d+\\.\\d+\\.\\d+$' 'team/*'", what: 'show which tags keeping the last 10 would remove, release tags kept' },
    { cmd: 'regbucket prune --policy retention.yaml --gc', what: 'apply a policy file, then free the space' },
    { cmd: 'regbucket prune --cache-ttl 3d --cache-max-size 50G --gc', what: 'a stopped pull-through cache: expire what was cached over 3 days ago, then whole repositories down to 50 GiB' },
  ]);
}
