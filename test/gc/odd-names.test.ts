// Repository and tag directories whose names are outside regbucket's grammar. The registry's gc
// walks every directory holding `_layers` and marks from it when its own (wider) parser takes
// the name (`MyOrg/app`), aborts otherwise; it counts every directory under tags/ as a tag.
// regbucket marks from all of them and deletes nothing in them; a name no storage path can
// hold stops every blob deletion. Checked against registry 2.8.2's garbage-collect on copies.
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryDriver } from '../../src/drivers/memory.js';
import { MediaType } from '../../src/image/mediatypes.js';
import { runGc } from '../../src/gc/run.js';
import { regbucket } from '../lab/cli.js';
import { tempDir } from '../lab/tools.js';
import { blobsIn, copyStore, linkLayer, linkRevision, regbucketGc, registryGc, strayFile, tag, V2, writeBlob } from './raw-store.js';

/** An image in `repo`, tagged `t` when given; returns its blob digests (manifest first). */
function rawImage(root: string, repo: string, t?: string): string[] {
  const n = Math.random();
  const config = Buffer.from(`{"n":${n}}`);
  const layer = Buffer.from(`layer ${n}`);
  const c = writeBlob(root, config);
  const l = writeBlob(root, layer);
  linkLayer(root, repo, c);
  linkLayer(root, repo, l);
  const m = writeBlob(
    root,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, size: config.length, digest: c },
      layers: [{ mediaType: MediaType.ociLayerGzip, size: layer.length, digest: l }],
    }),
  );
  linkRevision(root, repo, m);
  if (t) tag(root, repo, t, m);
  return [m, c, l];
}

function newStore(): string {
  const root = join(tempDir('regbucket-odd-'), 'store');
  mkdirSync(root, { recursive: true });
  return root;
}

/** The same files in a flat-listing (S3-like) store. */
async function inMemory(root: string): Promise<MemoryDriver> {
  const d = new MemoryDriver();
  const walk = async (rel: string): Promise<void> => {
    const full = join(root, rel);
    if (statSync(full).isDirectory()) for (const c of readdirSync(full)) await walk(`${rel}/${c}`);
    else await d.putContent(rel, readFileSync(full));
  };
  await walk(`/${V2}`);
  return d;
}

const gcOpts = { dryRun: false, minAgeMs: 0, uploadsOlderThanMs: 7 * 24 * 3_600_000, concurrency: 4, now: Date.now() + 60_000 };

describe('repository names outside the grammar', () => {
  it('a name the registry takes (MyOrg/app) is marked from, by tree and flat listings, and kept whole', async () => {
    const root = newStore();
    const odd = rawImage(root, 'MyOrg/app', 'v1');
    const untaggedOdd = rawImage(root, 'MyOrg/app');
    const normal = rawImage(root, 'team/app', 'v1');
    const orphan = writeBlob(root, 'an orphan');
    for (const untagged of [false, true]) {
      const flags = untagged ? ['--delete-untagged'] : [];
      const reg = await registryGc(copyStore(root), flags);
      expect(reg.aborted, reg.output).toBe(false);
      expect(reg.output).toContain('MyOrg/app: marking manifest');
      const rb = await regbucketGc(copyStore(root), untagged);
      for (const d of rb.deleted) expect(reg.deleted.has(d), `regbucket deleted ${d}`).toBe(true);
      for (const d of [...odd, ...untaggedOdd, ...normal]) expect(rb.deleted.has(d)).toBe(false);
      expect(rb.deleted.has(orphan)).toBe(true);
      expect(rb.report.warnings).toContainEqual(expect.objectContaining({ kind: 'repository-outside-grammar', repo: '"MyOrg/app"' }));
      const flat = await inMemory(root);
      await runGc(flat, { ...gcOpts, deleteUntagged: untagged });
      for (const d of [...odd, ...untaggedOdd, ...normal])
        expect(
          await flat.stat(`/${V2}/blobs/sha256/${d.slice(7, 9)}/${d.slice(7)}/data`).then(
            () => true,
            () => false,
          ),
          `flat listing kept ${d}`,
        ).toBe(true);
    }
    const ls = await regbucket(['--store', root, 'ls']);
    expect(ls.stdout).toContain('MyOrg/app');
    const verify = await regbucket(['--store', root, '--json', 'verify', '--no-hash']);
    expect(verify.stdout).toContain('repository-outside-grammar');
  });

  it('a name the registry refuses (its gc aborts) is marked from; regbucket deletes only the orphan', async () => {
    const root = newStore();
    const odd = rawImage(root, 'Upper..Case', 'v1');
    const orphan = writeBlob(root, 'an orphan');
    const reg = await registryGc(copyStore(root));
    expect(reg.aborted, reg.output).toBe(true);
    const rb = await regbucketGc(copyStore(root), true);
    expect([...rb.deleted]).toEqual([orphan]);
    expect(odd.every((d) => blobsIn(root).has(d))).toBe(true);
    const verify = await regbucket(['--store', root, '--json', 'verify', '--no-hash']);
    expect(verify.code).toBe(3);
    expect(verify.stdout).toContain('repository-name');
  });

  it('a directory name no storage path can hold stops every blob deletion, is shown escaped by ls and reported by verify', async () => {
    const root = newStore();
    rawImage(root, 'bad name\u001b]0;x', 'v1');
    rawImage(root, 'team/app', 'v1');
    const orphan = writeBlob(root, 'an orphan');
    const reg = await registryGc(copyStore(root));
    expect(reg.aborted, reg.output).toBe(true);
    const rb = await regbucketGc(copyStore(root), true);
    expect(rb.deleted.size).toBe(0);
    expect(rb.report.warnings).toContainEqual(expect.objectContaining({ kind: 'unaddressable-repository' }));
    expect(blobsIn(root).has(orphan)).toBe(true);
    const ls = await regbucket(['--store', root, 'ls']);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain('bad name\\u001b]0;x');
    expect(ls.stdout).not.toContain('\u001b');
    const verify = await regbucket(['--store', root, '--json', 'verify', '--no-hash']);
    expect(verify.code).toBe(3);
    expect(verify.stdout).toContain('unaddressable-repository');
  });

  it('a tag directory outside the tag grammar is a tag: its manifest survives --delete-untagged as with the registry', async () => {
    const root = newStore();
    const img = rawImage(root, 'team/app', '.hidden');
    rawImage(root, 'team/app', 'v1');
    strayFile(root, 'repositories/team/app/_manifests/tags/x'.concat('y'.repeat(200), '/current/link'), img[0]);
    const reg = await registryGc(copyStore(root), ['--delete-untagged']);
    expect(reg.aborted, reg.output).toBe(false);
    for (const d of img) expect(reg.deleted.has(d)).toBe(false);
    const rb = await regbucketGc(copyStore(root), true);
    for (const d of rb.deleted) expect(reg.deleted.has(d)).toBe(true);
    for (const d of img) expect(rb.deleted.has(d)).toBe(false);
  });
});
