// Live registries as destinations of sync entries and of an air-gap bundle (push <bundle>
// docker://host[/prefix/]), against the real registry 2.8.2 (htpasswd, and a bearer gate that
// counts requests): a whole store, several repositories, a multi-arch index and a referrer,
// pushed into an empty registry and read back by skopeo digest for digest; a second run writes
// nothing; uploads cut mid-body and a 5xx on a manifest PUT are retried.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { digestOf } from '../lab/images.js';
import { startGate, type RunningGate } from '../lab/registry-gate.js';
import { startRegistry, type RunningRegistry } from '../lab/registry.js';
import { skopeo, tempDir } from '../lab/tools.js';
import { HTPASSWD, HTPASSWD_PASSWORD, HTPASSWD_USER, seedRegistry, seedSignedImage } from './seed.js';

const INSECURE = '--dest-tls-verify=false';
const CREDS = `${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`;
const BEARER = { username: 'robot', password: 'tok-secret-2' };
const IMAGES = ['lib/app:v1', 'lib/base:1', 'team/tool:2.0'];
/** No store: a command that needed one would fail. */
const NO_STORE = { REGBUCKET_STORE: '' };

interface SyncJson {
  images: { destination: string; status: string; digest?: string; bytesMoved: number }[];
  summary: { images: number; copied: number; unchanged: number; failed: number; bytesMoved: number };
}
interface PushJson {
  images: { repo: string; tag: string; digest: string }[];
  stats: { blobsUploaded: number; manifestsWritten: number };
}

