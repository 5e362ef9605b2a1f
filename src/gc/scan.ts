// Enumerating a store for the gc, fast and with bounded memory. Digests are in the directory
// names, so only tag `current` links (and manifests, elsewhere) are ever read.
// - Flat-listing backends (S3): one flat walk per prefix, 1,000 keys a request. A prefix that
//   turns out to hold many pages is split into its children (the 256 blob shards, the
//   repositories), walked in parallel. Tag `current` links are resolved from their listed ETag (the MD5 of a
//   single-PUT object) against the repository's revisions, without a read when it matches.
// - Filesystem: names from parent directories (a shard, `_layers/sha256/`, `revisions/sha256/`),
//   never a descent into every leaf; times are fetched later for the few candidates that need one.
import pLimit, { type LimitFunction } from 'p-limit';
import { basename, type FileInfo, type StorageDriver } from '../drivers/driver.js';
import { isNotFound } from '../errors.js';
import { isRepoName, isStoredTag } from '../image/reference.js';
import { linkEtag, MalformedLinkError, readLink } from '../store/links.js';
import { BLOBS, REPOSITORIES, blobShardDir, splitRepoPath, layersDir, manifestsDir, repoDir, revisionLinkPath, revisionsDir, tagCurrentLinkPath, tagsDir, uploadsDir } from '../store/paths.js';
import { entryNames, listOrEmpty, listRepositoryDirs, listUploads } from '../store/walk.js';
import { eachLimit } from '../util/each-limit.js';
import { BlobTable, byName, newRepo, type RepoScan, type TagScan, type UploadScan } from './store-scan.js';

const HEX_RE = /^[a-f0-9]{64}$/;
/**
 * Keys read from one prefix before it is split into its children, walked in parallel: 32 pages
 * of 1,000 (S3). Splitting the blob listing costs 256 requests at least, so it pays only for a
 * long listing; below this a store is listed in a few sequential requests.
 */
const SPLIT_AFTER = 32_000;

export interface ScanOptions {
  concurrency: number;
  /** Keys of one prefix read before it is split (default SPLIT_AFTER; tests use less). */
  splitAfter?: number;
  /** Called as entries are found, with the running count. */
  onListed?: (entries: number) => void;
}

class Counter {
  n = 0;
  constructor(private readonly report?: (n: number) => void) {}
  tick(): void {
    if (++this.n % 1000 === 0) this.report?.(this.n);
  }
}

/**
 * Every file below `prefix` (flat listing). A prefix that goes on past SPLIT_AFTER keys, when
 * `depth` allows, is walked again as its children, in parallel: the keys already seen come again,
 * and `onFile` must take a key twice without harm (remembering them would cost memory for each
 * prefix waiting for its children).
 */
async function walkPrefix(d: StorageDriver, prefix: string, depth: number, split: { limit: LimitFunction; after: number }, onFile: (f: FileInfo) => void): Promise<void> {
  const { limit, after } = split;
  const whole = await limit(async () => {
    let n = 0;
    for await (const f of d.walk(prefix, { unaddressable: true })) {
      if (depth > 0 && n++ === after) return false;
      onFile(f);
    }
    return true;
  });
  if (whole) return;
  const children = await limit(() => listOrEmpty(d, prefix));
  await Promise.all(children.map((c) => walkPrefix(d, c, depth - 1, split, onFile)));
}

// ---- blobs ----

/** Every blob in `blobs/sha256/` into the table (with size and time on flat listings). */
export async function scanBlobs(d: StorageDriver, table: BlobTable, opts: ScanOptions): Promise<void> {
  const count = new Counter(opts.onListed);
  if (d.prefersFlatListing) {
    await walkPrefix(d, BLOBS, 1, { limit: pLimit(opts.concurrency), after: opts.splitAfter ?? SPLIT_AFTER }, (f) => {
      const [shard, hex, file, extra] = f.path.slice(BLOBS.length + 1).split('/');
      if (file === 'data' && extra === undefined && HEX_RE.test(hex!) && hex!.startsWith(shard!)) {
        table.listed(hex!, f.size, f.modTime.getTime());
        count.tick();
      }
    });
    return;
  }
  const shards = (await entryNames(d, BLOBS)).filter((s) => /^[a-f0-9]{2}$/.test(s));
  await eachLimit(shards, opts.concurrency, async (shard) => {
    for (const hex of await entryNames(d, blobShardDir(shard))) {
      if (HEX_RE.test(hex) && hex.startsWith(shard)) {
        table.listed(hex);
        count.tick();
      }
    }
  });
}

