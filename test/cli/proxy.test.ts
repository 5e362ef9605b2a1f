// HTTPS_PROXY/HTTP_PROXY/NO_PROXY for docker:// sources and S3, through a forward proxy the test
// starts on 127.0.0.1: requests go through it (counted), NO_PROXY sends them around it.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { startForwardProxy, type ForwardProxy } from '../lab/forward-proxy.js';
import { makeLayout } from '../lab/images.js';
import { startRegistry, type RunningRegistry } from '../lab/registry.js';
import { freshS3Store } from '../lab/swift.js';
import { skopeo, tempDir } from '../lab/tools.js';

/** The variables unset, so the machine's own proxy settings do not decide the test. */
const NONE = { HTTPS_PROXY: '', HTTP_PROXY: '', ALL_PROXY: '', NO_PROXY: '', https_proxy: '', http_proxy: '', all_proxy: '', no_proxy: '' };

describe('proxies', { timeout: 300_000 }, () => {
  let proxy: ForwardProxy;
  let plain: RunningRegistry;
  let tls: RunningRegistry;
  beforeAll(async () => {
    proxy = await startForwardProxy();
    const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'mirror', 'fixtures');
    plain = await startRegistry({ storage: { filesystem: tempDir() } });
    tls = await startRegistry({ storage: { filesystem: tempDir() }, tls: { certificate: join(fixtures, 'registry-test.crt'), key: join(fixtures, 'registry-test.key') } });
    const layout = join(tempDir(), 'layout');
    await makeLayout(layout, [{ ref: 'x', layers: 1 }]);
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:x`, `docker://${plain.host}/p/app:v1`]);
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:x`, `docker://${tls.host}/p/app:v1`]);
  });
  afterAll(async () => {
    await proxy?.stop();
    await plain?.stop();
    await tls?.stop();
  });

  it('docker:// over https goes through HTTPS_PROXY (CONNECT); NO_PROXY bypasses it', async () => {
    const before = proxy.seen.length;
    await regbucketOk(['--store', tempDir(), 'push', '--src-tls-verify=false', `docker://${tls.host}/p/app:v1`, 'a:v1'], { ...NONE, HTTPS_PROXY: proxy.url });
    const through = proxy.seen.slice(before);
    expect(through.length).toBeGreaterThan(0);
    expect(new Set(through)).toEqual(new Set([`CONNECT ${tls.host}`]));
    const after = proxy.seen.length;
    await regbucketOk(['--store', tempDir(), 'push', '--src-tls-verify=false', `docker://${tls.host}/p/app:v1`, 'a:v1'], { ...NONE, HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' });
    expect(proxy.seen.length).toBe(after);
  });

  it('docker:// over plain http goes through http_proxy (lower case too), forwarded by absolute URI', async () => {
    const before = proxy.seen.length;
    // https is tried first (as skopeo does with verification off): the tunnel is made, the
    // handshake fails on a plain server, then plain http goes through the proxy as well.
    await regbucketOk(['--store', tempDir(), 'push', '--src-tls-verify=false', `docker://${plain.host}/p/app:v1`, 'a:v1'], { ...NONE, https_proxy: proxy.url, http_proxy: proxy.url });
    const through = proxy.seen.slice(before);
    expect(through).toContain(`GET ${plain.host}`);
    expect(through.every((s) => s.endsWith(plain.host))).toBe(true);
  });

  it('a proxy that is not there fails the pull with a connection error, not a silent direct connection', async () => {
    const r = await regbucket(['--store', tempDir(), '--retries', '0', 'push', '--src-tls-verify=false', `docker://${tls.host}/p/app:v1`, 'a:v1'], { ...NONE, HTTPS_PROXY: 'http://127.0.0.1:9' });
    expect(r.code).not.toBe(0);
  });

  it('S3 goes through HTTP_PROXY (the endpoint is plain http); NO_PROXY bypasses it', async () => {
    const s3 = await freshS3Store({ tag: 'proxy' });
    const host = new URL(s3.endpoint).host;
    const layout = join(tempDir(), 'layout');
    await makeLayout(layout, [{ ref: 'x', layers: 1 }]);
    const before = proxy.seen.length;
    await regbucketOk([...s3.args, 'push', `oci:${layout}:x`, 'app:x'], { ...s3.env, ...NONE, HTTP_PROXY: proxy.url });
    const through = proxy.seen.slice(before);
    expect(through.length).toBeGreaterThan(0);
    expect(through.every((s) => s.endsWith(host))).toBe(true);
    const after = proxy.seen.length;
    const ls = await regbucketOk([...s3.args, '-q', 'ls', 'app'], { ...s3.env, ...NONE, HTTP_PROXY: proxy.url, NO_PROXY: `localhost,${new URL(s3.endpoint).hostname}` });
    expect(ls.stdout).toBe('app:x\n');
    expect(proxy.seen.length).toBe(after);
  });

  it('a proxy that asks for credentials: user:password in the proxy URL pass it; wrong ones fail in one line that never shows the password', async () => {
    const guarded = await startForwardProxy({ user: 'corp', password: 's3cr%t' });
    try {
      const withCreds = guarded.url.replace('http://', 'http://corp:s3cr%25t@');
      await regbucketOk(['--store', tempDir(), 'push', '--src-tls-verify=false', `docker://${tls.host}/p/app:v1`, 'a:v1'], { ...NONE, HTTPS_PROXY: withCreds });
      expect(guarded.seen).toContain(`CONNECT ${tls.host}`);
      const s3 = await freshS3Store({ tag: 'proxyauth' });
      const layout = join(tempDir(), 'layout');
      await makeLayout(layout, [{ ref: 'x', layers: 1 }]);
      await regbucketOk([...s3.args, 'push', `oci:${layout}:x`, 'app:x'], { ...s3.env, ...NONE, HTTP_PROXY: withCreds });
      expect(guarded.seen).toContain(`PUT ${new URL(s3.endpoint).host}`);
      for (const wrong of [guarded.url, guarded.url.replace('http://', 'http://corp:hunter2@')]) {
        const r = await regbucket(['--store', tempDir(), '--retries', '0', 'push', '--src-tls-verify=false', `docker://${tls.host}/p/app:v1`, 'a:v1'], { ...NONE, HTTPS_PROXY: wrong });
        expect(r.code).not.toBe(0);
        expect(r.stderr).toMatch(/^regbucket: error: .+\n$/);
        expect(r.stderr).not.toContain('hunter2');
        expect(r.stderr).toMatch(/answered 407: the proxy .*HTTPS_PROXY/);
        const s = await regbucket([...s3.args, '--retries', '0', 'ls'], { ...s3.env, ...NONE, HTTP_PROXY: wrong });
        expect(s.code).not.toBe(0);
        expect(s.stderr).toMatch(/^regbucket: error: .+\n$/);
        expect(s.stderr).not.toContain('hunter2');
        expect(s.stderr).toMatch(/the proxy answered 407: the proxy .*HTTP_PROXY/);
      }
    } finally {
      await guarded.stop();
    }
  });
});
