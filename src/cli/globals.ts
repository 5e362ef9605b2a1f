// The global options: one definition, shown in every subcommand's help.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { parseDuration } from '../util/duration.js';
import { boundedInt } from './numbers.js';
import { PROGRESS_MODES } from './progress.js';

/** Bounds of the global numeric options: past them a run only exhausts memory or sockets. */
export const MAX_CONCURRENCY = 1024;
export const MAX_RETRIES = 100;

export function addGlobalOptions(program: Command): Command {
  return program
    .addOption(new Option('--store <url>', 'the store: a directory, file://dir or s3://bucket[/prefix]').env('REGBUCKET_STORE'))
    .option('--json', 'print one JSON document on stdout (docs/json.md), errors too')
    .option('-q, --quiet', 'print only references, or nothing but errors')
    .option('-v, --verbose', 'print storage request counts per operation at the end on stderr; -vv also each request as it is made', (_v: string, n: number) => n + 1, 0)
    .addOption(new Option('--progress <mode>', 'progress on stderr: auto (a spinner on a terminal), plain (a line every few seconds, for logs), none').choices(PROGRESS_MODES).default('auto'))
    .addOption(new Option('--concurrency <n>', 'operations at once: transfers, storage requests, hashing threads, sync images').default(8).argParser(boundedInt('--concurrency', 1, MAX_CONCURRENCY)))
    .addOption(new Option('--retries <n>', 'retries with backoff for storage requests').default(5).argParser(boundedInt('--retries', 0, MAX_RETRIES)))
    .addOption(
      new Option('--timeout <duration>', 'a storage or registry connection with no byte for this long (connecting, waiting for an answer, mid-body) fails the attempt, retried like other failures')
        .default(60_000, '60s')
        .argParser((v) => timeoutArg(v)),
    )
    .option('--s3-endpoint <url>', 'S3 endpoint URL, enables path-style (env: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL)')
    .option('--s3-region <region>', 'S3 region (env: AWS_REGION)');
}

function timeoutArg(v: string): number {
  let ms: number;
  try {
    ms = parseDuration(v, '--timeout');
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  if (ms < 1000) throw new InvalidArgumentError(`--timeout takes a duration of at least 1s, got ${JSON.stringify(v)}`);
  return ms;
}
