import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MemoryDriver } from '../../src/drivers/memory.js';
import { DigestMismatchError, NotFoundError, ReferenceUnknownError, SizeMismatchError } from '../../src/errors.js';
import { sha256 } from '../../src/image/digest.js';
import { blobExists, uploadBlob } from '../../src/store/blobs.js';
import { deleteManifest, getManifest, putManifest } from '../../src/store/manifests.js';
import { parseRepoName, parseTag } from '../../src/image/reference.js';
import * as P from '../../src/store/paths.js';
import { listTags, resolveTag, tagManifest, untag } from '../../src/store/tags.js';
import { listRepositories, listRevisions } from '../../src/store/walk.js';

async function files(d: MemoryDriver): Promise<string[]> {
  const out: string[] = [];
  for await (const f of d.walk('/')) out.push(f.path);
  return out.sort();
}

function desc(bytes: Buffer) {
  return { digest: sha256(bytes), size: bytes.length };
}

async function pushImage(d: MemoryDriver, repo: string, layer = Buffer.from('layer-bytes')) {
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  for (const b of [config, layer]) await uploadBlob(d, repo, desc(b), async () => Readable.from([b]));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...desc(config) },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...desc(layer) }],
    }),
  );
  const r = await putManifest(d, repo, manifest);
  return { digest: r.digest, manifest, layer, config };
}

describe('blob upload', () => {
  it('moves verified bytes into blobs/, links them, and removes the upload dir', async () => {
    const d = new MemoryDriver();
    const data = Buffer.from('hello');
    const r = await uploadBlob(d, 'library/x', desc(data), async () => Readable.from([data]));
    expect(r).toEqual({ uploaded: true, bytes: 5 });
    expect(await files(d)).toEqual([P.blobDataPath(sha256(data)), P.layerLinkPath('library/x', sha256(data))]);
    expect((await d.getContent(P.layerLinkPath('library/x', sha256(data)))).toString()).toBe(sha256(data));
  });

  it('links an existing blob into another repo without reading the source', async () => {
    const d = new MemoryDriver();
    const data = Buffer.from('shared');
    await uploadBlob(d, 'a', desc(data), async () => Readable.from([data]));
    const r = await uploadBlob(d, 'b', desc(data), async () => {
      throw new Error('source must not be opened');
    });
    expect(r.uploaded).toBe(false);
    expect(await d.stat(P.layerLinkPath('b', sha256(data)))).toBeTruthy();
  });

  it('leaves nothing at a final path when the bytes do not match the digest', async () => {
    const d = new MemoryDriver();
    const claimed = Buffer.from('good');
    const actual = Buffer.from('evil');
    await expect(uploadBlob(d, 'r', desc(claimed), async () => Readable.from([actual]))).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await files(d)).toEqual([]);
    expect(await blobExists(d, sha256(claimed))).toBe(false);
  });

  it('stops a source that runs past its declared size', async () => {
    const d = new MemoryDriver();
    const data = Buffer.from('0123456789');
    await expect(uploadBlob(d, 'r', { digest: sha256(data), size: 4 }, async () => Readable.from([data]))).rejects.toBeInstanceOf(SizeMismatchError);
    expect(await files(d)).toEqual([]);
  });
});

