// Helpers for command definitions (src/cli/commands/*.ts). A definition is the one place a
// command's arguments, options and examples are declared: --help, docs/commands/*.md OPTIONS
// blocks, man pages and shell completion are all generated from the commander objects built here.
import { InvalidArgumentError, type Command } from 'commander';
import { action } from './action.js';
import type { Context } from './context.js';

export interface Example {
  /** The command line, starting with `regbucket`. */
  cmd: string;
  /** What it does, one line. */
  what: string;
}

const EXAMPLES = new WeakMap<Command, Example[]>();

/** Attaches examples: shown at the end of `--help`, and in the EXAMPLES section of the docs. */
export function withExamples(cmd: Command, examples: Example[]): Command {
  EXAMPLES.set(cmd, examples);
  return cmd.addHelpText('after', () => `\nExamples:\n${examples.map((e) => `  ${e.cmd}\n      ${e.what}`).join('\n')}\n`);
}

export function examplesOf(cmd: Command): Example[] {
  return EXAMPLES.get(cmd) ?? [];
}

/** A repeatable option's parser: `--platform a --platform b` gives ['a', 'b']. */
export function collect(v: string, acc: string[] = []): string[] {
  return [...acc, v];
}

/** A whole-number option parser with a lower bound, naming the flag in its error. */
export function wholeNumber(flag: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`${flag} takes a whole number${min > 0 ? ` of at least ${min}` : ''}, got ${JSON.stringify(v)}`);
    }
    return n;
  };
}

/** `--flag [bool]`: absent value or "true" is true, "false" is false. */
export function bool(v: string | undefined): boolean {
  if (v === undefined || v === 'true') return true;
  if (v === 'false') return false;
  throw new InvalidArgumentError(`takes true or false, got ${JSON.stringify(v)}`);
}

type Body = (ctx: Context, ...args: never[]) => Promise<number | void>;

/**
 * The action of a command whose module loads only when it runs: `--help` and other commands
 * never pay for its imports (the AWS SDK, archive readers, the gc and verify engines).
 */
export function lazy(load: () => Promise<{ run: Body }>) {
  return action(async (ctx: Context, ...args: unknown[]) => {
    const { run } = await load();
    return (run as (ctx: Context, ...a: unknown[]) => Promise<number | void>)(ctx, ...args);
  });
}
