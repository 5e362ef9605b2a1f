// pull docker://: a store pushed into the real registry (2.8.2) over the Registry API, then read
// back by skopeo digest for digest; requests counted by a gate in front (HEAD before upload,
// chunked uploads, cross-repository mounts, a second run that sends nothing); basic and bearer auth.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { digestOf } from '../lab/images.js';
import { startGate, type RunningGate } from '../lab/registry-gate.js';
import { startRegistry, type RunningRegistry } from '../lab/registry.js';
import { skopeo, skopeoInspectRaw, tempDir } from '../lab/tools.js';
import { HTPASSWD, HTPASSWD_PASSWORD, HTPASSWD_USER, seedSignedImage } from './seed.js';

const INSECURE = '--dest-tls-verify=false';
// Layers of 200 KiB go up in PATCH chunks of 64 KiB; configs and manifests in one PUT.
const CHUNK = ['--dest-chunk-size', String(64 * 1024)];

interface PullJson {
  images: { digest: string; name: string | null }[];
  stats: { blobsUploaded: number; blobsSkipped: number; manifestsWritten: number };
  blobsMounted: number;
}

describe('pull docker:// into the real registry', () => {
  let source: RunningRegistry;
  let store: string;
  let signed: { image: string; signature: string };
  const stops: (() => Promise<void>)[] = [];

  /** skopeo's raw bytes of `ref` in the source registry and in `host`, which must be equal. */
  async function sameBytes(host: string, srcRef: string, destRef: string): Promise<Buffer> {
    const want = await skopeoInspectRaw(`docker://${source.host}/${srcRef}`);
    const got = await skopeoInspectRaw(`docker://${host}/${destRef}`);
    expect(got.equals(want)).toBe(true);
    return got;
  }

  /** Every tag, platform and the signature of the pushed image, read back by skopeo from `host`. */
  async function expectServed(host: string, repo: string): Promise<void> {
    const index = await sameBytes(host, 'lib/app:v1', `${repo}:v1`);
    expect(digestOf(index)).toBe(signed.image);
    for (const m of JSON.parse(index.toString()).manifests as { digest: string }[]) await sameBytes(host, `lib/app@${m.digest}`, `${repo}@${m.digest}`);
    const fallback = `sha256-${signed.image.slice(7)}`;
    await sameBytes(host, `lib/app:${fallback}`, `${repo}:${fallback}`);
    await sameBytes(host, `lib/app@${signed.signature}`, `${repo}@${signed.signature}`);
    // skopeo fetches and checks every blob of every platform.
    await skopeo(['copy', '--all', '--src-tls-verify=false', `docker://${host}/${repo}:v1`, `oci:${join(tempDir(), 'o')}:x`]);
  }

  async function registry(htpasswd?: string): Promise<RunningRegistry> {
    const r = await startRegistry({ storage: { filesystem: tempDir() }, htpasswd });
    stops.push(() => r.stop());
    return r;
  }

  async function gate(target: RunningRegistry, bearer?: { username: string; password: string }): Promise<RunningGate> {
    const g = await startGate({ target: `http://${target.host}`, bearer });
    stops.push(() => g.stop());
    return g;
  }

  beforeAll(async () => {
    source = await registry();
    signed = await seedSignedImage(source.host, 'lib/app', 'v1', { platforms: ['linux/amd64', 'linux/arm64'], layers: 2, layerSize: 200 * 1024 });
    store = tempDir();
    await regbucketOk(['--store', store, 'push', '--src-tls-verify=false', `docker://${source.host}/lib/app:v1`, 'lib/app:v1']);
  });
  afterAll(async () => {
    for (const s of stops.reverse()) await s();
  });

  it('pushes a multi-arch image and its referrer digest for digest; a second run sends no blob; another repository mounts them', async () => {
    const dest = await registry();
    const g = await gate(dest);
    const first = await regbucketOk(['--store', store, '--json', 'pull', INSECURE, ...CHUNK, 'lib/app:v1', `docker://${g.host}/lib/app`]);
    const r = first.json<PullJson>();
    expect(r.images[0]).toMatchObject({ digest: signed.image, name: 'v1' });
    // 2 platforms x (config + 2 layers), and the signature's config and layer.
    expect(r.stats.blobsUploaded).toBe(8);
    const c = g.counts();
    expect(c['HEAD blobs']).toBe(8);
    expect(c['PATCH blobs']).toBeGreaterThanOrEqual(4 * 4);
    expect(c['PUT blobs']).toBe(8);
    await expectServed(dest.host, 'lib/app');

    g.reset();
    const again = (await regbucketOk(['--store', store, '--json', 'pull', INSECURE, 'lib/app:v1', `docker://${g.host}/lib/app`])).json<PullJson>();
    expect(again.stats).toMatchObject({ blobsUploaded: 0, manifestsWritten: 0 });
    const c2 = g.counts();
    expect([c2['POST blobs'], c2['PATCH blobs'], c2['PUT blobs'], c2['PUT manifests']]).toEqual([undefined, undefined, undefined, undefined]);

    // Another repository of the same registry: every blob is mounted from lib/app (the store's name), no byte sent.
    g.reset();
    const team = (await regbucketOk(['--store', store, '--json', 'pull', INSECURE, 'lib/app:v1', `docker://${g.host}/team/app:prod`])).json<PullJson>();
    expect(team.blobsMounted).toBe(8);
    expect(team.images[0]).toMatchObject({ digest: signed.image, name: 'prod' });
    expect([g.counts()['PATCH blobs'], g.counts()['PUT blobs']]).toEqual([undefined, undefined]);
    expect(digestOf(await skopeoInspectRaw(`docker://${dest.host}/team/app:prod`))).toBe(signed.image);
    await skopeo(['copy', '--all', '--src-tls-verify=false', `docker://${dest.host}/team/app:prod`, `oci:${join(tempDir(), 'o')}:x`]);
  });

  it('htpasswd basic auth: --dest-creds and auth files work; wrong credentials give one line without the password', async () => {
    const guarded = await registry(HTPASSWD);
    const home = { HOME: tempDir(), REGISTRY_AUTH_FILE: '', XDG_RUNTIME_DIR: '' };
    const bad = await regbucket(['--store', store, 'pull', INSECURE, '--dest-creds', `${HTPASSWD_USER}:wrong-Secret-77`, 'lib/app:v1', `docker://${guarded.host}/app`], home);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain(`pushing lib/app:v1 to docker://${guarded.host}/app:`);
    expect(bad.stderr).toContain('401');
    expect(bad.stderr).toContain('rejected the credentials from --dest-creds');
    expect(bad.stderr).not.toContain('wrong-Secret-77');
    const none = await regbucket(['--store', store, 'pull', INSECURE, 'lib/app:v1', `docker://${guarded.host}/app`], home);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('needs credentials: pass --dest-creds');

    await regbucketOk(['--store', store, 'pull', INSECURE, '--dest-creds', `${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`, 'lib/app:v1', `docker://${guarded.host}/app`]);
    const authFile = join(tempDir(), 'auth.json');
    writeFileSync(authFile, JSON.stringify({ auths: { [guarded.host]: { auth: Buffer.from(`${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`).toString('base64') } } }));
    const viaFile = await regbucketOk(['--store', store, '--json', 'pull', INSECURE, 'lib/app:v1', `docker://${guarded.host}/app2`], { ...home, REGISTRY_AUTH_FILE: authFile });
    expect(viaFile.json<PullJson>().blobsMounted).toBe(0); // app2's source name is lib/app, which this registry lacks
    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', `${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`, `docker://${guarded.host}/app2:v1`]);
    expect(digestOf(Buffer.from(raw))).toBe(signed.image);
  });

  it('bearer tokens: asks for pull,push on the destination and pushes', async () => {
    const dest = await registry();
    const g = await gate(dest, { username: 'robot', password: 'tok-secret-1' });
    await regbucketOk(['--store', store, 'pull', INSECURE, '--dest-creds', 'robot:tok-secret-1', 'lib/app:v1', `docker://${g.host}/lib/app`]);
    expect(g.tokenScopes).toContain('repository:lib/app:pull,push');
    expect(digestOf(await skopeoInspectRaw(`docker://${dest.host}/lib/app:v1`))).toBe(signed.image);
    const bad = await regbucket(['--store', store, 'pull', INSECURE, '--dest-creds', 'robot:wrong', 'lib/app:v1', `docker://${g.host}/lib/app`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^regbucket: error: pushing lib\/app:v1 to docker:\/\/127\.0\.0\.1:\d+\/lib\/app: token request .* answered 401: .*rejected the credentials from --dest-creds/);
  });
});
