// Every --json document against its JSON Schema (docs/schemas/): each command run with --json on a
// small directory store, failures' error documents included. test/lab/cli.ts validates every
// --json output of the suite the same way; this file makes sure each schema meets a real document
// at least once, and that the schema files are what scripts/schemas.mjs writes.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { buildProgram } from '../../src/cli/main.js';
import { REPO_ROOT, regbucket } from '../lab/cli.js';
import { runOk } from '../lab/exec.js';
import { LayoutWriter } from '../lab/images.js';
import { commandOf, SCHEMA_DIR, schemaNames, validateDocument } from '../lab/schemas.js';
import { tempDir } from '../lab/tools.js';

let base: string;
let layout: string;
let store: string;
const seen = new Set<string>();

/** Runs with --json; the helper has validated the document; records which schema it met. */
async function doc(args: string[], code = 0): Promise<Record<string, unknown>> {
  const r = await regbucket(['--store', store, '--json', ...args]);
  expect(r.code, r.stderr).toBe(code);
  const d = JSON.parse(r.stdout) as Record<string, unknown>;
  seen.add('error' in d ? 'error' : commandOf(args)!);
  return d;
}

describe('--json documents match their schemas', { timeout: 300_000 }, () => {
  beforeAll(async () => {
    base = tempDir('regbucket-schemas-');
    layout = join(base, 'layout');
    store = join(base, 'store');
    const w = new LayoutWriter(layout);
    const one = await w.image({ ref: '1.0', layers: 1, layerSize: 200 });
    await w.image({ ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 1, layerSize: 100 });
    w.referrer(one);
    w.write();
  });

  it('schema files are what scripts/schemas.mjs writes', async () => {
    const fresh = tempDir('regbucket-schemas-gen-');
    await runOk(process.execPath, [join(REPO_ROOT, 'scripts', 'schemas.mjs'), fresh]);
    const names = readdirSync(fresh).sort();
    expect(readdirSync(SCHEMA_DIR).sort()).toEqual(names);
    for (const n of names) expect(readFileSync(join(SCHEMA_DIR, n), 'utf8'), `docs/schemas/${n}: run npm run schemas`).toBe(readFileSync(join(fresh, n), 'utf8'));
  });

  it('every command that prints a document has a schema', () => {
    const program = buildProgram();
    const names = program.commands.map((c) => c.name()).filter((n) => n !== 'completion');
    expect(names.length).toBe(COMMANDS.length - 1);
    expect(schemaNames().sort()).toEqual([...names, 'error'].sort());
  });

  it('write commands: push, pull, copy, sync, tag, delete, mv', async () => {
    await doc(['push', `oci:${layout}:1.0`, 'app:1.0']);
    await doc(['push', `oci:${layout}:multi`, 'app:multi']);
    await doc(['push', `oci:${layout}:1.0`, 'team/api:v1']);
    await doc(['tag', 'app:1.0', 'stable', 'latest']);
    // pull: one shape whatever the number of images.
    const one = await doc(['pull', 'app:1.0', `oci:${join(base, 'out1')}:1.0`]);
    const two = await doc(['pull', 'app:1.0', 'app:multi', `oci-archive:${join(base, 'bundle.tar')}`]);
    expect(Object.keys(one).sort()).toEqual(Object.keys(two).sort());
    expect((one.images as unknown[]).length).toBe(1);
    expect((two.images as unknown[]).length).toBe(2);
    await doc(['copy', '--all-tags', 'app', join(base, 'store2')]);
    const list = join(base, 'sync.txt');
    writeFileSync(list, `oci:${layout}:1.0 synced:1.0\noci:${layout}:multi synced:multi\n`);
    await doc(['sync', list]);
    await doc(['mv', '--dry-run', 'synced', 'mirrored']);
    await doc(['mv', 'synced', 'mirrored']);
    await doc(['delete', '--dry-run', 'app:latest']);
    await doc(['delete', 'team/api:v1']);
    await doc(['delete', '--repository', 'mirrored']);
  });

  it('read commands: ls (both shapes), inspect, du, verify, version', async () => {
    const repos = await doc(['ls']);
    expect((repos.repositories as { tagCount: number }[])[0]!.tagCount).toBeGreaterThan(0);
    await doc(['ls', 'app']);
    await doc(['ls', '--all', '--no-details', '--created']);
    await doc(['inspect', 'app:1.0']);
    await doc(['inspect', 'app:multi']);
    await doc(['du']);
    await doc(['verify']);
    await doc(['verify', '--fix']);
    await doc(['version']);
  });

  it('gc and prune, dry and real', async () => {
    await doc(['gc', '--dry-run']);
    await doc(['prune', '--dry-run', '--keep-last', '1', 'app']);
    await doc(['prune', '--keep-last', '1', '--gc', 'app']);
    await doc(['gc', '--min-age', '0', '--delete-untagged']);
  });

  it('prune of a pull-through cache, dry and real', async () => {
    const key = `app@sha256:${'0'.repeat(64)}`;
    writeFileSync(join(store, 'scheduler-state.json'), JSON.stringify({ [key]: { Key: key, ExpiryData: '2020-01-01T00:00:00Z', EntryType: 0 }, odd: null }));
    const dry = await doc(['prune', '--dry-run', '--cache-ttl', '1d', '--cache-max-size', '1G']);
    expect(dry.expired).toHaveLength(1);
    await doc(['prune', '--cache-ttl', '0s']);
    rmSync(join(store, 'scheduler-state.json'));
  });

  it('failures: the error document, for usage and runtime errors', async () => {
    const missing = await doc(['inspect', 'app:nope'], 1);
    expect((missing.error as { kind: string }).kind).toBe('not-found');
    const usage = await doc(['inspect'], 2);
    expect((usage.error as { kind: string }).kind).toBe('usage');
    await doc(['nosuch'], 2);
  });

  it('a schema rejects what breaks it (the validation can fail)', () => {
    // pull's former single-image shape, and a document without schemaVersion.
    expect(() => validateDocument('pull', { schemaVersion: 1, source: 'a:1', destination: 'oci:x', name: '1', digest: `sha256:${'0'.repeat(64)}`, mediaType: 'm', stats: {} })).toThrow(/pull/);
    expect(() => validateDocument('version', { version: '1', node: '20' })).toThrow(/schemaVersion/);
    expect(() => validateDocument('tag', { schemaVersion: 1, tagged: [{ repo: 'a', tag: 't', digest: 'not a digest', previous: null, changed: true }] })).toThrow(/digest/);
    expect(() => validateDocument('ls', { schemaVersion: 1, error: { message: 'x', exitCode: 0, kind: 'not-found' } })).toThrow(/error/);
  });

  it('each schema met a real document', () => {
    expect([...seen].sort()).toEqual(schemaNames().sort());
  });
});
