// Layers named by sha512 digests, as registry 2.8.2 handles them: the data is filed under its
// sha256 digest and the repository links the sha512 digest to it (`_layers/sha512/<hex>/link`
// holding the sha256 digest). regbucket push writes that layout from an OCI layout whose blob is
// `blobs/sha512/<hex>`, the registry serves the image from it, and verify resolves the alias and
// re-hashes the blob with sha512 (a link to other bytes of the same size is caught).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { regbucket } from '../lab/cli.js';
import { startRegistry } from '../lab/registry.js';
import { hash, pushBlob, sha512Image } from '../lab/sha512.js';
import { skopeo, tempDir } from '../lab/tools.js';

const hexOf = (d: string): string => d.slice(d.indexOf(':') + 1);
const V2 = 'docker/registry/v2';

interface Finding {
  kind: string;
  severity: string;
  digest?: string;
  path: string;
  fix?: string;
}

/** An OCI layout with one image whose layer is `blobs/sha512/<hex>` and named by that digest. */
function sha512Layout(dir: string, layer: Buffer, indexDigestAlg = 'sha256'): { manifest: string; l512: string; l256: string } {
  const { config, manifest, l512, l256 } = sha512Image(layer);
  for (const alg of ['sha256', 'sha512']) mkdirSync(join(dir, 'blobs', alg), { recursive: true });
  writeFileSync(join(dir, 'blobs/sha256', hexOf(hash('sha256', config))), config);
  writeFileSync(join(dir, 'blobs/sha512', hexOf(l512)), layer);
  const md = hash(indexDigestAlg, manifest);
  writeFileSync(join(dir, 'blobs', indexDigestAlg, hexOf(md)), manifest);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const ref = { 'org.opencontainers.image.ref.name': 'v1' };
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: ref }] }),
  );
  return { manifest: hash('sha256', manifest), l512, l256 };
}

async function verify(store: string): Promise<{ code: number; findings: Finding[]; stderr: string }> {
  const r = await regbucket(['--store', store, 'verify', '--json']);
  return { code: r.code, findings: (JSON.parse(r.stdout) as { findings: Finding[] }).findings, stderr: r.stderr };
}

