import { CommanderError } from 'commander';
import { ExitCode, RegbucketError } from '../errors.js';
import type { Output } from './output.js';

/** The one place errors become exit codes and one-line messages. */
export function exitCodeFor(err: unknown, out: Output): number {
  if (err instanceof CommanderError) {
    // commander already printed its message (usage errors, --help, --version).
    return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
  if (err instanceof RegbucketError) {
    out.error(oneLine(err.message));
    return err.exitCode;
  }
  const e = err as Error;
  out.error(oneLine(e?.message ?? String(err)));
  if (process.env.REGBUCKET_DEBUG && e?.stack) process.stderr.write(`${e.stack}\n`);
  return ExitCode.failed;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
