// The listing core behind `ls`: flat listings (memory driver, as S3) and tree listings (a
// directory) give the same answers; with listed ETags, current links are resolved without reads.
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { StorageDriver } from '../../src/drivers/driver.js';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import { MemoryDriver } from '../../src/drivers/memory.js';
import { NotFoundError } from '../../src/errors.js';
import { listAllTags, listRepoTags, listRepositorySummaries, type RepoTags } from '../../src/store/listing.js';
import { tagCurrentLinkPath, tagIndexLinkPath } from '../../src/store/paths.js';
import { ManifestReader } from '../../src/store/summary.js';
import { tagManifest } from '../../src/store/tags.js';
import { tempDir } from '../lab/tools.js';
import { image, index } from '../gc/store-builder.js';
import { S3LikeDriver } from '../lab/s3-like.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function build(d: StorageDriver): Promise<void> {
  const a = await image(d, 'a', { tag: 'one' });
  await tagManifest(d, 'a', 'two', a.manifest.digest);
  const b1 = await image(d, 'a/b');
  const b2 = await image(d, 'a/b');
  await index(d, 'a/b', [b1, b2], 'multi');
  const c = await image(d, 'x/y/c', { tag: 'v1' });
  const c2 = await image(d, 'x/y/c', { tag: 'v2' });
  await tagManifest(d, 'x/y/c', 'v1', c2.manifest.digest); // v1 moved: its current is not its only history entry
  await tagManifest(d, 'x/y/c', 'v2', c.manifest.digest);
  await image(d, 'untagged');
  // not repositories: only uploads; an empty namespace; a name outside the grammar
  await d.putContent('/docker/registry/v2/repositories/up/_uploads/u1/startedat', '2026-01-01T00:00:00Z');
  await d.putContent('/docker/registry/v2/repositories/Bad/_manifests/tags/t/current/link', a.manifest.digest);
  // a tag directory without a current link, one with a malformed link
  await d.putContent(tagIndexLinkPath('a', 'old', a.manifest.digest), a.manifest.digest);
  await d.putContent(tagCurrentLinkPath('a', 'broken'), 'sha256:nope\n');
}

async function copyTo(from: StorageDriver, to: StorageDriver): Promise<void> {
  for await (const f of from.walk('/')) await to.putContent(f.path, await from.getContent(f.path));
}

describe('listing: flat and tree listings agree', () => {
  it('repositories, one repository, every repository', async () => {
    const root = tempDir('regbucket-listing-');
    dirs.push(root);
    const fsd = new FilesystemDriver(root);
    await build(fsd);
    const mem = new S3LikeDriver();
    await copyTo(fsd, mem);
    const plain = new MemoryDriver();
    await copyTo(fsd, plain);

    const repos = await listRepositorySummaries(fsd, 4);
    // 'Bad' is outside the grammar: the registry lists and serves it, so ls shows it too.
    expect(repos).toEqual([
      { name: 'Bad', tagCount: 1 },
      { name: 'a', tagCount: 4 },
      { name: 'a/b', tagCount: 1 },
      { name: 'untagged', tagCount: 0 },
      { name: 'x/y/c', tagCount: 2 },
    ]);
    const all = await listAllTags(fsd, 4);
    const aTags = all.find((r) => r.name === 'a')!.tags;
    expect(aTags.map((t) => [t.tag, Boolean(t.digest), Boolean(t.problem)])).toEqual([
      ['broken', false, true],
      ['old', false, false],
      ['one', true, false],
      ['two', true, false],
    ]);
    // Push times come from each copy's own files (written at different moments): compared apart.
    const untimed = (r: RepoTags): RepoTags => ({ ...r, tags: r.tags.map(({ pushed: _, ...t }) => t) });
    for (const d of [mem, plain]) {
      expect(await listRepositorySummaries(d, 4)).toEqual(repos);
      expect((await listAllTags(d, 4)).map(untimed)).toEqual(all.map(untimed));
      for (const r of all) expect(untimed(await listRepoTags(d, r.name, 4))).toEqual(untimed(r));
    }
    for (const r of all) expect(await listRepoTags(fsd, r.name, 4)).toEqual(r);
    for (const d of [fsd, mem]) {
      await expect(listRepoTags(d, 'up', 4)).rejects.toBeInstanceOf(NotFoundError);
      await expect(listRepoTags(d, 'x/y', 4)).rejects.toBeInstanceOf(NotFoundError);
    }

    // ETags name every readable current link: the only link read is the malformed one.
    mem.reads = [];
    await listAllTags(mem, 4);
    // The malformed link, and the link of the repository outside the grammar (read, not taken from its ETag).
    expect([...mem.reads].sort()).toEqual([tagCurrentLinkPath('a', 'broken'), '/docker/registry/v2/repositories/Bad/_manifests/tags/t/current/link'].sort());
  });

  it('sizes and platforms of an index: distinct blobs across children', async () => {
    const d = new MemoryDriver();
    const shared = Buffer.from('shared layer');
    const i1 = await image(d, 'r', { layers: [shared, Buffer.from('one')] });
    const i2 = await image(d, 'r', { layers: [shared, Buffer.from('two!')] });
    const idx = await index(d, 'r', [i1, i2], 'multi');
    const s = await new ManifestReader(d, 2).summarize(idx.digest);
    const blobs = new Map([...[i1, i2].flatMap((i) => [i.config, ...i.layers])].map((b) => [b.digest, b.size]));
    expect(s).toEqual({ digest: idx.digest, mediaType: idx.mediaType, kind: 'index', platforms: ['linux/amd64', 'linux/arm64'], size: [...blobs.values()].reduce((a, b) => a + b, 0) });
    const one = await new ManifestReader(d, 2).summarize(i1.manifest.digest);
    expect(one.size).toBe(i1.config.size + i1.layers[0]!.size + i1.layers[1]!.size);
    expect(one.platforms).toBeNull();
  });
});
