// The gc's rules on stores built with the core, on a flat-listing backend (memory, as S3) and a
// tree-listing one (a directory): what is kept, what goes, and what a dry run promises.
import { describe, expect, it } from 'vitest';
import type { StorageDriver } from '../../src/drivers/driver.js';
import { sha256, type Digest } from '../../src/image/digest.js';
import { runGc, type GcOptions } from '../../src/gc/run.js';
import type { GcReport } from '../../src/gc/report.js';
import { blobExists } from '../../src/store/blobs.js';
import { deleteManifest, hasRevision } from '../../src/store/manifests.js';
import * as P from '../../src/store/paths.js';
import { listTags, resolveTag } from '../../src/store/tags.js';
import { listLayerLinks, listRepositories, listRevisions } from '../../src/store/walk.js';
import { blob, image, index, manifest, orphan, OCI_INDEX, STORES, type Desc, type Img } from './store-builder.js';

const HOUR = 3_600_000;
const WEEK = 7 * 24 * HOUR;

function gc(d: StorageDriver, opts: Partial<GcOptions> = {}): Promise<GcReport> {
  return runGc(d, { dryRun: false, deleteUntagged: false, minAgeMs: 0, uploadsOlderThanMs: WEEK, concurrency: 4, now: Date.now() + 1000, ...opts });
}

async function present(d: StorageDriver, digests: Digest[]): Promise<Digest[]> {
  const out: Digest[] = [];
  for (const g of digests) if (await blobExists(d, g)) out.push(g);
  return out;
}

const all = (i: Img): Digest[] => [i.manifest.digest, i.config.digest, ...i.layers.map((l) => l.digest)];

/** Every tag of every repository resolves to a revision whose blobs and children are all there. */
async function servable(d: StorageDriver): Promise<void> {
  for (const repo of await listRepositories(d)) {
    const revisions = new Set(await listRevisions(d, repo));
    const links = new Set(await listLayerLinks(d, repo));
    for (const tag of await listTags(d, repo)) {
      const check = async (digest: Digest): Promise<void> => {
        expect(revisions.has(digest), `${repo}:${tag} -> ${digest} is a revision`).toBe(true);
        const m = JSON.parse((await d.getContent(P.blobDataPath(digest))).toString()) as { config?: Desc; layers?: Desc[]; manifests?: Desc[] };
        for (const b of [...(m.config ? [m.config] : []), ...(m.layers ?? [])]) {
          expect(await blobExists(d, b.digest), `${repo}:${tag} blob ${b.digest}`).toBe(true);
          expect(links.has(b.digest), `${repo} links ${b.digest}`).toBe(true);
        }
        for (const c of m.manifests ?? []) await check(c.digest);
      };
      await check(await resolveTag(d, repo, tag));
    }
  }
}

