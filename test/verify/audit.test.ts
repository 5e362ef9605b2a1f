// The audit's rules on stores built with the core (memory driver: flat listings, as on S3).
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MemoryDriver } from '../../src/drivers/memory.js';
import { sha256, type Digest } from '../../src/image/digest.js';
import { putBlobContent, uploadBlob } from '../../src/store/blobs.js';
import { putManifest } from '../../src/store/manifests.js';
import * as P from '../../src/store/paths.js';
import { tagManifest } from '../../src/store/tags.js';
import { verifyStore, type VerifyOptions } from '../../src/verify/audit.js';
import { S3LikeDriver as CountingDriver } from '../lab/s3-like.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

async function blob(d: MemoryDriver, repo: string, bytes: Buffer) {
  await uploadBlob(d, repo, { digest: sha256(bytes), size: bytes.length }, async () => Readable.from([bytes]));
  return { digest: sha256(bytes), size: bytes.length };
}

async function image(d: MemoryDriver, repo: string, tag: string | undefined, opts: { layer?: string; subject?: { digest: Digest; size: number }; layerSize?: number } = {}) {
  const config = await blob(d, repo, Buffer.from(`{"os":"linux","architecture":"amd64","n":"${opts.layer ?? tag}"}`));
  const layer = await blob(d, repo, Buffer.from(opts.layer ?? `layer of ${repo}:${tag}`));
  const m = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: opts.layerSize ?? layer.size }],
      ...(opts.subject ? { subject: { mediaType: OCI_MANIFEST, ...opts.subject } } : {}),
    }),
  );
  const { digest } = await putManifest(d, repo, m);
  if (tag) await tagManifest(d, repo, tag, digest);
  return { digest, size: m.length, config, layer };
}

function run(d: MemoryDriver | CountingDriver, extra: Partial<VerifyOptions> = {}) {
  return verifyStore(d, { hash: true, fix: false, concurrency: 4, threads: 2, ...extra });
}

const kinds = (r: { findings: { kind: string }[] }): string[] => r.findings.map((f) => f.kind);

