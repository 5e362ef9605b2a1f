// push docker://: images skopeo put in the real registry, copied by regbucket into a store that
// another real registry serves with the same digests; auth (htpasswd basic, bearer challenge,
// auth files), redirects, retries and referrers.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { digestOf, LayoutWriter, makeLayout } from '../lab/images.js';
import { startGate, type RunningGate } from '../lab/registry-gate.js';
import { startRegistry, type RunningRegistry } from '../lab/registry.js';
import { skopeo, skopeoCopy, skopeoInspectRaw, tempDir } from '../lab/tools.js';
import { HTPASSWD, HTPASSWD_PASSWORD, HTPASSWD_USER, seedRegistry, seedSignedImage } from './seed.js';

const INSECURE = '--src-tls-verify=false';

describe('push docker:// from the real registry', () => {
  let source: RunningRegistry;
  let digests: Map<string, string>;
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    source = await startRegistry({ storage: { filesystem: tempDir() } });
    stops.push(() => source.stop());
    ({ digests } = await seedRegistry(source.host, {
      'lib/single:v1': { layers: 3 },
      'lib/multi:v1': { platforms: ['linux/amd64', 'linux/arm64', 'linux/arm/v7'], layers: 2 },
      'lib/docker:v1': { docker: true, layers: 2 },
    }));
  });
  afterAll(async () => {
    for (const s of stops.reverse()) await s();
  });

  /** A registry serving `store`, stopped after the suite. */
  async function serve(store: string): Promise<RunningRegistry> {
    const r = await startRegistry({ storage: { filesystem: store } });
    stops.push(() => r.stop());
    return r;
  }

  it('copies single, docker schema2 and multi-arch images; a registry serving the store gives the same digests', async () => {
    const store = tempDir();
    for (const name of ['lib/single:v1', 'lib/multi:v1', 'lib/docker:v1']) {
      const r = await regbucketOk(['--store', store, '--json', 'push', INSECURE, `docker://${source.host}/${name}`, `mirror/${name}`]);
      expect(r.json<{ images: { digest: string }[] }>().images[0]!.digest).toBe(digests.get(name));
    }
    const served = await serve(store);
    for (const name of ['lib/single:v1', 'lib/multi:v1', 'lib/docker:v1']) {
      const raw = await skopeoInspectRaw(`docker://${served.host}/mirror/${name}`);
      expect(digestOf(raw)).toBe(digests.get(name));
    }
    // Every child of the index is there: skopeo reads each platform from the served store.
    for (const [arch, variant] of [['amd64'], ['arm64'], ['arm', 'v7']]) {
      const flags = ['--override-arch', arch!, ...(variant ? ['--override-variant', variant] : [])];
      const cfg = JSON.parse(await skopeo(['inspect', '--tls-verify=false', ...flags, `docker://${served.host}/mirror/lib/multi:v1`]));
      expect(cfg.Architecture).toBe(arch);
    }
    // By digest too; a second push writes nothing.
    const again = await regbucketOk(['--store', store, '--json', 'push', INSECURE, `docker://${source.host}/lib/multi@${digests.get('lib/multi:v1')}`, 'mirror/lib/multi:v1']);
    expect(again.json<{ stats: { blobsUploaded: number; manifestsWritten: number } }>().stats).toMatchObject({ blobsUploaded: 0, manifestsWritten: 0 });
  });

  it('--platform takes one image of a multi-arch index', async () => {
    const store = tempDir();
    const r = await regbucketOk(['--store', store, '--json', 'push', INSECURE, '--platform', 'linux/arm/v7', `docker://${source.host}/lib/multi:v1`, 'arm:v7']);
    const pushed = r.json<{ images: { digest: string; mediaType: string }[] }>().images[0]!;
    expect(pushed.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    const served = await serve(store);
    const cfg = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${served.host}/arm:v7`]));
    expect(cfg.Architecture).toBe('arm');
    const child = JSON.parse((await skopeoInspectRaw(`docker://${source.host}/lib/multi:v1`)).toString()).manifests.find((m: { platform: { variant?: string } }) => m.platform.variant === 'v7');
    expect(pushed.digest).toBe(child.digest);
  });

  it('names what is missing, and refuses plain http without --src-tls-verify=false', async () => {
    const store = tempDir();
    const missing = await regbucket(['--store', store, 'push', INSECURE, `docker://${source.host}/lib/single:nope`, 'x:y']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`tag nope is not in ${source.host}/lib/single`);
    const tls = await regbucket(['--store', store, 'push', `docker://${source.host}/lib/single:v1`, 'x:y']);
    expect(tls.code).toBe(1);
    expect(tls.stderr).toContain('--src-tls-verify=false');
  });

  it('an https registry whose token realm is plain http: refused before the credentials are sent', async () => {
    const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
    let tokenRequests = 0;
    const realm = createServer((_req, res) => {
      tokenRequests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t"}');
    });
    await new Promise<void>((r) => realm.listen(0, '127.0.0.1', r));
    const realmUrl = `http://127.0.0.1:${(realm.address() as AddressInfo).port}/token`;
    const registry = createHttpsServer({ cert: readFileSync(join(fixtures, 'registry-test.crt')), key: readFileSync(join(fixtures, 'registry-test.key')) }, (_req, res) => {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${realmUrl}",service="x"`, 'docker-distribution-api-version': 'registry/2.0' }).end();
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    stops.push(async () => {
      realm.close();
      registry.close();
    });
    const host = `127.0.0.1:${(registry.address() as AddressInfo).port}`;
    const env = { NODE_EXTRA_CA_CERTS: join(fixtures, 'registry-test.crt') };
    const r = await regbucket(['--store', tempDir(), 'push', '--src-creds', 'user:hunter2', `docker://${host}/lib/app:v1`, 'a:v1'], env);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^regbucket: error: .*token realm http:\/\/127\.0\.0\.1:\d+ that is not https: .*--src-tls-verify=false/)]);
    expect(r.stderr).not.toContain('hunter2');
    expect(tokenRequests).toBe(0);
  });

  it('https: an untrusted certificate is refused by default and accepted with --src-tls-verify=false', async () => {
    // A self-signed certificate for 127.0.0.1 made for these tests (valid 100 years; its key is
    // committed on purpose: it protects nothing), so no openssl is needed at test time.
    const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
    const tls = await startRegistry({
      storage: { filesystem: tempDir() },
      tls: { certificate: join(fixtures, 'registry-test.crt'), key: join(fixtures, 'registry-test.key') },
    });
    stops.push(() => tls.stop());
    const layout = join(tempDir(), 'layout');
    await makeLayout(layout, [{ ref: 'x', layers: 1 }]);
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:x`, `docker://${tls.host}/tls/app:v1`]);
    const refused = await regbucket(['--store', tempDir(), 'push', `docker://${tls.host}/tls/app:v1`, 'a:v1']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/the TLS certificate of 127\.0\.0\.1:\d+ is not trusted .*--src-tls-verify=false/);
    const r = await regbucketOk(['--store', tempDir(), '--json', 'push', '--src-tls-verify=false', `docker://${tls.host}/tls/app:v1`, 'a:v1']);
    expect(r.json<{ images: { digest: string }[] }>().images[0]!.digest).toBe(digestOf(await skopeoInspectRaw(`docker://${tls.host}/tls/app:v1`)));
  });

  it('brings a signature listed under the sha256-<hex> fallback tag (registry 2.8 has no referrers API)', async () => {
    const signed = await seedSignedImage(source.host, 'lib/signed', 'v1');
    const store = tempDir();
    await regbucketOk(['--store', store, 'push', INSECURE, `docker://${source.host}/lib/signed:v1`, 'signed:v1']);
    const served = await serve(store);
    const fallback = `sha256-${signed.image.slice(7)}`;
    const index = JSON.parse((await skopeoInspectRaw(`docker://${served.host}/signed:${fallback}`)).toString());
    expect(index.manifests.map((m: { digest: string }) => m.digest)).toEqual([signed.signature]);
    expect(digestOf(await skopeoInspectRaw(`docker://${served.host}/signed@${signed.signature}`))).toBe(signed.signature);
    // --no-referrers leaves them behind.
    const bare = tempDir();
    await regbucketOk(['--store', bare, 'push', INSECURE, '--no-referrers', `docker://${source.host}/lib/signed:v1`, 'signed:v1']);
    const r = await regbucketOk(['--store', bare, '--json', 'push', INSECURE, `docker://${source.host}/lib/signed:v1`, 'signed:v1']);
    expect(r.json<{ stats: { manifestsWritten: number } }>().stats.manifestsWritten).toBe(2);
  });

  it('brings a signature the OCI 1.1 referrers API lists, and lists it under the sha256-<hex> tag the store needs (2.8 has no referrers API)', async () => {
    const layout = join(tempDir(), 'layout');
    const w = new LayoutWriter(layout);
    const image = await w.image({ ref: 'img', layers: 1 });
    const sig = w.referrer(image);
    w.entries[w.entries.length - 1]!.annotations = { 'org.opencontainers.image.ref.name': 'sig' };
    w.write();
    await skopeoCopy(`oci:${layout}:img`, `docker://${source.host}/lib/api-signed:v1`);
    // The signature has to live in the registry somewhere: a tag of its own keeps it.
    await skopeoCopy(`oci:${layout}:sig`, `docker://${source.host}/lib/api-signed:holder`);
    const gate = await startGate({ target: `http://${source.host}`, referrers: { [image.digest]: [w.desc(sig, { artifactType: 'application/vnd.example.signature' })] } });
    stops.push(() => gate.stop());
    const store = tempDir();
    await regbucketOk(['--store', store, 'push', INSECURE, `docker://${gate.host}/lib/api-signed:v1`, 'signed:v1']);
    expect(gate.counts()['GET referrers']).toBeGreaterThanOrEqual(1);
    const served = await serve(store);
    expect(digestOf(await skopeoInspectRaw(`docker://${served.host}/signed@${sig.digest}`))).toBe(sig.digest);
    const tags = JSON.parse(await skopeo(['list-tags', '--tls-verify=false', `docker://${served.host}/signed`])).Tags;
    const fallback = `sha256-${image.digest.slice(7)}`;
    expect(tags.sort()).toEqual([fallback, 'v1']);
    const listed = JSON.parse((await skopeoInspectRaw(`docker://${served.host}/signed:${fallback}`)).toString('utf8')) as { manifests: { digest: string; artifactType?: string }[] };
    expect(listed.manifests).toEqual([expect.objectContaining({ digest: sig.digest, artifactType: 'application/vnd.example.signature' })]);
  });

  describe('with htpasswd basic auth on the registry', () => {
    let guarded: RunningRegistry;
    let creds: string;
    let seeded: Map<string, string>;

    beforeAll(async () => {
      guarded = await startRegistry({ storage: { filesystem: tempDir() }, htpasswd: HTPASSWD });
      stops.push(() => guarded.stop());
      creds = `${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`;
      ({ digests: seeded } = await seedRegistry(guarded.host, { 'private/app:v1': { platforms: ['linux/amd64', 'linux/arm64'], layers: 2 } }, creds));
    });

    it('needs credentials, takes them from --src-creds, REGISTRY_AUTH_FILE and ~/.docker/config.json', async () => {
      const src = `docker://${guarded.host}/private/app:v1`;
      const none = await regbucket(['--store', tempDir(), 'push', INSECURE, src, 'app:v1'], { HOME: tempDir(), REGISTRY_AUTH_FILE: '' });
      expect(none.code).toBe(1);
      expect(none.stderr).toContain(`${guarded.host} needs credentials`);

      const flag = await regbucketOk(['--store', tempDir(), '--json', 'push', INSECURE, '--src-creds', creds, src, 'app:v1']);
      const expected = flag.json<{ images: { digest: string }[] }>().images[0]!.digest;
      expect(expected).toBe(seeded.get('private/app:v1'));

      const auth = Buffer.from(creds).toString('base64');
      const authFile = join(tempDir(), 'auth.json');
      writeFileSync(authFile, JSON.stringify({ auths: { [guarded.host]: { auth } } }));
      const viaFile = await regbucketOk(['--store', tempDir(), '--json', 'push', INSECURE, src, 'app:v1'], { REGISTRY_AUTH_FILE: authFile, HOME: tempDir() });
      expect(viaFile.json<{ images: { digest: string }[] }>().images[0]!.digest).toBe(expected);

      const home = tempDir();
      mkdirSync(join(home, '.docker'));
      writeFileSync(join(home, '.docker', 'config.json'), JSON.stringify({ auths: { [`http://${guarded.host}`]: { auth } } }));
      const viaDocker = await regbucketOk(['--store', tempDir(), '--json', 'push', INSECURE, src, 'app:v1'], { HOME: home, REGISTRY_AUTH_FILE: '', XDG_RUNTIME_DIR: '' });
      expect(viaDocker.json<{ images: { digest: string }[] }>().images[0]!.digest).toBe(expected);
    });
  });

  describe('behind a gate: bearer tokens, redirects, faults', () => {
    let gate: RunningGate;

    beforeAll(async () => {
      gate = await startGate({ target: `http://${source.host}`, bearer: { username: 'robot', password: 'tok-secret-1' }, redirectBlobs: true });
      stops.push(() => gate.stop());
    });

    it('gets one bearer token per scope and follows blob redirects without sending it there', async () => {
      gate.reset();
      const store = tempDir();
      const r = await regbucketOk(['--store', store, '--json', 'push', INSECURE, '--src-creds', 'robot:tok-secret-1', `docker://${gate.host}/lib/multi:v1`, 'm:v1']);
      expect(r.json<{ images: { digest: string }[] }>().images[0]!.digest).toBe(digests.get('lib/multi:v1'));
      expect(gate.tokenScopes).toEqual(['repository:lib/multi:pull']);
      expect(gate.counts()['GET blobs']).toBeGreaterThan(0);
      expect(gate.redirectAuthHeaders).toEqual([]);
      const bad = await regbucket(['--store', tempDir(), 'push', INSECURE, '--src-creds', 'robot:wrong', `docker://${gate.host}/lib/multi:v1`, 'm:v1']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain(`rejected the credentials from --src-creds`);
    });

    it('sync shares one client per registry: one probe, one token per repository', async () => {
      gate.reset();
      const list = join(tempDir(), 'images.txt');
      writeFileSync(list, ['lib/single:v1', 'lib/multi:v1', 'lib/docker:v1', 'lib/single:v1'].map((n, i) => `docker://${gate.host}/${n} copy${i}/${n.split(':')[0]}`).join('\n'));
      const r = await regbucketOk(['--store', tempDir(), '--json', 'sync', '--src-tls-verify=false', '--src-creds', 'robot:tok-secret-1', list]);
      expect(r.json<{ summary: { copied: number } }>().summary.copied).toBe(4);
      expect(gate.counts()['GET ping']).toBe(1);
      expect(gate.tokenScopes.sort()).toEqual(['repository:lib/docker:pull', 'repository:lib/multi:pull', 'repository:lib/single:pull']);
    });

    it('retries 500, 503 and 429 answers and a manifest cut short, and resumes a blob whose connection drops mid-way', async () => {
      gate.reset();
      gate.addFault({ match: 'GET manifests', status: 503, times: 2 });
      gate.addFault({ match: 'GET manifests', dropAfterBytes: 100, times: 1 });
      gate.addFault({ match: 'HEAD blobs', status: 429, times: 1 });
      gate.addFault({ match: 'GET blobs', status: 500, times: 1 });
      gate.addFault({ match: 'GET blobs', dropAfterBytes: 700, times: 1 });
      const store = tempDir();
      const r = await regbucketOk(['--store', store, '--json', 'push', INSECURE, '--src-creds', 'robot:tok-secret-1', `docker://${gate.host}/lib/single:v1`, 's:v1']);
      expect(r.json<{ images: { digest: string }[] }>().images[0]!.digest).toBe(digests.get('lib/single:v1'));
      const served = await serve(store);
      await skopeo(['copy', '--src-tls-verify=false', `docker://${served.host}/s:v1`, `oci:${join(tempDir(), 'o')}:x`]);

      gate.reset();
      gate.addFault({ match: 'GET manifests', status: 500, times: 10 });
      const failed = await regbucket(['--store', tempDir(), '--retries', '1', 'push', INSECURE, '--src-creds', 'robot:tok-secret-1', `docker://${gate.host}/lib/single:v1`, 's:v1']);
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/v2\/lib\/single\/manifests\/v1 answered 500.*after 2 attempts/);
    });
  });
});
