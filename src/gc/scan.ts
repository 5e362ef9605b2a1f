// The gc's view of a store, from the one enumerator (store/enumerate.ts): every blob into the
// table, and per repository the digests its links name. Digests are in the directory names, so
// only tag `current` links (and manifests, elsewhere) are ever read. Flat listings (S3) give sizes,
// times and ETags (a tag's `current` link is resolved from its ETag, the MD5 of a single-PUT
// object, against the repository's revisions, without a read when it matches); tree listings
// (filesystem) give names, and times are fetched later for the few candidates that need one.
import pLimit, { type LimitFunction } from 'p-limit';
import type { StorageDriver } from '../drivers/driver.js';
import { hexOf } from '../image/digest.js';
import { isRepoName, isStoredTag } from '../image/reference.js';
import { enumerateStore, statFile, UploadAges, type StoreEntry } from '../store/enumerate.js';
import { linkEtag, MalformedLinkError, readLink } from '../store/links.js';
import { isHex, tagCurrentLinkPath, tagIndexDir } from '../store/paths.js';
import type { HazardLog } from '../store/hazards.js';
import { entryNames } from '../store/walk.js';
import { BlobTable, newRepo, type RepoScan, type TagScan } from './store-scan.js';
import { byName } from '../util/compare.js';

export interface ScanOptions {
  concurrency: number;
  /** Keys of one prefix read before it is split (store/enumerate.ts SPLIT_AFTER; tests use less). */
  splitAfter?: number;
  /** Called as entries are found, with the running count. */
  onListed?: (entries: number) => void;
  /** Where layer and revision links too large to be a link are logged (the registry's gc fails on revision links). */
  hazards?: HazardLog;
}

/** A link holds one digest (sha512: 135 bytes); anything near the small-file bound is not one. */
const LINK_SIZE_MAX = 4 * 1024 * 1024;

class Counter {
  n = 0;
  constructor(private readonly report?: (n: number) => void) {}
  tick(): void {
    if (++this.n % 1000 === 0) this.report?.(this.n);
  }
}

// ---- blobs ----

/** Every blob in `blobs/sha256/` into the table (with size and time on flat listings). */
export async function scanBlobs(d: StorageDriver, table: BlobTable, opts: ScanOptions): Promise<void> {
  const count = new Counter(opts.onListed);
  await enumerateStore(d, { concurrency: opts.concurrency, splitAfter: opts.splitAfter, blobs: true, repos: [] }, (e) => {
    if (e.kind !== 'blob-data') return;
    if (e.info) table.listed(hexOf(e.digest), e.info.size, e.info.modTime.getTime());
    else table.listed(hexOf(e.digest));
    count.tick();
  });
}

// ---- repositories ----

interface RepoBuilder {
  repo: RepoScan;
  tags: Map<string, TagScan>;
}

/** Files one entry under its repository. `flat`: the listing named every file, with its time. */
function addEntry(b: RepoBuilder, table: BlobTable, e: StoreEntry, flat: boolean): void {
  const r = b.repo;
  const t = e.info?.modTime.getTime() ?? NaN;
  if (flat && e.info && !(r.newest >= t)) r.newest = t;
  if (e.kind === 'area') {
    if (e.area === '_layers') r.hasLayers = true;
    else if (e.area === '_manifests') r.hasManifests = true;
    else r.hasUploads = true;
    return;
  }
  if (e.kind === 'stray' && e.unaddressable) {
    r.unaddressable = true;
    return;
  }
  const tagName = (e as { tag?: string }).tag;
  // A tag directory is a tag to the registry whatever it holds.
  const tag = tagName === undefined ? undefined : tagOf(b, tagName, flat);
  if (tag && !isStoredTag(tag.name)) {
    tag.unreadable = `tag directory ${JSON.stringify(tag.name)} has a name no storage path can hold`;
    return;
  }
  if (e.kind === 'layer-link') {
    r.layers.push(table.add(e.digest));
    r.layerTimes.push(t);
  } else if (e.kind === 'revision-link') {
    r.revisions.push(table.add(e.digest));
    r.revisionTimes.push(t);
  } else if (e.kind === 'tag-current') {
    tag!.currentEtag = e.info?.etag ?? '';
    // The push time retention ranks by: the listing has it (no HEAD per tag); prune's re-check reads the same listing.
    if (flat && e.info) tag!.currentTime = e.info.modTime.getTime();
  } else if (e.kind === 'tag-index') {
    tag!.history!.push(table.add(e.digest));
  }
}