// ---- repositories, flat ----

interface RepoBuilder {
  repo: RepoScan;
  tags: Map<string, TagScan>;
  uploads: Map<string, { startedAtFile: boolean; newest: number }>;
}

function builder(name: string): RepoBuilder {
  return { repo: newRepo(name), tags: new Map(), uploads: new Map() };
}

function tagOf(b: RepoBuilder, name: string): TagScan {
  let t = b.tags.get(name);
  if (!t) b.tags.set(name, (t = { name, history: [] }));
  return t;
}

/** Files one listed file (path components below the repository) under its repository. */
function addRepoFile(b: RepoBuilder, table: BlobTable, section: string[], f: FileInfo): void {
  const r = b.repo;
  const t = f.modTime.getTime();
  if (!(r.newest >= t)) r.newest = t;
  const [top, a, c, e, g, h, i] = section;
  const n = section.length;
  if (top === '_layers') {
    r.hasLayers = true;
    if (n === 4 && a === 'sha256' && HEX_RE.test(c!) && e === 'link') {
      r.layers.push(table.add(c!));
      r.layerTimes.push(t);
    }
  } else if (top === '_manifests') {
    r.hasManifests = true;
    if (a === 'revisions') {
      if (n === 5 && c === 'sha256' && HEX_RE.test(e!) && g === 'link') {
        r.revisions.push(table.add(e!));
        r.revisionTimes.push(t);
      }
    } else if (a === 'tags' && c !== undefined && !isStoredTag(c)) {
      tagOf(b, c).unreadable = `tag directory ${JSON.stringify(c)} has a name no storage path can hold`;
    } else if (a === 'tags' && c !== undefined) {
      if (n === 5 && e === 'current' && g === 'link') {
        const tag = tagOf(b, c);
        tag.currentEtag = f.etag ?? '';
        tag.currentTime = t;
      }
      else if (n === 7 && e === 'index' && g === 'sha256' && HEX_RE.test(h!) && i === 'link') tagOf(b, c).history!.push(table.add(h!));
      else tagOf(b, c); // a tag directory is a tag to the registry whatever it holds
    }
  } else if (top === '_uploads') {
    r.hasUploads = true;
    if (a !== undefined && n >= 3) {
      const u = b.uploads.get(a) ?? { startedAtFile: false, newest: 0 };
      if (n === 3 && c === 'startedat') u.startedAtFile = true;
      u.newest = Math.max(u.newest, t);
      b.uploads.set(a, u);
    }
  }
}

/** Digests with their times, each digest once (a split walk lists some keys twice). */
function unique(digests: number[], times: number[]): [number[], number[]] {
  const seen = new Set<number>();
  const d: number[] = [];
  const t: number[] = [];
  digests.forEach((x, i) => {
    if (seen.has(x)) return;
    seen.add(x);
    d.push(x);
    t.push(times[i]!);
  });
  return [d, t];
}