describe('verify rules (flat listings)', () => {
  it('a store written by the core is clean; every blob is hashed', async () => {
    const d = new MemoryDriver();
    await image(d, 'a', 'v1');
    await image(d, 'b/c', 'v2');
    const r = await run(d);
    expect(r.findings).toEqual([]);
    expect(r).toMatchObject({ clean: true, repositories: 2, blobs: 6, manifests: 2, blobsHashed: 6 });
  });

  it('orphan blobs and stray files are warnings, not problems', async () => {
    const d = new MemoryDriver();
    await image(d, 'a', 'v1');
    const orphan = Buffer.from('nobody links me');
    await putBlobContent(d, sha256(orphan), orphan);
    await d.putContent(`${P.repoDir('a')}/_manifests/notes.txt`, 'x');
    const r = await run(d);
    expect(r.clean).toBe(true);
    expect(r.findings.map((f) => [f.kind, f.severity, f.digest ?? f.path])).toEqual([
      ['orphan-blob', 'warning', sha256(orphan)],
      ['stray-path', 'warning', `${P.repoDir('a')}/_manifests/notes.txt`],
    ]);
  });

  it('a descriptor size that differs from the blob is a problem', async () => {
    const d = new MemoryDriver();
    const img = await image(d, 'a', 'v1', { layerSize: 3 });
    const r = await run(d, { hash: false });
    expect(r.clean).toBe(false);
    expect(r.findings).toEqual([expect.objectContaining({ kind: 'size-mismatch', repo: 'a', tag: 'v1', digest: img.layer.digest, manifest: img.digest })]);
  });

  it('a revision that is not a manifest is a bad-manifest problem', async () => {
    const d = new MemoryDriver();
    const img = await image(d, 'a', 'v1');
    await d.putContent(P.revisionLinkPath('a', img.layer.digest), img.layer.digest);
    const r = await run(d);
    expect(r.findings).toEqual([expect.objectContaining({ kind: 'bad-manifest', repo: 'a', digest: img.layer.digest, path: P.blobDataPath(img.layer.digest) })]);
  });

  it('a dangling subject is a warning (OCI lets a referrer arrive before its subject)', async () => {
    const d = new MemoryDriver();
    const ghost = sha256('not here');
    await image(d, 'a', 'sig', { subject: { digest: ghost, size: 10 } });
    const r = await run(d);
    expect(r.clean).toBe(true);
    expect(r.findings).toEqual([expect.objectContaining({ kind: 'dangling-subject', severity: 'warning', digest: ghost })]);
  });

  it('a schema 1 manifest is a legacy warning and its layers are still checked', async () => {
    const d = new MemoryDriver();
    const layer = await blob(d, 'old', Buffer.from('v1 layer'));
    const gone = sha256('gone');
    const m = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'old', tag: 'x', fsLayers: [{ blobSum: layer.digest }, { blobSum: gone }] }));
    await putBlobContent(d, sha256(m), m);
    await d.putContent(P.revisionLinkPath('old', sha256(m)), sha256(m));
    const r = await run(d);
    expect(kinds(r)).toEqual(['missing-blob', 'legacy-manifest']);
    expect(r.findings[0]).toMatchObject({ digest: gone, manifest: sha256(m) });
  });

  it("stale uploads count by startedat, else by the upload's files; fresh ones are left alone", async () => {
    const d = new MemoryDriver();
    await image(d, 'a', 'v1');
    const old = new Date(Date.now() - 8 * 24 * 3600 * 1000);
    await d.putContent(P.uploadStartedAtPath('a', 'old'), old.toISOString());
    await d.putContent(P.uploadDataPath('a', 'nostart'), 'partial');
    d.setModTime(P.uploadDataPath('a', 'nostart'), old);
    await d.putContent(P.uploadStartedAtPath('a', 'new'), new Date().toISOString());
    const r = await run(d, { fix: true });
    expect(r.findings.map((f) => [f.kind, f.path, Boolean(f.repaired)])).toEqual([
      ['stale-upload', P.uploadDir('a', 'nostart'), true],
      ['stale-upload', P.uploadDir('a', 'old'), true],
    ]);
    expect(await d.stat(P.uploadDir('a', 'new'))).toBeTruthy();
    await expect(d.stat(P.uploadDir('a', 'old'))).rejects.toThrow();
  });

  it("--fix keeps a repository's last _layers link even when its blob is gone", async () => {
    const d = new MemoryDriver();
    const ghost = sha256('ghost');
    await d.putContent(P.layerLinkPath('lonely', ghost), ghost);
    const r = await run(d, { fix: true });
    expect(r.findings).toEqual([expect.objectContaining({ kind: 'dangling-layer-link', digest: ghost })]);
    expect(r.findings[0]!.repaired).toBeUndefined();
    expect(r.repairs).toEqual([]);
    expect((await d.getContent(P.layerLinkPath('lonely', ghost))).toString()).toBe(ghost);
  });

  it('a tag current link in uppercase is rewritten to the digest it evidently means', async () => {
    const d = new MemoryDriver();
    const img = await image(d, 'a', 'v1');
    await d.putContent(P.tagCurrentLinkPath('a', 'v1'), `${img.digest.toUpperCase().replace('SHA256', 'sha256')} \n`);
    const r = await run(d, { fix: true });
    expect(r.findings).toEqual([expect.objectContaining({ kind: 'malformed-link', link: 'tag-current', tag: 'v1', digest: img.digest, repaired: expect.any(String) })]);
    expect((await d.getContent(P.tagCurrentLinkPath('a', 'v1'))).toString()).toBe(img.digest);
    expect((await run(d)).findings).toEqual([]);
  });

  it('--fix does not point a tag at a manifest the repository lacks', async () => {
    const d = new MemoryDriver();
    await image(d, 'a', 'v1');
    const other = sha256('other');
    await d.putContent(P.tagCurrentLinkPath('a', 'v1'), `${other}\n`);
    const r = await run(d, { fix: true });
    expect(kinds(r)).toEqual(['malformed-link']);
    expect(r.findings[0]!.repaired).toBeUndefined();
    expect((await d.getContent(P.tagCurrentLinkPath('a', 'v1'))).toString()).toBe(`${other}\n`);
  });

  it('--fix under --no-hash links a blob only after hashing it', async () => {
    const d = new MemoryDriver();
    const img = await image(d, 'a', 'v1');
    await d.delete(P.layerLinkDir('a', img.layer.digest));
    await d.putContent(P.blobDataPath(img.layer.digest), 'x'.repeat(img.layer.size));
    const r = await run(d, { hash: false, fix: true });
    expect(r.findings).toEqual([expect.objectContaining({ kind: 'unlinked-blob', digest: img.layer.digest })]);
    expect(r.findings[0]!.repaired).toBeUndefined();
    await expect(d.stat(P.layerLinkPath('a', img.layer.digest))).rejects.toThrow();
  });
});

describe('link content from listings', () => {
  it('a link whose ETag is the MD5 of its expected content is not read; one that differs is', async () => {
    const d = new CountingDriver();
    const img = await image(d, 'a', 'v1');
    await d.putContent(P.layerLinkPath('a', img.config.digest), `${img.config.digest}\n`);
    d.reads = [];
    const r = await run(d, { hash: false });
    const linkReads = d.reads.filter((p) => p.endsWith('/link'));
    expect(linkReads.sort()).toEqual([P.layerLinkPath('a', img.config.digest), P.tagCurrentLinkPath('a', 'v1')]);
    expect(r.findings).toEqual([expect.objectContaining({ kind: 'malformed-link', digest: img.config.digest })]);
  });
});