describe('live registries as destinations: sync entries and air-gap bundles', () => {
  let source: RunningRegistry;
  let store: string;
  let bundle: string;
  let signed: { image: string; signature: string };
  const stops: (() => Promise<void>)[] = [];

  async function raw(ref: string, creds?: string): Promise<Buffer> {
    return Buffer.from(await skopeo(['inspect', '--raw', '--tls-verify=false', ...(creds ? ['--creds', creds] : []), ref]), 'utf8');
  }

  /** Every image (each platform, the referrer and its fallback tag) in `host` below `prefix`, byte for byte as in the source; skopeo copies each whole. */
  async function expectServed(host: string, prefix = '', creds?: string, fromBundle = false): Promise<void> {
    for (const name of IMAGES) {
      const want = await raw(`docker://${source.host}/${name}`);
      const got = await raw(`docker://${host}/${prefix}${name}`, creds);
      expect(got.equals(want), name).toBe(true);
      await skopeo(['copy', '--all', '--src-tls-verify=false', ...(creds ? ['--src-creds', creds] : []), `docker://${host}/${prefix}${name}`, `oci:${join(tempDir(), 'o')}:x`]);
    }
    const index = JSON.parse((await raw(`docker://${host}/${prefix}lib/app:v1`, creds)).toString()) as { manifests: { digest: string }[] };
    for (const m of index.manifests) expect(digestOf(await raw(`docker://${host}/${prefix}lib/app@${m.digest}`, creds))).toBe(m.digest);
    expect(digestOf(await raw(`docker://${host}/${prefix}lib/app@${signed.signature}`, creds))).toBe(signed.signature);
    const fallback = await raw(`docker://${host}/${prefix}lib/app:sha256-${signed.image.slice(7)}`, creds);
    // A store had the source's fallback tag and sends its bytes; a bundle has no such tag: the sink writes one listing the referrer.
    if (fromBundle) expect((JSON.parse(fallback.toString()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest)).toEqual([signed.signature]);
    else expect(fallback.equals(await raw(`docker://${source.host}/lib/app:sha256-${signed.image.slice(7)}`))).toBe(true);
  }

  async function registry(htpasswd?: string): Promise<RunningRegistry> {
    const r = await startRegistry({ storage: { filesystem: tempDir() }, htpasswd });
    stops.push(() => r.stop());
    return r;
  }

  async function gate(target: RunningRegistry, bearer?: typeof BEARER): Promise<RunningGate> {
    const g = await startGate({ target: `http://${target.host}`, bearer });
    stops.push(() => g.stop());
    return g;
  }

  /** Requests that write: none on a second run. */
  function writes(g: RunningGate): Record<string, number> {
    return Object.fromEntries(Object.entries(g.counts()).filter(([k]) => /^(POST|PUT|PATCH) /.test(k)));
  }

  function syncList(host: string): string {
    const file = join(tempDir(), 'to-registry.yaml');
    writeFileSync(file, `images:\n${IMAGES.map((n) => `  - source: ${n}\n    destination: docker://${host}/${n}\n`).join('')}`);
    return file;
  }

  beforeAll(async () => {
    source = await registry();
    signed = await seedSignedImage(source.host, 'lib/app', 'v1', { platforms: ['linux/amd64', 'linux/arm64'], layers: 2, layerSize: 100 * 1024 });
    await seedRegistry(source.host, { 'lib/base:1': { layers: 2, layerSize: 100 * 1024 }, 'team/tool:2.0': { layers: 1, docker: true } });
    store = tempDir();
    const into = join(tempDir(), 'into-store.txt');
    writeFileSync(into, IMAGES.map((n) => `docker://${source.host}/${n} ${n}\n`).join(''));
    await regbucketOk(['--store', store, 'sync', '--src-tls-verify=false', into]);
    bundle = join(tempDir(), 'bundle.tar');
    await regbucketOk(['--store', store, 'pull', ...IMAGES, `oci-archive:${bundle}`]);
  });
  afterAll(async () => {
    for (const s of stops.reverse()) await s();
  });

  it('sync: a whole store into an empty registry with htpasswd, digest for digest; a second run moves nothing; one tag for two images is refused first', async () => {
    const dest = await registry(HTPASSWD);
    const clash = join(tempDir(), 'clash.txt');
    writeFileSync(clash, `lib/base:1 docker://${dest.host}/x:1\nteam/tool:2.0 docker://${dest.host}/x:1\n`);
    const refused = await regbucket(['--store', store, 'sync', INSECURE, '--dest-creds', CREDS, clash]);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr.trim()).toBe(`regbucket: error: ${clash}:2: destination docker://${dest.host}/x:1 is also the destination of ${clash}:1: give each image its own`);
    const catalog = await fetch(`http://${dest.host}/v2/_catalog`, { headers: { authorization: `Basic ${Buffer.from(CREDS).toString('base64')}` } });
    expect(await catalog.json()).toEqual({ repositories: [] });

    const list = syncList(dest.host);
    const first = (await regbucketOk(['--store', store, '--json', 'sync', INSECURE, '--dest-creds', CREDS, list])).json<SyncJson>();
    expect(first.summary).toMatchObject({ images: 3, copied: 3, failed: 0 });
    expect(first.images[0]).toMatchObject({ destination: `docker://${dest.host}/lib/app:v1`, digest: signed.image });
    await expectServed(dest.host, '', CREDS);
    const again = (await regbucketOk(['--store', store, '--json', 'sync', INSECURE, '--dest-creds', CREDS, list])).json<SyncJson>();
    expect(again.summary).toMatchObject({ images: 3, copied: 0, unchanged: 3, bytesMoved: 0 });
  });

  it('sync behind a bearer gate: the second run sends no POST, PUT or PATCH', async () => {
    const dest = await registry();
    const g = await gate(dest, BEARER);
    const list = syncList(g.host);
    const creds = `${BEARER.username}:${BEARER.password}`;
    await regbucketOk(['--store', store, 'sync', INSECURE, '--dest-creds', creds, list]);
    expect(g.tokenScopes.some((s) => s.includes('repository:team/tool:pull,push'))).toBe(true);
    await expectServed(dest.host);
    g.reset();
    const again = (await regbucketOk(['--store', store, '--json', 'sync', INSECURE, '--dest-creds', creds, list])).json<SyncJson>();
    expect(again.summary.unchanged).toBe(3);
    expect(writes(g)).toEqual({});
  });

  it("push <bundle> docker://host/prefix/: the air gap's other end without a store; a second run writes nothing", async () => {
    const dest = await registry();
    const g = await gate(dest, BEARER);
    const args = ['--json', 'push', INSECURE, '--dest-creds', `${BEARER.username}:${BEARER.password}`, `oci-archive:${bundle}`];
    const first = (await regbucketOk([...args, `docker://${g.host}/mirror/`], NO_STORE)).json<PushJson>();
    expect(first.images.map((i) => `${i.repo}:${i.tag}`).sort()).toEqual(IMAGES.map((n) => `mirror/${n}`).sort());
    await expectServed(dest.host, 'mirror/', undefined, true);
    g.reset();
    const again = (await regbucketOk([...args, `docker://${g.host}/mirror/`], NO_STORE)).json<PushJson>();
    expect(again.stats).toMatchObject({ blobsUploaded: 0, manifestsWritten: 0 });
    expect(writes(g)).toEqual({});
    // Into the bundle's own names, in a sync entry too.
    const list = join(tempDir(), 'bundle.txt');
    writeFileSync(list, `oci-archive:${bundle} docker://${g.host}\n`);
    await regbucketOk(['sync', INSECURE, '--dest-creds', `${BEARER.username}:${BEARER.password}`, list], NO_STORE);
    await expectServed(dest.host, '', undefined, true);
  });

  it('uploads cut mid-body start over in a new session; a 5xx on a manifest PUT is retried; digests arrive right', async () => {
    const whole = await registry();
    const g = await gate(whole);
    g.addFault({ match: 'PUT blobs', cutRequestAfterBytes: 100, times: 2 });
    g.addFault({ match: 'PUT manifests', status: 500, times: 1 });
    const r = (await regbucketOk(['--json', '--concurrency', '1', 'push', INSECURE, `oci-archive:${bundle}`, `docker://${g.host}`], NO_STORE)).json<PushJson>();
    expect(g.counts()['POST blobs']).toBeGreaterThan(r.stats.blobsUploaded);
    await expectServed(whole.host, '', undefined, true);

    const chunked = await registry();
    const c = await gate(chunked);
    c.addFault({ match: 'PATCH blobs', cutRequestAfterBytes: 1000, times: 1 });
    const r2 = (await regbucketOk(['--json', 'push', INSECURE, '--dest-chunk-size', String(32 * 1024), `oci-archive:${bundle}`, `docker://${c.host}`], NO_STORE)).json<PushJson>();
    expect(c.counts()['POST blobs']).toBe(r2.stats.blobsUploaded + 1);
    await expectServed(chunked.host, '', undefined, true);
  });
});
