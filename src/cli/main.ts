import { Command } from 'commander';
import { COMMANDS } from './commands/index.js';
import { takeExitCode } from './action.js';
import { exitCodeFor } from './exit.js';
import { addGlobalOptions } from './globals.js';
import { Output } from './output.js';
import { silenceSdkNodeVersionWarning } from './sdk-warnings.js';
import type { ProgressMode } from './progress.js';
import { packageVersion } from './version.js';
import { runInterruptSteps } from '../util/interrupt.js';

export function buildProgram(): Command {
  const program = new Command('regbucket')
    .description('Manage container images directly inside registry storage (a directory or an S3 bucket), no registry server running.')
    .version(packageVersion(), '-V, --version', "print regbucket's version")
    .helpOption('-h, --help', 'show help for a command')
    .helpCommand('help [command]', 'show help for a command')
    // Set before the subcommands are made: they inherit these settings.
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    // commander's own errors become the one `regbucket: error: ...` line in exitCodeFor.
    .configureOutput({ outputError: () => {} })
    .showSuggestionAfterError(true)
    .exitOverride();
  addGlobalOptions(program);
  for (const define of COMMANDS) define(program);
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
    const opts = program.opts<{ json?: boolean; quiet?: boolean; progress?: ProgressMode }>();
    // A parse error can come before commander has read --json: the raw arguments decide then.
    const json = opts.json ?? asksForJson(argv.slice(2));
    return exitCodeFor(err, new Output(json ? 'json' : opts.quiet ? 'quiet' : 'human', 'none'));
  }
}

/** --json, or a listing's --format json, among raw arguments. */
function asksForJson(args: string[]): boolean {
  return args.some((a, i) => a === '--json' || a === '--format=json' || (a === '--format' && args[i + 1] === 'json'));
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
