import { Command, InvalidArgumentError, Option } from 'commander';
import { boundedInt } from './numbers.js';
import { Output } from './output.js';
import { exitCodeFor } from './exit.js';
import { takeExitCode } from './action.js';
import { COMMANDS } from '../commands/index.js';
import { silenceSdkNodeVersionWarning } from './sdk-warnings.js';
import { parseDuration } from '../util/duration.js';
import { runInterruptSteps } from '../util/interrupt.js';

/** Bounds of the global numeric options: past them a run only exhausts memory or sockets. */
export const MAX_CONCURRENCY = 1024;
export const MAX_RETRIES = 100;

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

export function buildProgram(): Command {
  const program = new Command('regbucket')
    .description('Manage container images directly inside registry storage (a directory or an S3 bucket), no registry server running.')
    .version(process.env.npm_package_version ?? '0.1.0')
    .addOption(new Option('--store <url>', 'the store: a directory, file://dir or s3://bucket[/prefix] (env REGBUCKET_STORE)'))
    .option('--json', 'machine-readable output on stdout')
    .option('-q, --quiet', 'print nothing but errors')
    .addOption(new Option('--concurrency <n>', 'parallel transfers and requests').default(8).argParser(boundedInt('--concurrency', 1, MAX_CONCURRENCY)))
    .addOption(new Option('--retries <n>', 'retries with backoff for storage requests').default(5).argParser(boundedInt('--retries', 0, MAX_RETRIES)))
    .addOption(
      new Option('--timeout <duration>', 'a storage or registry connection with no byte for this long (connecting, waiting for an answer, mid-body) fails the attempt, retried like other failures')
        .default(60_000, '60s')
        .argParser((v) => timeoutArg(v)),
    )
    .option('--s3-endpoint <url>', 'S3 endpoint URL (env AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL); enables path-style')
    .option('--s3-region <region>', 'S3 region (env AWS_REGION)')
    .showHelpAfterError('(run regbucket --help for usage)')
    .exitOverride();
  for (const register of COMMANDS) register(program);
  for (const c of program.commands) c.exitOverride().showHelpAfterError(false);
  return program;
}

/** Runs the CLI; resolves to the exit code (bin/regbucket.js sets it). */
export async function main(argv: string[]): Promise<number> {
  // `regbucket ... | head`: a reader that goes away is not an error worth a message.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  silenceSdkNodeVersionWarning();
  handleInterrupts();
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return takeExitCode();
  } catch (err) {
    const opts = program.opts<{ json?: boolean; quiet?: boolean }>();
    return exitCodeFor(err, new Output(opts.json ? 'json' : opts.quiet ? 'quiet' : 'human'));
  }
}

/**
 * SIGINT and SIGTERM: the run's own uploads are removed and its store lock released, then it
 * exits 130 or 143 (128 + the signal number, as shells report). A second signal exits at once.
 */
function handleInterrupts(): void {
  let stopping = false;
  const on = (signal: 'SIGINT' | 'SIGTERM', code: number) => {
    process.on(signal, () => {
      if (stopping) process.exit(code);
      stopping = true;
      process.stderr.write(`regbucket: interrupted (${signal}): removing this run's unfinished uploads\n`);
      void runInterruptSteps().finally(() => process.exit(code));
    });
  };
  on('SIGINT', 130);
  on('SIGTERM', 143);
}
