// Docker credential helpers (credsStore, credHelpers in $DOCKER_CONFIG/config.json): a fake
// docker-credential-<name> the test writes on PATH answers `get` with {Username, Secret}, and the
// real registry (htpasswd auth) accepts or refuses what it gave.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { makeLayout } from '../lab/images.js';
import { startRegistry, type RunningRegistry } from '../lab/registry.js';
import { skopeo, tempDir } from '../lab/tools.js';
import { HTPASSWD, HTPASSWD_PASSWORD, HTPASSWD_USER } from '../mirror/seed.js';

describe('docker credential helpers', { timeout: 300_000 }, () => {
  let registry: RunningRegistry;
  let bin: string;
  beforeAll(async () => {
    registry = await startRegistry({ storage: { filesystem: tempDir() }, htpasswd: HTPASSWD });
    const layout = join(tempDir(), 'layout');
    await makeLayout(layout, [{ ref: 'x', layers: 1 }]);
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`, `oci:${layout}:x`, `docker://${registry.host}/h/app:v1`]);
    bin = tempDir('regbucket-helpers-');
    // Answers for the registry on stdin from a table; logs what it was asked.
    const helper = (name: string, secret: string) => {
      const p = join(bin, `docker-credential-${name}`);
      writeFileSync(
        p,
        `#!/bin/sh\n[ "$1" = get ] || exit 2\nread host\necho "$host" >> "${bin}/${name}.asked"\n` +
          `if [ "$host" = "${registry.host}" ]; then printf '{"ServerURL":"%s","Username":"${HTPASSWD_USER}","Secret":"${secret}"}' "$host"; exit 0; fi\n` +
          'echo "credentials not found in native keychain"; exit 1\n',
      );
      chmodSync(p, 0o755);
    };
    helper('good', HTPASSWD_PASSWORD);
    helper('wrong', 'not-the-password');
  });
  afterAll(async () => {
    await registry?.stop();
  });

  function dockerConfig(config: object): NodeJS.ProcessEnv {
    const dir = tempDir('regbucket-dockercfg-');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    // HOME elsewhere: no auth file of the machine's decides.
    return { DOCKER_CONFIG: dir, HOME: tempDir(), REGISTRY_AUTH_FILE: '', XDG_RUNTIME_DIR: '', PATH: `${bin}:${process.env.PATH}` };
  }

  const pull = (env: NodeJS.ProcessEnv) => regbucket(['--store', tempDir(), 'push', '--src-tls-verify=false', `docker://${registry.host}/h/app:v1`, 'a:v1'], env);

  it('credsStore: the helper is asked for the registry and its secret gets in', async () => {
    await regbucketOk(['--store', tempDir(), 'push', '--src-tls-verify=false', `docker://${registry.host}/h/app:v1`, 'a:v1'], dockerConfig({ credsStore: 'good' }));
    expect(readFileSync(join(bin, 'good.asked'), 'utf8').split('\n')).toContain(registry.host);
  });

  it('credHelpers for this registry wins over credsStore; a wrong secret is refused, never printed', async () => {
    const wrong = await pull(dockerConfig({ credsStore: 'good', credHelpers: { [registry.host]: 'wrong' } }));
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr + wrong.stdout).not.toContain('not-the-password');
    await regbucketOk(
      ['--store', tempDir(), 'push', '--src-tls-verify=false', `docker://${registry.host}/h/app:v1`, 'a:v1'],
      dockerConfig({ credsStore: 'wrong', credHelpers: { [registry.host]: 'good' } }),
    );
  });

  it('a helper missing from PATH is a usage error naming it; one with nothing for the registry falls back to auths', async () => {
    const auth = Buffer.from(`${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`).toString('base64');
    const none = await pull(dockerConfig({ credHelpers: { [registry.host]: 'absent' } }));
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/docker-credential-absent .*is not on PATH/);
    // Nothing from the helper for this host: the auths entry is used.
    // It closes stdin unread, as a helper that knows nothing may: writing the registry to it then
    // fails with EPIPE, which is not the helper failing (CI failed on it once in a few runs).
    writeFileSync(join(bin, 'docker-credential-empty'), '#!/bin/sh\nexec 0<&-\necho "credentials not found in native keychain"; exit 1\n');
    chmodSync(join(bin, 'docker-credential-empty'), 0o755);
    await regbucketOk(
      ['--store', tempDir(), 'push', '--src-tls-verify=false', `docker://${registry.host}/h/app:v1`, 'a:v1'],
      dockerConfig({ credsStore: 'empty', auths: { [registry.host]: { auth } } }),
    );
  });

  it('a helper that ignores SIGTERM and never answers fails the command (exit 2, naming it) instead of hanging it', async () => {
    // The shell ignores TERM and so does its sleep: only SIGKILL ends it at the helper timeout.
    writeFileSync(join(bin, 'docker-credential-stuck'), "#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 1; done\n");
    chmodSync(join(bin, 'docker-credential-stuck'), 0o755);
    const r = await pull(dockerConfig({ credsStore: 'stuck' }));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/docker-credential-stuck get failed for .*ETIMEDOUT/);
  });

  it('auth file values of the wrong JSON type are a one-line usage error naming the file, never a raw TypeError', async () => {
    for (const config of [{ auths: { [registry.host]: { auth: 5 } } }, { credsStore: 5 }, { credHelpers: { [registry.host]: ['good'] } }]) {
      const r = await pull(dockerConfig(config));
      expect(r.code, `${JSON.stringify(config)}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/config\.json/);
      expect(r.stderr).not.toMatch(/must be of type|TypeError/);
    }
  });
});
