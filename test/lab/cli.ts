// Runs the built CLI (bin/regbucket.cjs -> dist/bundle/) as users do: a separate process.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { run, type ExecResult } from './exec.js';
import { commandOf, validateDocument } from './schemas.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(REPO_ROOT, 'bin', 'regbucket.cjs');

export interface CliResult extends ExecResult {
  json<T = unknown>(): T;
}

export async function regbucket(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const r = await run(process.execPath, [BIN, ...args], { env: { ...process.env, CI: 'true', ...env } });
  if (producesDocument(args, r)) validateDocument(commandOf(args), JSON.parse(r.stdout));
  return { ...r, json: <T>() => document<T>(r.stdout) };
}

/** Help, --version, inspect --raw and completion scripts are not documents; neither is a run a signal ended. */
const NOT_DOCUMENTS = new Set(['--help', '-h', 'help', '--version', '-V', '--raw', 'completion']);

/**
 * Whether the run wrote a --json document: then it is checked against its schema (docs/schemas/),
 * so every --json output of the suite is validated, failures' error documents too.
 */
function producesDocument(args: string[], r: ExecResult): boolean {
  const json = args.some((a, i) => a === '--json' || a === '--format=json' || (a === '--format' && args[i + 1] === 'json'));
  if (!json || args.some((a) => NOT_DOCUMENTS.has(a))) return false;
  return r.code >= 0 && r.code < 128;
}

/**
 * A --json document: every one carries schemaVersion 1 (docs/json.md); tests compare the rest,
 * so the version is checked here and taken off.
 */
function document<T>(stdout: string): T {
  const doc = JSON.parse(stdout) as { schemaVersion?: unknown };
  if (doc.schemaVersion !== 1) throw new Error(`--json document without schemaVersion 1: ${stdout.slice(0, 200)}`);
  const { schemaVersion: _, ...rest } = doc;
  return rest as T;
}

/** Runs and throws unless the exit code is 0. */
export async function regbucketOk(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const r = await regbucket(args, env);
  if (r.code !== 0) throw new Error(`regbucket ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}