describe('manifests and tags', () => {
  it('refuses a manifest whose blobs the repo does not have', async () => {
    const d = new MemoryDriver();
    const { manifest } = await pushImage(d, 'a');
    await expect(putManifest(d, 'other', manifest)).rejects.toBeInstanceOf(ReferenceUnknownError);
    expect(await listRevisions(d, 'other')).toEqual([]);
  });

  it('refuses an index whose children are not revisions of the repo', async () => {
    const d = new MemoryDriver();
    const { digest, manifest } = await pushImage(d, 'a');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: manifest.length }],
      }),
    );
    await expect(putManifest(d, 'b', index)).rejects.toBeInstanceOf(ReferenceUnknownError);
    const r = await putManifest(d, 'a', index);
    expect(r.manifest.kind).toBe('index');
  });

  it('tags write the index entry and the current link; re-tagging writes nothing', async () => {
    const d = new MemoryDriver();
    const { digest } = await pushImage(d, 'a');
    expect(await tagManifest(d, 'a', 'v1', digest)).toBe(2);
    expect(await tagManifest(d, 'a', 'v1', digest)).toBe(0);
    expect(await resolveTag(d, 'a', 'v1')).toBe(digest);
    expect((await d.getContent(P.tagIndexLinkPath('a', 'v1', digest))).toString()).toBe(digest);
    expect(await listTags(d, 'a')).toEqual(['v1']);
  });

  it('reusing an old blob refreshes its time (a gc checking ages keeps it); a young one is left alone', async () => {
    const d = new MemoryDriver();
    const layer = Buffer.from('shared layer');
    await uploadBlob(d, 'a', desc(layer), async () => Readable.from([layer]));
    const path = P.blobDataPath(desc(layer).digest);
    const young = (await d.stat(path)).modTime;
    await uploadBlob(d, 'b', desc(layer), async () => Readable.from([layer]));
    expect((await d.stat(path)).modTime).toEqual(young);
    d.setModTime(path, new Date(Date.now() - 2 * 3_600_000));
    const r = await uploadBlob(d, 'c', desc(layer), async () => {
      throw new Error('an existing blob is not read again');
    });
    expect(r.uploaded).toBe(false);
    expect(Date.now() - (await d.stat(path)).modTime.getTime()).toBeLessThan(60_000);
  });

  it('a tag write cut short after its first link leaves every listed tag resolving', async () => {
    const d = new MemoryDriver();
    const one = await pushImage(d, 'a', Buffer.from('one'));
    const two = await pushImage(d, 'a', Buffer.from('two'));
    // The process dies (here: the store fails) after the first of the tag's two links.
    const cut = (): MemoryDriver => {
      let writes = 0;
      return new Proxy(d, {
        get(target, prop) {
          const v = Reflect.get(target, prop) as unknown;
          if (prop === 'putContent') return async (...a: [string, Buffer | string]) => (++writes > 1 ? Promise.reject(new Error('killed')) : target.putContent(...a));
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    };
    // A new tag: `current` first, so the listed tag resolves (its history entry is what is missing).
    await expect(tagManifest(cut(), 'a', 'new', one.digest)).rejects.toThrow('killed');
    expect(await listTags(d, 'a')).toEqual(['new']);
    expect(await resolveTag(d, 'a', 'new')).toBe(one.digest);
    // A tag moving to another manifest: history first, so the tag still names its old manifest.
    await expect(tagManifest(cut(), 'a', 'new', two.digest)).rejects.toThrow('killed');
    expect(await resolveTag(d, 'a', 'new')).toBe(one.digest);
    // Tagging again completes both.
    expect(await tagManifest(d, 'a', 'new', one.digest)).toBe(1);
    expect(await tagManifest(d, 'a', 'new', two.digest)).toBe(1);
    expect(await resolveTag(d, 'a', 'new')).toBe(two.digest);
  });

  it('delete by digest removes the revision and the tags that point at it, nothing else', async () => {
    const d = new MemoryDriver();
    const one = await pushImage(d, 'a', Buffer.from('one'));
    const two = await pushImage(d, 'a', Buffer.from('two'));
    await tagManifest(d, 'a', 'x', one.digest);
    await tagManifest(d, 'a', 'y', one.digest);
    await tagManifest(d, 'a', 'z', two.digest);
    const before = await files(d);
    const r = await deleteManifest(d, 'a', one.digest);
    expect(r.untagged).toEqual(['x', 'y']);
    expect(await listTags(d, 'a')).toEqual(['z']);
    expect(await listRevisions(d, 'a')).toEqual([two.digest]);
    const after = await files(d);
    const removed = before.filter((f) => !after.includes(f));
    expect(removed.sort()).toEqual(
      [P.revisionLinkPath('a', one.digest), P.tagCurrentLinkPath('a', 'x'), P.tagIndexLinkPath('a', 'x', one.digest), P.tagCurrentLinkPath('a', 'y'), P.tagIndexLinkPath('a', 'y', one.digest)].sort(),
    );
    await expect(getManifest(d, 'a', one.digest)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('untag removes the whole tag directory and keeps the manifest', async () => {
    const d = new MemoryDriver();
    const { digest } = await pushImage(d, 'a');
    await tagManifest(d, 'a', 'v1', digest);
    await tagManifest(d, 'a', 'v1-b', digest);
    await untag(d, 'a', 'v1');
    expect(await listTags(d, 'a')).toEqual(['v1-b']);
    expect(await listRevisions(d, 'a')).toEqual([digest]);
    await expect(untag(d, 'a', 'v1')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('lists nested repositories', async () => {
    const d = new MemoryDriver();
    await pushImage(d, 'a');
    await pushImage(d, 'a/b');
    await pushImage(d, 'team/app/api');
    expect(await listRepositories(d)).toEqual(['a', 'a/b', 'team/app/api']);
  });
});

describe('paths', () => {
  // Path builders accept two kinds of name: grammar-valid names (what users type, checked by the
  // reference parser before any command reaches the store) and names read back from a store's own
  // directory listings (any addressable component: the registry lists and marks from those too).
  // Nothing else reaches a path.
  const bad = ['../x', '/abs', 'a//b', 'a/', '', 'a/../b', 'x\0y', 'a b', '_layers', 'a/_manifests'];
  it.each(bad)('rejects repository name %j before building a path', (name) => {
    expect(() => P.repoDir(name)).toThrow(/repository name/);
  });

  it('user input outside the grammar is refused by the parser, stored names still address their directory', () => {
    expect(() => parseRepoName('A/B')).toThrow(/invalid repository name/);
    expect(() => parseRepoName('a'.repeat(256))).toThrow(/255 at most/);
    expect(() => parseTag('.hidden')).toThrow(/invalid tag/);
    expect(P.repoDir('A/B')).toBe('/docker/registry/v2/repositories/A/B');
    expect(P.tagDir('a', '.hidden')).toBe('/docker/registry/v2/repositories/a/_manifests/tags/.hidden');
  });

  it('rejects bad tags and digests', () => {
    expect(() => P.tagDir('a', 'x/y')).toThrow(/invalid tag/);
    expect(() => P.tagDir('a', '')).toThrow(/invalid tag/);
    expect(() => P.blobDataPath('sha256:abc')).toThrow(/not a digest/);
    expect(() => P.blobDataPath(`sha256:${'A'.repeat(64)}`)).toThrow(/not a digest/);
  });

  it('builds the registry layout', () => {
    const h = 'ab'.repeat(32);
    expect(P.blobDataPath(`sha256:${h}`)).toBe(`/docker/registry/v2/blobs/sha256/ab/${h}/data`);
    expect(P.tagCurrentLinkPath('library/nginx', 'latest')).toBe('/docker/registry/v2/repositories/library/nginx/_manifests/tags/latest/current/link');
  });
});