async function finishRepo(d: StorageDriver, table: BlobTable, b: RepoBuilder, limit: LimitFunction): Promise<RepoScan> {
  const r = b.repo;
  if (r.unaddressable) return r;
  [r.layers, r.layerTimes] = unique(r.layers, r.layerTimes);
  [r.revisions, r.revisionTimes] = unique(r.revisions, r.revisionTimes);
  for (const t of b.tags.values()) t.history = [...new Set(t.history)];
  r.tags = [...b.tags.values()].sort(byName);
  await resolveCurrents(d, table, r, limit);
  const uploads = [...b.uploads].filter(([id]) => /^[A-Za-z0-9_-]{1,128}$/.test(id));
  r.uploads = await Promise.all(
    uploads.map(async ([id, u]): Promise<UploadScan> => {
      const path = `${uploadsDir(r.name)}/${id}`;
      const started = u.startedAtFile ? await limit(() => readStartedAt(d, `${path}/startedat`)) : undefined;
      return { id, path, startedAt: started ?? u.newest };
    }),
  );
  return r;
}

async function readStartedAt(d: StorageDriver, path: string): Promise<number | undefined> {
  try {
    const t = new Date((await d.getContent(path)).toString('utf8').trim()).getTime();
    return Number.isNaN(t) ? undefined : t;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Reads what each tag's current link names. A listed ETag equal to the MD5 of one of the
 * repository's revisions (or of the tag's history entries) names that digest without a read.
 */
async function resolveCurrents(d: StorageDriver, table: BlobTable, r: RepoScan, limit: LimitFunction): Promise<void> {
  const withLink = r.tags.filter((t) => t.currentEtag !== undefined && !t.unreadable);
  if (withLink.length === 0) return;
  const byMd5 = new Map<string, number>();
  const know = (i: number): void => {
    byMd5.set(linkEtag(table.set.digest(i)), i);
  };
  for (const i of r.revisions) know(i);
  for (const t of withLink) for (const i of t.history ?? []) know(i);
  await Promise.all(
    withLink.map(async (t) => {
      const known = byMd5.get(t.currentEtag!.toLowerCase());
      if (known !== undefined) t.current = known;
      else await limit(() => readCurrent(d, table, r.name, t));
      delete t.currentEtag;
    }),
  );
}

async function readCurrent(d: StorageDriver, table: BlobTable, repo: string, t: TagScan): Promise<void> {
  try {
    const digest = await readLink(d, tagCurrentLinkPath(repo, t.name));
    if (digest) t.current = table.add(digest);
  } catch (err) {
    if (!(err instanceof MalformedLinkError)) throw err;
    t.unreadable = err.message;
  }
}

async function scanReposFlat(d: StorageDriver, table: BlobTable, opts: ScanOptions, prefixes: string[], only?: string): Promise<RepoScan[]> {
  const limit = pLimit(opts.concurrency);
  const count = new Counter(opts.onListed);
  const builders = new Map<string, RepoBuilder>();
  await Promise.all(
    prefixes.map((prefix) =>
      walkPrefix(d, prefix, 3, { limit, after: opts.splitAfter ?? SPLIT_AFTER }, (f) => {
        const s = splitRepoPath(f.path);
        if (!s || (only !== undefined && s.name !== only)) return;
        let b = builders.get(s.name);
        if (!b) builders.set(s.name, (b = builder(s.name)));
        if (!isRepoName(s.name)) b.repo.outsideGrammar = true;
        // A key no path can hold anywhere in a repository (a revision link the registry's gc
        // would abort on, say): nothing it names can be ruled out.
        if (s.unaddressable || f.unaddressable) b.repo.unaddressable = true;
        else addRepoFile(b, table, s.section, f);
        count.tick();
      }),
    ),
  );
  // Keys below a name that are none of `_layers`, `_manifests`, `_uploads` (stray `_junk`) do not
  // make a repository: gc would "remove" it on every run, deleting nothing.
  const real = [...builders.values()].filter((b) => b.repo.hasLayers || b.repo.hasManifests || b.repo.hasUploads);
  const repos = await Promise.all(real.map((b) => finishRepo(d, table, b, limit)));
  return repos.sort(byName);
}

// ---- repositories, tree (filesystem) ----

/** One repository by directory listings; its stats and tag reads go out together. */
async function scanRepoTree(d: StorageDriver, table: BlobTable, r: RepoScan): Promise<void> {
  const [layers, revisions, tags] = await Promise.all([entryNames(d, layersDir(r.name)), entryNames(d, revisionsDir(r.name)), entryNames(d, tagsDir(r.name))]);
  for (const hex of layers) {
    if (!HEX_RE.test(hex)) continue;
    r.layers.push(table.add(hex));
    r.layerTimes.push(NaN);
  }
  // 2.8 leaves an empty `<hex>/` behind when it deletes a revision: only a directory with a link
  // is a revision, and the stat gives the link's age too.
  const revs = revisions.filter((hex) => HEX_RE.test(hex)).sort();
  const times = await Promise.all(revs.map((hex) => fileTime(d, revisionLinkPath(r.name, `sha256:${hex}`))));
  revs.forEach((hex, i) => {
    if (times[i] === undefined) return;
    r.revisions.push(table.add(hex));
    r.revisionTimes.push(times[i]);
  });
  r.tags = tags.sort().map((name) => (isStoredTag(name) ? { name } : { name, unreadable: `tag directory ${JSON.stringify(name)} has a name no storage path can hold` }));
  await Promise.all(r.tags.filter((t) => !t.unreadable).map((t) => readCurrent(d, table, r.name, t)));
  if (r.hasUploads) {
    // An upload with no file yet has no age: it is being created, never stale.
    r.uploads = (await listUploads(d, r.name)).map((u) => ({ id: u.id, path: u.path, startedAt: u.startedAt?.getTime() ?? NaN }));
  }
}

/** Modification time of a file; undefined when it does not exist (or is a directory). */
export async function fileTime(d: StorageDriver, path: string): Promise<number | undefined> {
  try {
    const st = await d.stat(path);
    return st.isDir ? undefined : st.modTime.getTime();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function scanReposTree(d: StorageDriver, table: BlobTable, opts: ScanOptions): Promise<RepoScan[]> {
  const count = new Counter(opts.onListed);
  const repos = (await listRepositoryDirs(d)).map((e) => ({ ...newRepo(e.name), hasManifests: e.hasManifests, hasLayers: e.hasLayers, hasUploads: e.hasUploads, outsideGrammar: e.outsideGrammar, unaddressable: e.unaddressable }));
  await eachLimit(repos, opts.concurrency, async (r) => {
    if (r.unaddressable) return;
    await scanRepoTree(d, table, r);
    for (let i = 0; i < r.layers.length + r.revisions.length; i++) count.tick();
  });
  return repos;
}

// ---- entry points ----

/** Every repository of the store: its links, tags (current resolved) and uploads. */
export function scanRepositories(d: StorageDriver, table: BlobTable, opts: ScanOptions): Promise<RepoScan[]> {
  return d.prefersFlatListing ? scanReposFlat(d, table, opts, [REPOSITORIES]) : scanReposTree(d, table, opts);
}

/** One repository, listed afresh (the re-check before deleting in it). Nested repositories are not included. */
export async function scanRepository(d: StorageDriver, table: BlobTable, name: string, opts: ScanOptions): Promise<RepoScan> {
  if (d.prefersFlatListing) {
    const prefixes = [manifestsDir(name), layersDir(name), uploadsDir(name)];
    return (await scanReposFlat(d, table, opts, prefixes, name))[0] ?? newRepo(name);
  }
  const markers = new Set((await listOrEmpty(d, repoDir(name))).map(basename));
  const r: RepoScan = { ...newRepo(name), hasManifests: markers.has('_manifests'), hasLayers: markers.has('_layers'), hasUploads: markers.has('_uploads') };
  await scanRepoTree(d, table, r);
  return r;
}

/** History entries of every tag of a repository (tree listings learn them only when needed). */
export async function listTagHistory(d: StorageDriver, table: BlobTable, r: RepoScan): Promise<void> {
  for (const t of r.tags) {
    if (t.history) continue;
    t.history = [];
    for (const p of await listOrEmpty(d, `${tagsDir(r.name)}/${t.name}/index/sha256`)) {
      if (HEX_RE.test(basename(p))) t.history.push(table.add(basename(p)));
    }
  }
}
