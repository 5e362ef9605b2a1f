// The pure parts of docker:// sources: reference grammar, auth challenges, where credentials come
// from (and in which order), redaction.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { credentialsFromFiles, parseChallenge, parseCredsFlag, redact } from '../../src/image/registry-auth.js';
import { parseDockerRef } from '../../src/image/registry-client.js';
import { tempDir } from '../lab/tools.js';

describe('docker:// references', () => {
  it('parses host, port, repository, tag and digest as skopeo does', () => {
    const d = `sha256:${'a'.repeat(64)}`;
    expect(parseDockerRef('docker://127.0.0.1:5000/team/app:v1')).toEqual({ host: '127.0.0.1:5000', repo: 'team/app', tag: 'v1', digest: undefined });
    expect(parseDockerRef(`docker://registry.example.com/app@${d}`)).toMatchObject({ host: 'registry.example.com', repo: 'app', digest: d });
    expect(parseDockerRef('docker://localhost/app')).toMatchObject({ host: 'localhost', repo: 'app', tag: undefined });
    expect(parseDockerRef('docker://alpine:3')).toMatchObject({ host: 'docker.io', repo: 'library/alpine', tag: '3' });
    expect(parseDockerRef('docker://bitnami/redis')).toMatchObject({ host: 'docker.io', repo: 'bitnami/redis' });
  });

  it('refuses bad names and credentials in the reference, without echoing them', () => {
    expect(() => parseDockerRef('docker://host.example/Bad')).toThrow(/invalid repository name/);
    expect(() => parseDockerRef('docker://host.example/app:-x')).toThrow(/invalid tag/);
    expect(() => parseDockerRef('docker://ho$t.example/app')).toThrow(/invalid registry host/);
    let msg = '';
    try {
      parseDockerRef('docker://me:s3cr3t-pw@host.example/app');
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toContain('credentials in a docker:// reference are refused');
    expect(msg).not.toContain('s3cr3t-pw');
  });
});

describe('auth', () => {
  it('parses WWW-Authenticate challenges', () => {
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' },
    });
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: 'basic', params: { realm: 'Registry Realm' } });
    expect(parseChallenge(undefined)).toBeUndefined();
  });

  it('takes --src-creds passwords with colons', () => {
    expect(parseCredsFlag('robot:pa:ss:word')).toMatchObject({ username: 'robot', password: 'pa:ss:word' });
    expect(() => parseCredsFlag('nouser')).toThrow(/user:password/);
  });

  it('reads REGISTRY_AUTH_FILE, then containers auth.json, then ~/.docker/config.json, matching host keys in any form', () => {
    const home = tempDir();
    const xdg = tempDir();
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    mkdirSync(join(home, '.docker'));
    writeFileSync(join(home, '.docker', 'config.json'), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: b64('hub:hubpw') }, 'reg.example:5000': { auth: b64('d:dockerpw') } } }));
    mkdirSync(join(xdg, 'containers'));
    writeFileSync(join(xdg, 'containers', 'auth.json'), JSON.stringify({ auths: { 'reg.example:5000': { auth: b64('c:containerspw') } } }));
    const explicit = join(tempDir(), 'auth.json');
    writeFileSync(explicit, JSON.stringify({ auths: { 'http://reg.example:5000/v2/': { auth: b64('e:explicitpw') } } }));

    const env = { HOME: home, XDG_RUNTIME_DIR: xdg };
    expect(credentialsFromFiles('reg.example:5000', { ...env, REGISTRY_AUTH_FILE: explicit })).toMatchObject({ username: 'e', password: 'explicitpw', origin: explicit });
    expect(credentialsFromFiles('reg.example:5000', env)).toMatchObject({ username: 'c', password: 'containerspw' });
    expect(credentialsFromFiles('reg.example:5000', { HOME: home })).toMatchObject({ username: 'd', password: 'dockerpw' });
    expect(credentialsFromFiles('docker.io', { HOME: home })).toMatchObject({ username: 'hub', password: 'hubpw' });
    expect(credentialsFromFiles('other.example', env)).toBeUndefined();

    // Everything read is now redacted from any text.
    expect(redact(`x explicitpw ${b64('e:explicitpw')} e:explicitpw hubpw y`)).toBe('x *** *** *** *** y');
  });

  it('an auth file that is not JSON is an error that does not quote it', () => {
    const f = join(tempDir(), 'auth.json');
    writeFileSync(f, '{"auths": {"reg": {"auth": "c2VjcmV0OnB3"}');
    expect(() => credentialsFromFiles('reg', { HOME: tempDir(), REGISTRY_AUTH_FILE: f })).toThrow(/is not valid JSON/);
    try {
      credentialsFromFiles('reg', { HOME: tempDir(), REGISTRY_AUTH_FILE: f });
    } catch (err) {
      expect((err as Error).message).not.toContain('c2VjcmV0OnB3');
    }
  });
});
