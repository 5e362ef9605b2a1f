// Registry credentials never reach a user's terminal, logs or --json: not on a wrong password,
// not on a 401 from a token service, not on a 500 whose message names the URL, not with
// REGBUCKET_DEBUG stack traces on.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket, type CliResult } from '../lab/cli.js';
import { startGate, type RunningGate } from '../lab/registry-gate.js';
import { startRegistry, type RunningRegistry } from '../lab/registry.js';
import { tempDir } from '../lab/tools.js';
import { HTPASSWD, HTPASSWD_PASSWORD, HTPASSWD_USER, seedRegistry } from '../mirror/seed.js';

const WRONG = 'Wr0ng-S3cret-pw-zz';
const DEBUG = { REGBUCKET_DEBUG: '1' };

/** Fails if any form of the secret is in the command's output. */
function expectClean(r: CliResult, user: string, password: string): void {
  const forms = [password, `${user}:${password}`, Buffer.from(`${user}:${password}`).toString('base64')];
  for (const text of [r.stdout, r.stderr]) for (const f of forms) expect(text).not.toContain(f);
}

describe('credentials stay out of errors, --json and debug output', () => {
  let guarded: RunningRegistry;
  let plain: RunningRegistry;
  let gate: RunningGate;

  beforeAll(async () => {
    guarded = await startRegistry({ storage: { filesystem: tempDir() }, htpasswd: HTPASSWD });
    plain = await startRegistry({ storage: { filesystem: tempDir() } });
    await seedRegistry(guarded.host, { 'p/app:v1': { layers: 1 } }, `${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`);
    await seedRegistry(plain.host, { 'p/app:v1': { layers: 1 } });
    gate = await startGate({ target: `http://${plain.host}`, bearer: { username: HTPASSWD_USER, password: HTPASSWD_PASSWORD } });
  });
  afterAll(async () => {
    await gate?.stop();
    await guarded?.stop();
    await plain?.stop();
  });

  it('a wrong password from --src-creds (basic auth, 401)', async () => {
    for (const json of [[], ['--json']]) {
      const r = await regbucket(['--store', tempDir(), ...json, 'push', '--src-tls-verify=false', '--src-creds', `${HTPASSWD_USER}:${WRONG}`, `docker://${guarded.host}/p/app:v1`, 'a:v1'], DEBUG);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('rejected the credentials from --src-creds');
      expectClean(r, HTPASSWD_USER, WRONG);
    }
  });

  it('a wrong password from an auth file (base64 auth)', async () => {
    const file = join(tempDir(), 'auth.json');
    writeFileSync(file, JSON.stringify({ auths: { [guarded.host]: { auth: Buffer.from(`${HTPASSWD_USER}:${WRONG}`).toString('base64') } } }));
    const r = await regbucket(['--store', tempDir(), '--json', 'push', '--src-tls-verify=false', `docker://${guarded.host}/p/app:v1`, 'a:v1'], { ...DEBUG, REGISTRY_AUTH_FILE: file });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`rejected the credentials from ${file}`);
    expectClean(r, HTPASSWD_USER, WRONG);
  });

  it('a 401 from the token service, and a 500 naming the URL, with the right password in use', async () => {
    const bad = await regbucket(['--store', tempDir(), 'push', '--src-tls-verify=false', '--src-creds', `${HTPASSWD_USER}:${WRONG}`, `docker://${gate.host}/p/app:v1`, 'a:v1'], DEBUG);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('token request');
    expectClean(bad, HTPASSWD_USER, WRONG);

    gate.addFault({ match: 'GET manifests', status: 500, times: 5 });
    const creds = `${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`;
    for (const json of [[], ['--json']]) {
      const r = await regbucket(['--store', tempDir(), ...json, '--retries', '0', 'push', '--src-tls-verify=false', '--src-creds', creds, `docker://${gate.host}/p/app:v1`, 'a:v1'], DEBUG);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`http://${gate.host}/v2/p/app/manifests/v1 answered 500`);
      expectClean(r, HTPASSWD_USER, HTPASSWD_PASSWORD);
    }
    // The right password worked (the token was issued) and still is nowhere in the output.
    expect(gate.tokenScopes.length).toBeGreaterThan(0);
  });

  it('sync --json with a wrong password: the failure row and its error line are clean', async () => {
    const list = join(tempDir(), 'images.txt');
    writeFileSync(list, `docker://${guarded.host}/p/app:v1 a\ndocker://${plain.host}/p/app:v1 b\n`);
    const r = await regbucket(['--store', tempDir(), '--json', 'sync', '--src-tls-verify=false', '--src-creds', `${HTPASSWD_USER}:${WRONG}`, list], DEBUG);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { summary: { copied: number; failed: number } };
    expect(out.summary).toMatchObject({ copied: 1, failed: 1 });
    expect(r.stderr).toContain('rejected the credentials');
    expectClean(r, HTPASSWD_USER, WRONG);
  });

  it('credentials written into the reference are refused without echoing the password', async () => {
    const r = await regbucket(['--store', tempDir(), 'push', `docker://${HTPASSWD_USER}:${WRONG}@${guarded.host}/p/app:v1`, 'a:v1'], DEBUG);
    expect(r.code).toBe(2);
    expectClean(r, HTPASSWD_USER, WRONG);
  });
});