function tagOf(b: RepoBuilder, name: string, flat: boolean): TagScan {
  let t = b.tags.get(name);
  // Tree listings learn a tag's history only when needed (listTagHistory).
  if (!t) b.tags.set(name, (t = flat ? { name, history: [] } : { name }));
  return t;
}

async function scan(d: StorageDriver, table: BlobTable, opts: ScanOptions, repos: string[] | undefined): Promise<RepoScan[]> {
  const flat = d.prefersFlatListing;
  const count = new Counter(opts.onListed);
  const builders = new Map<string, RepoBuilder>();
  const uploads = new UploadAges();
  await enumerateStore(d, { concurrency: opts.concurrency, splitAfter: opts.splitAfter, repos, blobs: false, tagHistory: flat, statRevisions: true }, (e) => {
    const repo = (e as { repo?: string }).repo;
    if (repo === undefined) return;
    let b = builders.get(repo);
    if (!b) {
      builders.set(repo, (b = { repo: newRepo(repo), tags: new Map() }));
      if (!isRepoName(repo)) b.repo.outsideGrammar = true;
    }
    addEntry(b, table, e, flat);
    if ((e.kind === 'revision-link' || e.kind === 'layer-link') && e.info && e.info.size > LINK_SIZE_MAX) {
      // Known by its directory name without a read; the registry reads a revision link whole and fails.
      opts.hazards?.add({ path: e.path, kind: 'oversized', detail: `${e.info.size} bytes, at most ${LINK_SIZE_MAX} expected` });
    }
    if (e.kind === 'upload-dir' || e.kind === 'upload-file' || (e.kind === 'stray' && e.upload !== undefined)) uploads.add(e);
    if (e.kind === 'layer-link' || e.kind === 'revision-link' || (flat && e.kind !== 'area')) count.tick();
  });
  const limit = pLimit(Math.max(1, opts.concurrency));
  // Keys below a name that are none of `_layers`, `_manifests`, `_uploads` (stray `_junk`) do not
  // make a repository: gc would "remove" it on every run, deleting nothing.
  const real = [...builders.values()].filter((b) => b.repo.hasLayers || b.repo.hasManifests || b.repo.hasUploads || b.repo.unaddressable);
  const scans = await Promise.all(
    real.map(async (b) => {
      const r = b.repo;
      if (r.unaddressable) return r;
      r.tags = [...b.tags.values()].sort(byName);
      await resolveCurrents(d, table, r, limit);
      return r;
    }),
  );
  const byRepo = new Map(scans.map((r) => [r.name, r]));
  for (const u of await uploads.finish(d, opts.concurrency)) byRepo.get(u.repo)?.uploads.push({ id: u.id, path: u.path, startedAt: u.startedAt });
  return scans.sort(byName);
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

/** Modification time of a file; undefined when it does not exist (or is a directory). */
export async function fileTime(d: StorageDriver, path: string): Promise<number | undefined> {
  return (await statFile(d, path))?.modTime.getTime();
}

// ---- entry points ----

/** Every repository of the store: its links, tags (current resolved) and uploads. */
export function scanRepositories(d: StorageDriver, table: BlobTable, opts: ScanOptions): Promise<RepoScan[]> {
  return scan(d, table, opts, undefined);
}

/** One repository, listed afresh (the re-check before deleting in it). Nested repositories are not included. */
export async function scanRepository(d: StorageDriver, table: BlobTable, name: string, opts: ScanOptions): Promise<RepoScan> {
  return (await scan(d, table, opts, [name]))[0] ?? newRepo(name);
}

/** History entries of every tag of a repository (tree listings learn them only when needed). */
export async function listTagHistory(d: StorageDriver, table: BlobTable, r: RepoScan): Promise<void> {
  for (const t of r.tags) {
    if (t.history) continue;
    t.history = [];
    for (const hex of await entryNames(d, tagIndexDir(r.name, t.name))) {
      if (isHex(hex)) t.history.push(table.add(hex));
    }
  }
}
