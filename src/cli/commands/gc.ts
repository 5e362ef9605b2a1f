import type { Command } from 'commander';
import { lazy, withExamples } from '../define.js';

export function define(program: Command): Command {
  const cmd = program
    .command('gc')
    .summary('Delete blobs no manifest references, stale uploads and empty repositories')
    .description(
      'Garbage-collect the store offline: delete blobs no manifest references, unfinished uploads and repositories left ' +
        'without manifests. With --delete-untagged, manifests no tag names go too. Nothing written less than --min-age ' +
        'ago is deleted, and every deletion is re-checked just before it happens, so pushes may run meanwhile. Restart a ' +
        'registry serving the store afterwards: it caches blob descriptors.',
    )
    .option('--dry-run', 'print the plan, delete nothing')
    .option('--delete-untagged', 'also delete manifests no tag names (children of kept indexes and referrers of kept manifests stay)')
    .option('--min-age <duration>', 'never delete anything written less than this long ago (90s, 30m, 1h, 7d, 0)', '1h')
    .option('--uploads-older-than <duration>', 'remove unfinished uploads started longer ago than this', '7d')
    .option(
      '--max-clock-skew <duration>',
      "ages are measured by the storage's clock; delete nothing when this machine's clock differs from it by more, or the storage does not tell its time (any: go on regardless)",
      '5m',
    )
    .option('--break-lock', 'take the store lock (.regbucket-gc.lock in the store root) even if another gc or verify --fix seems to hold it; only when that run is surely gone')
    .action(lazy(() => import('../../commands/gc.js')));
  return withExamples(cmd, [
    { cmd: 'regbucket --store /srv/registry gc --dry-run', what: 'show what would be deleted' },
    { cmd: 'regbucket gc --delete-untagged', what: 'also remove manifests no tag names (after delete of tags)' },
    { cmd: 'regbucket --progress plain gc --min-age 24h', what: 'from cron: phase lines in the log, nothing younger than a day' },
  ]);
}