describe.each(STORES)('gc on %s', (_name, makeStore) => {
  it('deletes orphans and keeps every revision without --delete-untagged', async () => {
    const { d } = makeStore();
    const shared = Buffer.from('a layer shared by two repositories');
    const a = await image(d, 'team/a', { tag: 'v1', layers: [shared] });
    const untagged = await image(d, 'team/a');
    const b = await image(d, 'team/b', { tag: 'v1', layers: [shared, Buffer.from('b only')] });
    const o1 = await orphan(d);
    const o2 = await orphan(d);
    const r = await gc(d);
    expect(r.deleted).toMatchObject({ blobs: 2, manifests: 0, layerLinks: 0, repositories: 0 });
    expect(r.lists.blobs.map((x) => x.digest).sort()).toEqual([o1, o2].sort());
    expect(r.repositories).toEqual([{ repository: '(no repository)', blobs: 2, bytes: r.deleted!.bytes, manifests: 0, layerLinks: 0, uploads: 0, removed: false }]);
    expect(await present(d, [...all(a), ...all(untagged), ...all(b)])).toHaveLength(all(a).length + all(untagged).length + all(b).length);
    expect(await present(d, [o1, o2])).toEqual([]);
    await servable(d);
  });

  it('--delete-untagged deletes untagged manifests and their blobs, keeps shared ones, cleans tag history and layer links', async () => {
    const { d } = makeStore();
    const shared = Buffer.from('base layer');
    const old = await image(d, 'app', { tag: 'latest', layers: [shared, Buffer.from('old top')] });
    const cur = await image(d, 'app', { tag: 'latest', layers: [shared, Buffer.from('new top')] }); // re-tag: old is untagged now
    const r = await gc(d, { deleteUntagged: true });
    expect(r.lists.manifests).toEqual([{ repository: 'app', digest: old.manifest.digest }]);
    expect(r.deleted).toMatchObject({ manifests: 1, tagHistoryEntries: 1, blobs: 3 });
    expect(await present(d, all(old))).toEqual([shared].map(sha256));
    expect(await present(d, all(cur))).toEqual(all(cur));
    expect(await hasRevision(d, 'app', old.manifest.digest)).toBe(false);
    expect(await listLinkedHistory(d, 'app', 'latest')).toEqual([cur.manifest.digest]);
    // The old config and top layer are gone, and so are their links; the shared layer's stays.
    expect((await listLayerLinks(d, 'app')).sort()).toEqual([cur.config.digest, ...cur.layers.map((l) => l.digest)].sort());
    await servable(d);
  });

  it('--delete-untagged keeps every child of a tagged index (2.8.2 deletes them) and drops an untagged index with its children', async () => {
    const { d } = makeStore();
    const kids = [await image(d, 'multi'), await image(d, 'multi', { docker: true })];
    const idx = await index(d, 'multi', kids, 'v1');
    const goneKids = [await image(d, 'multi'), await image(d, 'multi')];
    const goneIdx = await index(d, 'multi', goneKids, undefined, true);
    const r = await gc(d, { deleteUntagged: true });
    expect(r.lists.manifests.map((m) => m.digest).sort()).toEqual([goneIdx.digest, ...goneKids.map((k) => k.manifest.digest)].sort());
    expect(await present(d, [idx.digest, ...kids.flatMap(all)])).toHaveLength(1 + kids.flatMap(all).length);
    expect(await present(d, [goneIdx.digest, ...goneKids.flatMap(all)])).toEqual([]);
    await servable(d);
  });

  it('keeps referrers while their subject is kept; a referrers fallback tag follows its subject', async () => {
    const { d } = makeStore();
    const img = await image(d, 'signed', { tag: 'v1' });
    const sig = await image(d, 'signed', { subject: img.manifest, artifactType: 'application/vnd.example.sig' });
    const doomed = await image(d, 'signed'); // untagged
    const doomedSig = await image(d, 'signed', { subject: doomed.manifest, artifactType: 'application/vnd.example.sig' });
    const refIndex = (s: Img): object => ({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...s.manifest, artifactType: 'application/vnd.example.sig' }] });
    const fallback = `sha256-${doomed.manifest.digest.slice(7)}`;
    const fbIdx = await manifest(d, 'signed', refIndex(doomedSig), fallback);
    const keptFallback = `sha256-${img.manifest.digest.slice(7)}`;
    const keptIdx = await manifest(d, 'signed', refIndex(sig), keptFallback);
    const r = await gc(d, { deleteUntagged: true });
    expect(r.lists.tags).toEqual([{ repository: 'signed', tag: fallback }]);
    expect(r.lists.manifests.map((m) => m.digest).sort()).toEqual([doomed.manifest.digest, doomedSig.manifest.digest, fbIdx.digest].sort());
    expect(await listTags(d, 'signed')).toEqual([keptFallback, 'v1'].sort());
    expect(await present(d, [...all(sig), keptIdx.digest])).toHaveLength(all(sig).length + 1);
    expect(await present(d, [...all(doomed), ...all(doomedSig), fbIdx.digest])).toEqual([]);
    await servable(d);
  });

  it('a dry run deletes nothing and plans exactly what the real run then deletes', async () => {
    const s = makeStore();
    const { d } = s;
    await image(d, 'x', { tag: 't' });
    await image(d, 'x', { tag: 't' });
    await orphan(d);
    const idx = await index(d, 'y', [await image(d, 'y')]);
    await deleteManifest(d, 'y', idx.digest); // y keeps one untagged child
    const before = await s.files();
    const dry = await gc(d, { dryRun: true, deleteUntagged: true });
    expect(await s.files()).toEqual(before);
    expect(dry.dryRun).toBe(true);
    expect(dry.deleted).toBeUndefined();
    const real = await gc(d, { deleteUntagged: true });
    expect(real.deleted).toEqual(dry.planned);
    expect(real.lists).toEqual(dry.lists);
    expect(real.lists.repositories).toEqual(['y']);
    expect(await listRepositories(d)).toEqual(['x']);
    const again = await gc(d, { dryRun: true, deleteUntagged: true });
    expect(again.planned).toMatchObject({ blobs: 0, manifests: 0, layerLinks: 0, repositories: 0 });
  });

  it('never deletes what is younger than --min-age: blobs, recently linked blobs, untagged revisions', async () => {
    const s = makeStore();
    const { d } = s;
    const past = new Date(Date.now() - 2 * HOUR);
    const oldOrphan = await orphan(d);
    const youngOrphan = await orphan(d);
    await s.age(P.blobDataPath(oldOrphan), past);
    // An old blob that a push has just linked again (its manifest is not written yet).
    const relinked = await orphan(d);
    await s.age(P.blobDataPath(relinked), past);
    await blob(d, 'pushing', Buffer.from(`${relinked}`)); // some other blob
    await d.putContent(P.layerLinkPath('pushing', relinked), relinked);
    // An untagged revision written a moment ago: its tag may be on the way.
    const fresh = await image(d, 'app');
    const r = await gc(d, { minAgeMs: HOUR, deleteUntagged: true, now: Date.now() });
    expect(r.lists.blobs.map((b) => b.digest)).toEqual([oldOrphan]);
    expect(await present(d, [youngOrphan, relinked, ...all(fresh)])).toHaveLength(2 + all(fresh).length);
    expect(r.kept).toMatchObject({ youngRevisions: 1, recentlyLinked: 1 });
    expect(r.kept.youngBlobs).toBeGreaterThanOrEqual(1);
  });

  it('removes a repository left without revisions, its stale uploads, and keeps fresh uploads', async () => {
    const s = makeStore();
    const { d } = s;
    const img = await image(d, 'ghost', { tag: 'v1' });
    await deleteManifest(d, 'ghost', img.manifest.digest); // the registry's DELETE: untags, leaves links
    await image(d, 'live', { tag: 'v1' });
    const stale = P.uploadStartedAtPath('live', 'stale-upload');
    await d.putContent(stale, '2020-01-01T00:00:00Z');
    await d.putContent(P.uploadDataPath('live', 'stale-upload'), 'partial');
    await d.putContent(P.uploadStartedAtPath('live', 'fresh-upload'), new Date().toISOString());
    const r = await gc(d);
    expect(r.lists.repositories).toEqual(['ghost']);
    expect(r.lists.uploads).toEqual([{ repository: 'live', id: 'stale-upload', startedAt: '2020-01-01T00:00:00.000Z' }]);
    expect(await listRepositories(d)).toEqual(['live']);
    expect((await s.files()).filter((f) => f.includes('/ghost/'))).toEqual([]);
    expect(await present(d, all(img))).toEqual([]);
    expect(await d.getContent(P.uploadStartedAtPath('live', 'fresh-upload'))).toBeTruthy();
  });

  it('keeps a repository that is being pushed to (young layer links, no manifest yet)', async () => {
    const { d } = makeStore();
    const l = await blob(d, 'new', Buffer.from('first layer of a push'));
    const r = await gc(d, { minAgeMs: HOUR, now: Date.now() });
    expect(r.planned).toMatchObject({ repositories: 0, blobs: 0 });
    expect(await blobExists(d, l.digest)).toBe(true);
    expect(await listRepositories(d)).toEqual(['new']);
  });

  it('an unreadable manifest is reported and keeps everything its repository links', async () => {
    const { d } = makeStore();
    const img = await image(d, 'odd', { tag: 'v1' });
    const loose = await blob(d, 'odd', Buffer.from('linked but unreferenced'));
    const junk = Buffer.from('{"schemaVersion": 2, "mediaType": "application/x-unknown"}');
    await d.putContent(P.blobDataPath(sha256(junk)), junk);
    await d.putContent(P.revisionLinkPath('odd', sha256(junk)), sha256(junk));
    const other = await image(d, 'plain');
    await deleteManifest(d, 'plain', other.manifest.digest);
    await image(d, 'plain', { tag: 'v1' });
    const r = await gc(d, { deleteUntagged: true });
    expect(r.warnings).toEqual([expect.objectContaining({ kind: 'unreadable-manifest', repo: 'odd', digest: sha256(junk) })]);
    expect(r.kept.pinnedRepositories).toBe(1);
    expect(await present(d, [...all(img), loose.digest, sha256(junk)])).toHaveLength(all(img).length + 2);
    expect(await present(d, all(other))).toEqual([]);
  });

  it('a revision naming a blob too big to be a manifest is not read into memory: reported, every blob kept', async () => {
    const { d } = makeStore();
    const big = await blob(d, 'huge', Buffer.alloc(4 * 1024 * 1024 + 1, 7));
    await d.putContent(P.revisionLinkPath('huge', big.digest), big.digest);
    const unused = await blob(d, 'huge', Buffer.from('linked, unreferenced'));
    // Garbage elsewhere is kept too: what the unread manifest references is unknown, and the
    // registry's gc, which reads it whole, stops on it.
    const elsewhere = await blob(d, 'other', Buffer.from('linked in another repository, unreferenced'));
    const r = await gc(d, { deleteUntagged: true });
    expect(r.warnings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'unreadable-manifest', repo: 'huge', digest: big.digest, detail: expect.stringMatching(/bytes: not a manifest/) }),
        expect.objectContaining({ kind: 'unsafe-path', path: P.blobDataPath(big.digest) }),
      ]),
    );
    expect(r.lists.manifests).toEqual([]);
    expect(await present(d, [big.digest, unused.digest, elsewhere.digest])).toEqual([big.digest, unused.digest, elsewhere.digest]);
  });

  it('removes a ghost repository without touching the repository nested in it, nor names outside the grammar', async () => {
    const s = makeStore();
    const { d } = s;
    const ghost = await image(d, 'a', { tag: 'v1' });
    await deleteManifest(d, 'a', ghost.manifest.digest);
    const nested = await image(d, 'a/b', { tag: 'v1' });
    const odd = `${P.REPOSITORIES}/Not_A_Repo/_layers/sha256/${'a'.repeat(64)}/link`;
    await d.putContent(odd, `sha256:${'a'.repeat(64)}`);
    const r = await gc(d);
    expect(r.lists.repositories).toEqual(['a']);
    // Not_A_Repo is a repository to the registry's walk: listed, marked from, nothing in it deleted.
    expect(await listRepositories(d)).toEqual(['Not_A_Repo', 'a/b']);
    expect(r.warnings).toContainEqual(expect.objectContaining({ kind: 'repository-outside-grammar' }));
    expect(await present(d, all(nested))).toEqual(all(nested));
    expect(await s.files()).toContain(odd);
    await servable(d);
  });

  it('stray `_`-named keys are not a repository: no run reports deleting one, and they stay', async () => {
    const s = makeStore();
    const { d } = s;
    await image(d, 'app', { tag: 'v1' });
    const stray = [`${P.REPOSITORIES}/stray/_junk`, `${P.REPOSITORIES}/app/_notes/readme`, `${P.REPOSITORIES}/gone/_old/x`];
    for (const f of stray) await d.putContent(f, 'x');
    for (let run = 0; run < 2; run++) {
      const r = await gc(d);
      expect(r.lists.repositories, `run ${run}`).toEqual([]);
    }
    const files = await s.files();
    for (const f of stray) expect(files).toContain(f);
    await servable(d);
  });

  it('an upload without startedat ages by its files; a malformed tag link keeps its repository whole', async () => {
    const s = makeStore();
    const { d } = s;
    const data = P.uploadDataPath('app', 'no-start');
    await d.putContent(data, 'partial');
    await s.age(data, new Date(Date.now() - 8 * 24 * HOUR));
    const img = await image(d, 'app', { tag: 'v1' });
    await image(d, 'app', { tag: 'v1' }); // img is untagged
    await d.putContent(P.tagCurrentLinkPath('app', 'broken'), 'sha256:NOT-A-DIGEST\n');
    const r = await gc(d, { deleteUntagged: true });
    expect(r.lists.uploads.map((u) => u.id)).toEqual(['no-start']);
    expect(r.warnings).toEqual([expect.objectContaining({ kind: 'unreadable-tag', repo: 'app', tag: 'broken' })]);
    expect(r.lists.manifests).toEqual([]);
    expect(await present(d, all(img))).toEqual(all(img));
  });

  it("removes layer links to deleted and missing blobs but keeps a repository's last link", async () => {
    const s = makeStore();
    const { d } = s;
    const img = await image(d, 'r', { tag: 'v1' });
    const missing = sha256(Buffer.from('never stored'));
    await d.putContent(P.layerLinkPath('r', missing), missing);
    const unused = await blob(d, 'r', Buffer.from('linked, unreferenced'));
    const r = await gc(d);
    expect(r.lists.layerLinks.map((l) => l.digest).sort()).toEqual([missing, unused.digest].sort());
    expect((await listLayerLinks(d, 'r')).sort()).toEqual([img.config.digest, ...img.layers.map((l) => l.digest)].sort());
    // A repository whose every link dangles keeps one, so registry 2.8 still sees it.
    const broken = await image(d, 'broken', { tag: 'v1' });
    for (const b of [broken.config, ...broken.layers]) await d.delete(P.blobDir(b.digest));
    const r2 = await gc(d);
    expect(r2.lists.layerLinks.filter((l) => l.repository === 'broken')).toHaveLength(1);
    expect(await listLayerLinks(d, 'broken')).toHaveLength(1);
  });
});

async function listLinkedHistory(d: StorageDriver, repo: string, tag: string): Promise<Digest[]> {
  const { listLinkedDigests } = await import('../../src/store/walk.js');
  return listLinkedDigests(d, P.tagIndexDir(repo, tag));
}
