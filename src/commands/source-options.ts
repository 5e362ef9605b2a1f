// What the docker:// source options (src/cli/commands/options.ts) become for the image layer.
import type { Context } from '../cli/context.js';
import { parseCredsFlag } from '../image/registry-auth.js';
import type { SourceOptions } from '../image/transports.js';

export interface SourceFlags {
  srcCreds?: string;
  srcTlsVerify: boolean;
}

export function sourceOptions(ctx: Context, flags: SourceFlags): SourceOptions {
  return {
    credentials: flags.srcCreds !== undefined ? parseCredsFlag(flags.srcCreds) : undefined,
    tlsVerify: flags.srcTlsVerify,
    retries: ctx.globals.retries,
    timeoutMs: ctx.globals.timeout,
    concurrency: ctx.globals.concurrency,
  };
}
