// What the docker:// source options (src/cli/commands/options.ts) become for the image layer.
import type { Context } from '../cli/context.js';
import { parseCredsFlag } from '../image/registry-auth.js';
import type { SourceOptions } from '../image/transports.js';

export interface SourceFlags {
  srcCreds?: string;
  srcTlsVerify: boolean;
}

export interface DestFlags {
  destCreds?: string;
  destTlsVerify: boolean;
}

export function sourceOptions(ctx: Context, flags: SourceFlags): SourceOptions {
  return registryOptions(ctx, flags.srcCreds, '--src-creds', flags.srcTlsVerify);
}

/** The same for a docker:// destination (--dest-creds, --dest-tls-verify). */
export function destOptions(ctx: Context, flags: DestFlags): SourceOptions {
  return registryOptions(ctx, flags.destCreds, '--dest-creds', flags.destTlsVerify);
}

function registryOptions(ctx: Context, creds: string | undefined, flag: string, tlsVerify: boolean): SourceOptions {
  return {
    credentials: creds !== undefined ? parseCredsFlag(creds, flag) : undefined,
    tlsVerify,
    retries: ctx.globals.retries,
    timeoutMs: ctx.globals.timeout,
    concurrency: ctx.globals.concurrency,
  };
}
