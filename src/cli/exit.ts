import { CommanderError } from 'commander';
import { ExitCode, RegbucketError } from '../errors.js';
import type { Output } from './output.js';

/** commander's codes for help and version output: not errors. */
const COMMANDER_DONE = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

/**
 * The one place errors become exit codes and one-line messages (and, with --json, the error
 * document on stdout).
 */
export function exitCodeFor(err: unknown, out: Output): number {
  if (err instanceof CommanderError) {
    if (COMMANDER_DONE.has(err.code) || err.exitCode === 0) return ExitCode.ok;
    const message = `${oneLine(err.message.replace(/^error:\s*/, ''))} (see regbucket --help)`;
    out.failure(message, ExitCode.usage, 'usage');
    return ExitCode.usage;
  }
  if (err instanceof RegbucketError) {
    out.failure(oneLine(err.message), err.exitCode, kindOf(err));
    return err.exitCode;
  }
  const e = err as Error;
  out.failure(oneLine(e?.message ?? String(err)), ExitCode.failed, 'internal');
  if (process.env.REGBUCKET_DEBUG && e?.stack) process.stderr.write(`${e.stack}\n`);
  return ExitCode.failed;
}

/** The error's class as a stable kebab-case word: NotFoundError -> not-found. */
export function kindOf(err: RegbucketError): string {
  return err.constructor.name
    .replace(/Error$/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase();
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
