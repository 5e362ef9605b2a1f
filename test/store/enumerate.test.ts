// The path parser (the inverse of the path builders) and the one enumerator. The parser is
// checked by family: every builder's output parses back to what built it, and every level of the
// layout with a wrong name, an extra component or a missing one is a stray that still names the
// repository, tag or upload it sits in. The enumerator must report the same layout on a tree walk
// (filesystem) and a flat walk (S3's shape), whole or split into parallel prefixes, each entry once.
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { StorageDriver } from '../../src/drivers/driver.js';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import { enumerateStore, uploadAges, type StoreEntry } from '../../src/store/enumerate.js';
import * as P from '../../src/store/paths.js';
import { tempDir } from '../lab/tools.js';
import { S3LikeDriver } from '../lab/s3-like.js';

const H1 = 'a'.repeat(64);
const H2 = `b${'c'.repeat(63)}`;
const D1 = `sha256:${H1}` as const;
const D2 = `sha256:${H2}` as const;
const R = P.REPOSITORIES;

describe('parseStorePath', () => {
  it('inverts every path builder', () => {
    const cases: [string, object][] = [
      [P.blobDataPath(D1), { kind: 'blob-data', digest: D1 }],
      [P.layerLinkPath('team/app', D1), { kind: 'layer-link', repo: 'team/app', area: '_layers', digest: D1 }],
      [P.revisionLinkPath('a', D2), { kind: 'revision-link', repo: 'a', area: '_manifests', digest: D2 }],
      [P.tagCurrentLinkPath('a/b/c', 'v1.0'), { kind: 'tag-current', repo: 'a/b/c', area: '_manifests', tag: 'v1.0' }],
      [P.tagIndexLinkPath('a', 'latest', D1), { kind: 'tag-index', repo: 'a', area: '_manifests', tag: 'latest', digest: D1 }],
      [P.uploadDataPath('a', 'u-1'), { kind: 'upload-file', repo: 'a', area: '_uploads', upload: 'u-1', file: 'data' }],
      [P.uploadStartedAtPath('a', 'u-1'), { kind: 'upload-file', repo: 'a', area: '_uploads', upload: 'u-1', file: 'startedat' }],
      [`${P.uploadDir('a', 'u-1')}/hashstates/sha256/1024`, { kind: 'upload-file', repo: 'a', area: '_uploads', upload: 'u-1', file: 'hashstate' }],
      [P.uploadDir('a', 'u-1'), { kind: 'upload-dir', repo: 'a', area: '_uploads', upload: 'u-1' }],
      [P.repoAreaDir('a', '_layers'), { kind: 'area', repo: 'a', area: '_layers' }],
      [`${P.revisionDir('a', D1)}/signatures/sha256/${H2}/link`, { kind: 'revision-signature', repo: 'a', area: '_manifests', digest: D1 }],
    ];
    for (const [path, want] of cases) expect(P.parseStorePath(path), path).toEqual({ path, ...want });
  });

  it('calls everything else a stray, naming the repository, tag or upload it is in', () => {
    const cases: [string, object][] = [
      [`${P.BLOBS}/bb/${H1}/data`, {}], // wrong shard
      [`${P.BLOBS}/aa/${'a'.repeat(63)}/data`, {}],
      [`${P.blobDir(D1)}/data/x`, {}],
      [`${P.blobDir(D1)}/other`, {}],
      [`${P.ROOT}/elsewhere`, {}],
      [`${R}/a/junk`, {}],
      [`${R}/a/_other/x`, { repo: 'a' }],
      [`${P.layersDir('a')}/${H1}/link/x`, { repo: 'a', area: '_layers' }],
      [`${P.layersDir('a')}/${H1.toUpperCase()}/link`, { repo: 'a', area: '_layers' }],
      [`${P.layersDir('a')}/${H1}/data`, { repo: 'a', area: '_layers' }],
      [`${P.revisionsDir('a')}/${H1}`, { repo: 'a', area: '_manifests' }],
      [P.tagsDir('a'), { repo: 'a', area: '_manifests' }],
      [`${P.tagsDir('a')}/bad tag/current/link`, { repo: 'a', area: '_manifests', tag: 'bad tag' }], // kept for the gc to refuse
      [`${P.tagDir('a', 'v1')}/current/other`, { repo: 'a', area: '_manifests', tag: 'v1' }],
      [`${P.tagIndexDir('a', 'v1')}/${H1}`, { repo: 'a', area: '_manifests', tag: 'v1' }],
      [`${P.uploadsDir('a')}/bad.id/data`, { repo: 'a', area: '_uploads' }],
      [`${P.uploadDir('a', 'u')}/other`, { repo: 'a', area: '_uploads', upload: 'u' }],
      [`${P.uploadDir('a', 'u')}/hashstates/sha256/x`, { repo: 'a', area: '_uploads', upload: 'u' }],
    ];
    for (const [path, want] of cases) expect(P.parseStorePath(path), path).toEqual({ kind: 'stray', path, ...want });
    // A repository name no storage path can hold: nothing in it is read; one outside the grammar but storable is a repository.
    expect(P.parseStorePath(`${R}/bad name/_layers/sha256/${H1}/link`)).toEqual({
      kind: 'stray',
      path: `${R}/bad name/_layers/sha256/${H1}/link`,
      repo: 'bad name',
      area: '_layers',
      unaddressable: true,
    });
    expect(P.parseStorePath(`${R}/MyOrg/app/_layers/sha256/${H1}/link`)).toMatchObject({ kind: 'layer-link', repo: 'MyOrg/app' });
  });
});

