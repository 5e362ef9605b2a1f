import { Option, type Command } from 'commander';
import { lazy, withExamples } from '../define.js';
import { boundedInt } from '../numbers.js';

export function define(program: Command): Command {
  const cmd = program
    .command('verify')
    .summary('Audit the store: digests, links, tags, manifests and references')
    .description('Audit the store: blob digests, links, tags, manifests and their references. Exit status 3 when problems are ' + 'found. Hashing runs on --concurrency threads, at most one per CPU.')
    .argument('[repos...]', 'audit only these repositories (default: the whole store, orphans included); with --merge, the shard reports')
    .option('--no-hash', 'skip hashing layers and configs: a structural audit (manifests are still hashed)')
    .option('--fix', 'make the safe repairs (rewrite or re-create links, remove dangling _layers links and stale uploads); never deletes a blob')
    .addOption(new Option('--workers <n>', 'hashing threads (old name; use --concurrency)').argParser(boundedInt('--workers', 1, 256)).hideHelp())
    .option('--break-lock', 'with --fix: take the store lock even if another gc or verify --fix seems to hold it')
    .option(
      '--shard <i/n>',
      'hash only shard i of n of the blobs (0 <= i < n; default: JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX with REGBUCKET_SHARDS or JOB_COMPLETIONS); every other check is made in full',
    )
    .option(
      '--checkpoint <file>',
      'record each blob hashed in this local file, and take the result of an earlier run for every blob whose size and modification time (S3: ETag) are unchanged: a killed run resumes, a re-run hashes only what changed',
    )
    .option('--merge', "combine shard reports (the --json output of each verify --shard) into one report and exit code, as one unsharded run's; reads no store")
    .action(lazy(() => import('../../commands/verify.js')));
  return withExamples(cmd, [
    { cmd: 'regbucket verify', what: 'audit the whole store, hashing every blob' },
    { cmd: 'regbucket verify --no-hash app', what: 'a quick structural audit of one repository' },
    { cmd: 'regbucket verify --fix', what: 'repair links and tags; blobs are never deleted' },
    { cmd: 'regbucket verify --json --shard 0/4 > shard-0.json', what: 'hash a quarter of the blobs (run 0/4 to 3/4 on four machines)' },
    { cmd: 'regbucket verify --checkpoint verify.ckpt', what: 'hash every blob once; run again after a kill (or nightly) to hash only blobs not hashed yet or changed since' },
    { cmd: 'regbucket verify --json --merge shard-*.json', what: 'the four shard reports as one report, with the exit code of an unsharded run' },
  ]);
}
