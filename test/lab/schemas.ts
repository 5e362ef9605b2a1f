// Validates --json documents against docs/schemas/*.schema.json (ajv, JSON Schema 2020-12).
// test/lab/cli.ts runs this on every --json output the suite produces.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

export const SCHEMA_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'schemas');

let validators: Map<string, ValidateFunction> | undefined;

function load(): Map<string, ValidateFunction> {
  if (validators) return validators;
  // strict: a typo in a schema keyword is an error, not a silently ignored constraint. Not
  // strictRequired: `oneOf`/`then` branches require fields their parent declares.
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true });
  const loaded = new Map<string, ValidateFunction>();
  for (const f of readdirSync(SCHEMA_DIR).filter((n) => n.endsWith('.schema.json'))) {
    loaded.set(f.replace(/\.schema\.json$/, ''), ajv.compile(JSON.parse(readFileSync(join(SCHEMA_DIR, f), 'utf8'))));
  }
  validators = loaded;
  return loaded;
}

export function schemaNames(): string[] {
  return [...load().keys()];
}

/** The global options that take a value: their value is not the command's name. */
const VALUED_GLOBALS = new Set(['--store', '--progress', '--concurrency', '--retries', '--timeout', '--s3-endpoint', '--s3-region']);

/** The subcommand named on a command line, or undefined (none, or `--help`-like runs). */
export function commandOf(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (VALUED_GLOBALS.has(a)) i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/**
 * Throws naming the schema and the failing fields unless `doc` is valid: an error document
 * against error.schema.json, any other against `<command>.schema.json`.
 */
export function validateDocument(command: string | undefined, doc: unknown): void {
  const isError = typeof doc === 'object' && doc !== null && 'error' in doc;
  const name = isError ? 'error' : command;
  if (!name) throw new Error('a --json document from no command');
  const v = load().get(name);
  if (!v) throw new Error(`no schema docs/schemas/${name}.schema.json for this --json document`);
  if (!v(doc)) {
    const why = (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
    throw new Error(`--json document of ${name} does not match docs/schemas/${name}.schema.json: ${why}\n${JSON.stringify(doc).slice(0, 600)}`);
  }
}
