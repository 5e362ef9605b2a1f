import type { Command } from 'commander';
import { Context } from './context.js';

let lastExitCode = 0;

/** Exit code of the last command run in this process (0 unless the command returned another). */
export function takeExitCode(): number {
  const c = lastExitCode;
  lastExitCode = 0;
  return c;
}

/**
 * Wraps a command body for commander: builds the Context from the global options, closes the
 * store afterwards, and records the exit code the body returns. The body receives commander's
 * arguments: positionals, then the command's own options.
 */
export function action<A extends unknown[]>(body: (ctx: Context, ...args: A) => Promise<number | void>) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args.at(-1) as Command;
    const ctx = Context.from(cmd);
    try {
      lastExitCode = (await body(ctx, ...(args.slice(0, -1) as A))) ?? 0;
    } finally {
      await ctx.close();
    }
  };
}
