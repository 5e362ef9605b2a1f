import { Option, type Command } from 'commander';
import { lazy, withExamples } from '../define.js';
import { boundedInt } from '../numbers.js';

export function define(program: Command): Command {
  const cmd = program
    .command('verify')
    .summary('Audit the store: digests, links, tags, manifests and references')
    .description('Audit the store: blob digests, links, tags, manifests and their references. Exit status 3 when problems are ' + 'found. Hashing runs on --concurrency threads, at most one per CPU.')
    .argument('[repos...]', 'audit only these repositories (default: the whole store, orphans included)')
    .option('--no-hash', 'skip hashing layers and configs: a structural audit (manifests are still hashed)')
    .option('--fix', 'make the safe repairs (rewrite or re-create links, remove dangling _layers links and stale uploads); never deletes a blob')
    .addOption(new Option('--workers <n>', 'hashing threads (old name; use --concurrency)').argParser(boundedInt('--workers', 1, 256)).hideHelp())
    .option('--break-lock', 'with --fix: take the store lock even if another gc or verify --fix seems to hold it')
    .action(lazy(() => import('../../commands/verify.js')));
  return withExamples(cmd, [
    { cmd: 'regbucket verify', what: 'audit the whole store, hashing every blob' },
    { cmd: 'regbucket verify --no-hash app', what: 'a quick structural audit of one repository' },
    { cmd: 'regbucket verify --fix', what: 'repair links and tags; blobs are never deleted' },
  ]);
}