describe('sha512 layers (registry 2.8.2 layout)', () => {
  it('push files a sha512 layer as the registry does; the registry serves it; verify re-hashes it', async () => {
    const store = tempDir('regbucket-sha512-store-');
    const layout = tempDir('regbucket-sha512-oci-');
    const layer = Buffer.from(`sha512 layer ${Math.random()}\n`.repeat(200));
    const { manifest, l512, l256 } = sha512Layout(layout, layer);

    const push = await regbucket(['--store', store, 'push', `oci:${layout}:v1`, 's5:v1']);
    expect(push.code, push.stderr).toBe(0);
    const repo = join(store, V2, 'repositories/s5');
    expect(readFileSync(join(store, V2, 'blobs/sha256', hexOf(l256).slice(0, 2), hexOf(l256), 'data')).equals(layer)).toBe(true);
    expect(readFileSync(join(repo, '_layers/sha512', hexOf(l512), 'link'), 'utf8')).toBe(l256);
    expect(readFileSync(join(repo, '_layers/sha256', hexOf(l256), 'link'), 'utf8')).toBe(l256);
    expect(existsSync(join(store, V2, 'blobs/sha512'))).toBe(false);

    // A second push finds the blob through the alias link: nothing uploaded.
    const again = await regbucket(['--store', store, 'push', '--json', `oci:${layout}:v1`, 's5:v1']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/"blobsUploaded":\s*0/);

    const clean = await verify(store);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.findings.filter((f) => f.severity === 'problem')).toEqual([]);

    const reg = await startRegistry({ storage: { filesystem: store } });
    try {
      const blob = await fetch(`http://${reg.host}/v2/s5/blobs/${l512}`);
      expect(blob.status).toBe(200);
      expect(hash('sha512', Buffer.from(await blob.arrayBuffer()))).toBe(l512);
      // The registry answers with the canonical (sha256) digest of what it serves.
      expect(blob.headers.get('docker-content-digest')).toBe(l256);
      const m = await fetch(`http://${reg.host}/v2/s5/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      expect(m.status).toBe(200);
      expect(m.headers.get('docker-content-digest')).toBe(manifest);
      // skopeo 1.9.3 reads the image (the layer fetched by its sha512 digest); its copy into an
      // OCI layout gzips the layer and names it by sha256 in a rewritten manifest.
      expect(JSON.parse((await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/s5:v1`])).toString()).layers[0].digest).toBe(l512);
      const out = join(tempDir('regbucket-sha512-out-'), 'oci');
      await skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/s5:v1`, `oci:${out}:v1`]);
      const copied = JSON.parse(readFileSync(join(out, 'blobs/sha256', hexOf(JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')).manifests[0].digest)), 'utf8'));
      expect(gunzipSync(readFileSync(join(out, 'blobs/sha256', hexOf(copied.layers[0].digest)))).equals(layer)).toBe(true);
    } finally {
      await reg.stop();
    }

    // The alias link names another blob of the same size: sha256 is intact, sha512 is not.
    const other = Buffer.from(layer);
    other[0] = other[0]! ^ 1;
    const o256 = hash('sha256', other);
    mkdirSync(join(store, V2, 'blobs/sha256', hexOf(o256).slice(0, 2), hexOf(o256)), { recursive: true });
    writeFileSync(join(store, V2, 'blobs/sha256', hexOf(o256).slice(0, 2), hexOf(o256), 'data'), other);
    const aliasLink = join(repo, '_layers/sha512', hexOf(l512), 'link');
    writeFileSync(aliasLink, o256);
    const bad = await verify(store);
    expect(bad.code).toBe(3);
    const mismatch = bad.findings.find((f) => f.kind === 'digest-mismatch');
    expect(mismatch?.digest).toBe(l512);
    expect(mismatch?.fix).toContain('push --repair');

    // push --repair re-reads the layer and links the alias to the right blob again.
    const repair = await regbucket(['--store', store, 'push', '--repair', `oci:${layout}:v1`, 's5:v1']);
    expect(repair.code, repair.stderr).toBe(0);
    expect(readFileSync(aliasLink, 'utf8')).toBe(l256);
    expect((await verify(store)).findings.filter((f) => f.severity === 'problem')).toEqual([]);

    // No alias link: the registry answers "blob unknown"; verify says so and what to run.
    rmSync(join(repo, '_layers/sha512'), { recursive: true });
    const unlinked = await verify(store);
    expect(unlinked.code).toBe(3);
    const f = unlinked.findings.find((x) => x.kind === 'unlinked-blob');
    expect(f?.digest).toBe(l512);
    expect(f?.fix).toBe('regbucket push <source> s5:v1');
  }, 180_000);

  it('verify is clean on a layer the registry itself took by its sha512 digest', async () => {
    const store = tempDir('regbucket-sha512-reg-');
    const layout = tempDir('regbucket-sha512-oci-');
    const layer = Buffer.from(`registry sha512 layer ${Math.random()}\n`.repeat(300));
    const { manifest } = sha512Layout(layout, layer);
    const l512 = hash('sha512', layer);
    const reg = await startRegistry({ storage: { filesystem: store } });
    try {
      // Pushed over HTTP by its sha512 digest (skopeo 1.9.3 would push it by sha256).
      for (const name of readdirSync(join(layout, 'blobs/sha256')).filter((n) => n !== hexOf(manifest)))
        await pushBlob(reg.host, 's5', readFileSync(join(layout, 'blobs/sha256', name)), `sha256:${name}`);
      await pushBlob(reg.host, 's5', layer, l512);
      const bytes = readFileSync(join(layout, 'blobs/sha256', hexOf(manifest)));
      const put = await fetch(`http://${reg.host}/v2/s5/manifests/v1`, { method: 'PUT', body: new Uint8Array(bytes), headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
      expect(put.status, await put.text()).toBe(201);
      // A manifest PUT by a sha512 digest is refused: the registry digests manifests with sha256.
      const by512 = await fetch(`http://${reg.host}/v2/s5/manifests/${hash('sha512', bytes)}`, {
        method: 'PUT',
        body: new Uint8Array(bytes),
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(by512.status).toBe(400);
      expect(await by512.text()).toContain('DIGEST_INVALID');
    } finally {
      await reg.stop();
    }
    expect(readFileSync(join(store, V2, 'repositories/s5/_layers/sha512', hexOf(l512), 'link'), 'utf8')).toBe(hash('sha256', layer));
    const v = await verify(store);
    expect(v.code, v.stderr).toBe(0);
    expect(v.findings.filter((x) => x.severity === 'problem')).toEqual([]);
  }, 300_000);

  it('a manifest named by a sha512 digest is refused before anything is written (the registry finds manifests by sha256 only)', async () => {
    const store = tempDir('regbucket-sha512-refuse-');
    const layout = tempDir('regbucket-sha512-oci-');
    sha512Layout(layout, Buffer.from('refused'.repeat(50)), 'sha512');
    const push = await regbucket(['--store', store, 'push', `oci:${layout}:v1`, 's5:v1']);
    expect(push.code).toBe(2);
    expect(push.stderr).toMatch(/^regbucket: error: .*sha512.*sha256/);
    expect(existsSync(join(store, V2, 'repositories/s5'))).toBe(false);
  });

  it('pull of a sha512 layer into an OCI layout is refused before anything is written', async () => {
    const store = tempDir('regbucket-sha512-pull-');
    const layout = tempDir('regbucket-sha512-oci-');
    sha512Layout(layout, Buffer.from('pulled'.repeat(50)));
    expect((await regbucket(['--store', store, 'push', `oci:${layout}:v1`, 's5:v1'])).code).toBe(0);
    const out = join(tempDir('regbucket-sha512-pullout-'), 'oci');
    const pull = await regbucket(['--store', store, 'pull', 's5:v1', `oci:${out}:v1`]);
    expect(pull.code).toBe(2);
    expect(pull.stderr).toMatch(/^regbucket: error: blob sha512:[a-f0-9]{128} is named by a sha512 digest/);
    expect(existsSync(join(out, 'index.json'))).toBe(false);
  });
});
