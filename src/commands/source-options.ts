// Options of commands that read from a live registry (docker://): one definition for push and sync.
import { InvalidArgumentError, type Command } from 'commander';
import type { Context } from '../cli/context.js';
import { parseCredsFlag } from '../image/registry-auth.js';
import type { SourceOptions } from '../image/transports.js';

export interface SourceFlags {
  srcCreds?: string;
  srcTlsVerify: boolean;
}

function bool(v: string | undefined): boolean {
  if (v === undefined || v === 'true') return true;
  if (v === 'false') return false;
  throw new InvalidArgumentError(`takes true or false, got ${JSON.stringify(v)}`);
}

export function addSourceOptions(cmd: Command): Command {
  return cmd
    .option('--src-creds <user:password>', 'credentials for a docker:// source (else REGISTRY_AUTH_FILE, containers auth.json, ~/.docker/config.json)')
    .option('--src-tls-verify [bool]', 'verify TLS of a docker:// source; false also allows plain http', bool, true);
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
