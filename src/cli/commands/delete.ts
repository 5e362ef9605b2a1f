import type { Command } from 'commander';
import { collect, lazy, withExamples } from '../define.js';

export function define(program: Command): Command {
  const cmd = program
    .command('delete')
    .summary('Untag, or delete a manifest and every tag pointing at it')
    .description(
      'Untag (<repo>:<tag>), or delete a manifest and every tag pointing at it (<repo>@<digest>), as the registry does. ' +
        'Blobs stay until gc. A manifest an index in the repository still references is refused unless --force.',
    )
    .argument('[refs...]', '<repo>:<tag> or <repo>@<digest>')
    .option('--repository <repo>', 'delete every tag and manifest of this repository (repeatable); gc then frees what only it used', collect, [] as string[])
    .option('--dry-run', 'print what would be deleted and change nothing')
    .option('--force', 'delete a manifest even when an index kept in the repository references it (the index breaks)')
    .action(lazy(() => import('../../commands/delete.js')));
  return withExamples(cmd, [
    { cmd: 'regbucket delete app:old', what: 'remove the tag; the manifest stays if other tags or indexes use it' },
    { cmd: 'regbucket delete --dry-run app@sha256:4f9c...', what: 'show what deleting the manifest would remove' },
    { cmd: 'regbucket delete app:old && regbucket gc', what: 'untag, then reclaim the space' },
  ]);
}