/** One store, written through the driver interface, with an entry of every kind and some strays. */
async function fill(d: StorageDriver): Promise<void> {
  const put = (p: string, s = 'x') => d.putContent(p, s);
  await put(P.blobDataPath(D1), 'one');
  await put(P.blobDataPath(D2), 'two');
  await put(`${P.blobDir(D1)}/stray`);
  for (const repo of ['a', 'a/b', 'team/app']) {
    await put(P.layerLinkPath(repo, D1), D1);
    await put(P.revisionLinkPath(repo, D2), D2);
    await put(P.tagCurrentLinkPath(repo, 'v1'), D2);
    await put(P.tagIndexLinkPath(repo, 'v1', D2), D2);
  }
  await put(P.uploadDataPath('a', 'u1'), 'partial');
  await put(P.uploadStartedAtPath('a', 'u1'), '2026-01-02T03:04:05Z');
  await put(`${P.uploadDir('a', 'u1')}/hashstates/sha256/7`);
  await put(P.uploadDataPath('a', 'u2'), 'no start time');
  await put(`${P.layersDir('a')}/not-hex/link`);
  await put(`${P.tagsDir('a')}/.bad/current/link`, D2);
  await put(`${R}/only/_uploads/u3/data`);
}

/** Entries as comparable strings, without what only one kind of walk reports. */
function shape(entries: StoreEntry[]): string[] {
  return entries
    .filter((e) => e.kind !== 'upload-dir' && !(e.kind === 'stray' && e.info === undefined && e.area !== undefined))
    .map((e) => `${e.kind} ${e.path}`)
    .sort();
}

async function collect(d: StorageDriver, opts: Parameters<typeof enumerateStore>[1]): Promise<StoreEntry[]> {
  const out: StoreEntry[] = [];
  await enumerateStore(d, opts, (e) => {
    out.push(e);
  });
  return out;
}

describe('enumerateStore', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('reports every layout entry once, the same on a flat walk (whole or split) and a tree walk', async () => {
    const flat = new S3LikeDriver();
    await fill(flat);
    const root = tempDir();
    dirs.push(root);
    const tree = new FilesystemDriver(root);
    await fill(tree);

    const whole = await collect(flat, { concurrency: 4 });
    const split = await collect(flat, { concurrency: 4, splitAfter: 3 });
    expect(flat.walks.length).toBeGreaterThan(2); // the split walked children
    expect(split.map((e) => e.path).sort()).toEqual(whole.map((e) => e.path).sort());
    expect(new Set(split.map((e) => `${e.kind} ${e.path}`)).size).toBe(split.length); // each once

    const byTree = await collect(tree, { concurrency: 4 });
    // Tree walks name links from their parent directories (no info); flat walks list the files.
    expect(shape(byTree).filter((s) => !s.startsWith('stray'))).toEqual(shape(whole).filter((s) => !s.startsWith('stray')));
    expect(whole.every((e) => e.kind === 'area' || e.info !== undefined)).toBe(true);
    expect(byTree.find((e) => e.kind === 'layer-link')?.info).toBeUndefined();

    const kinds = new Set(whole.map((e) => e.kind));
    for (const k of ['blob-data', 'area', 'layer-link', 'revision-link', 'tag-current', 'tag-index', 'upload-file', 'stray']) expect(kinds).toContain(k);
    // Areas come before the entries in them.
    const firstArea = whole.findIndex((e) => e.kind === 'area' && e.repo === 'a' && e.area === '_layers');
    const firstLink = whole.findIndex((e) => e.kind === 'layer-link' && e.repo === 'a');
    expect(firstArea).toBeLessThan(firstLink);
    // The tree walk sees an upload's directory too, and the repository with only uploads.
    expect(
      byTree
        .filter((e) => e.kind === 'upload-dir')
        .map((e) => e.path)
        .sort(),
    ).toEqual([P.uploadDir('a', 'u1'), P.uploadDir('a', 'u2'), P.uploadDir('only', 'u3')]);
  });

  it('keeps to the named repositories (not those nested in them) and to the kinds asked for', async () => {
    const flat = new S3LikeDriver();
    await fill(flat);
    const root = tempDir();
    dirs.push(root);
    const tree = new FilesystemDriver(root);
    await fill(tree);
    for (const d of [flat, tree]) {
      const got = await collect(d, { concurrency: 2, repos: ['a'], layers: false, uploads: false, tagHistory: false });
      expect(
        got.every((e) => (e as { repo?: string }).repo === 'a'),
        d.name,
      ).toBe(true);
      expect(
        got.some((e) => e.kind === 'blob-data' || e.kind === 'layer-link' || e.kind === 'upload-file' || e.kind === 'tag-index'),
        d.name,
      ).toBe(false);
      expect(
        got
          .filter((e) => e.kind === 'tag-current')
          .map((e) => e.path)
          .sort(),
        d.name,
      ).toEqual([`${P.tagsDir('a')}/.bad/current/link`, P.tagCurrentLinkPath('a', 'v1')]);
      expect(
        got.filter((e) => e.kind === 'revision-link').map((e) => e.path),
        d.name,
      ).toEqual([P.revisionLinkPath('a', D2)]);
    }
  });

  it('ages uploads by startedat, else by their newest file', async () => {
    const flat = new S3LikeDriver();
    await fill(flat);
    const root = tempDir();
    dirs.push(root);
    const tree = new FilesystemDriver(root);
    await fill(tree);
    for (const d of [flat, tree]) {
      const ages = await uploadAges(d, 'a', 2);
      expect(
        ages.map((u) => u.id),
        d.name,
      ).toEqual(['u1', 'u2']);
      expect(ages[0]!.startedAt, d.name).toBe(Date.parse('2026-01-02T03:04:05Z'));
      expect(ages[1]!.startedAt, d.name).toBeGreaterThan(Date.now() - 3_600_000);
    }
  });
});
