// The one walk of a store. gc's scan, verify's inventory, ls, prune and du consume it; nothing
// else lists a store and makes sense of the paths it finds.
//
// API (for every consumer, present and coming):
//
//   await enumerateStore(driver, options, (entry) => { ... });
//
// - `entry` is a typed layout entry (store/paths.ts LayoutEntry: blob-data, layer-link,
//   revision-link, revision-signature, tag-current, tag-index, upload-dir, upload-file, area,
//   stray) plus `info`, what the driver reported for it: size, modification time, ETag (S3) and
//   file type. Each entry comes once. `info` is absent where a tree walk only named the entry
//   from its parent directory (the file may not exist: read or stat it when it matters).
// - `area` entries (a repository's `_layers`, `_manifests`, `_uploads`) come before the other
//   entries of that area: what makes a directory a repository (2.8 looks for `_layers`, 3.x for
//   `_manifests`) is known from them alone, empty areas included on a filesystem.
// - A path outside the layout is a `stray` entry (naming the repository, tag or upload it sits in,
//   if any). So is anything the driver reports as not a plain file (a symlink, a FIFO, a device):
//   its `unsafe` field says what it is. Nothing here opens a stray.
// - The callback may return a promise: the walk that produced the entry waits for it (bounded
//   memory: a slow consumer holds the walk back instead of queueing entries). Walks of disjoint
//   prefixes run in parallel (at most `concurrency` requests), so calls interleave: order is not
//   part of the contract.
// - How: on flat-listing backends (S3) one flat walk of `blobs/` and of `repositories/` (or of the
//   named repositories), 1,000 keys a request; a prefix that turns out long is split into its
//   children (the 256 blob shards, the repositories), walked in parallel. On a filesystem, names
//   come from parent directories (a shard, `_layers/sha256/`, `revisions/sha256/`, `tags/`),
//   never a descent into every leaf: ~3k directory reads instead of ~80k on a 68k-file store.
import pLimit, { type LimitFunction } from 'p-limit';
import { basename, joinPath, type FileInfo, type StorageDriver } from '../drivers/driver.js';
import type { Digest } from '../image/digest.js';
import { isStoredTag } from '../image/reference.js';
import { eachLimit } from '../util/each-limit.js';
import {
  BLOBS,
  REPOSITORIES,
  blobShardDir,
  digestLinkPath,
  isHex,
  isShard,
  layersDir,
  parseStorePath,
  repoAreaDir,
  repoDir,
  revisionsDir,
  tagCurrentLinkPath,
  tagIndexDir,
  tagsDir,
  uploadDir,
  uploadStartedAtPath,
  uploadsDir,
  type LayoutEntry,
  type LayoutKind,
  type RepoArea,
} from './paths.js';
import { entryNames, listOrEmpty, listRepositoryDirs } from './walk.js';
import { orIfNotFound } from '../util/not-found.js';
import { compareStrings } from '../util/compare.js';

export type StoreEntry = LayoutEntry & {
  /** What the listing reported; absent when a tree walk only named the entry. */
  info?: FileInfo;
  /** The driver reported a symlink or special file here ('symlink', 'other', 'dir'): a stray whatever its name. */
  unsafe?: string;
};

export interface EnumerateOptions {
  /** Requests in flight at most. */
  concurrency: number;
  /** Only these repositories, each without the repositories nested in it; default every one. */
  repos?: string[];
  /** Walk `blobs/` (default: when no repositories are named). */
  blobs?: boolean;
  /** Which repository entries to report (default all). Tree walks list only what is asked for. */
  layers?: boolean;
  revisions?: boolean;
  /** Tag `current` links (a tree walk names one for every tag directory). */
  tags?: boolean;
  tagHistory?: boolean;
  uploads?: boolean;
  /** Tree walks: stat each revision link named by its directory, report its info, drop it when absent. */
  statRevisions?: boolean;
  /** Flat walks: keys read from one prefix before it is split into its children (default SPLIT_AFTER). */
  splitAfter?: number;
}

export type OnEntry = (e: StoreEntry) => void | Promise<void>;

/**
 * Keys read from one prefix before it is split into its children, walked in parallel: 32 pages
 * of 1,000 (S3). Splitting the blob listing costs 256 requests at least, so it pays only for a
 * long listing; below this a store is listed in a few sequential requests.
 */
export const SPLIT_AFTER = 32_000;

const REPO_KINDS: Record<Exclude<LayoutKind, 'blob-data' | 'area' | 'stray'>, 'layers' | 'revisions' | 'tags' | 'tagHistory' | 'uploads'> = {
  'layer-link': 'layers',
  'revision-link': 'revisions',
  'revision-signature': 'revisions',
  'tag-current': 'tags',
  'tag-index': 'tagHistory',
  'upload-dir': 'uploads',
  'upload-file': 'uploads',
};

export async function enumerateStore(d: StorageDriver, opts: EnumerateOptions, onEntry: OnEntry): Promise<void> {
  const wantBlobs = opts.blobs ?? !opts.repos;
  const wanted = { 'blob-data': wantBlobs, area: true, stray: true } as Record<LayoutKind, boolean>;
  for (const [kind, option] of Object.entries(REPO_KINDS)) wanted[kind as LayoutKind] = opts[option] ?? true;
  const emit = (e: StoreEntry): void | Promise<void> => (wanted[e.kind] ? onEntry(e) : undefined);
  const walks: Promise<void>[] = [];
  if (d.prefersFlatListing) {
    const limit = pLimit(Math.max(1, opts.concurrency));
    const split = { limit, after: opts.splitAfter ?? SPLIT_AFTER };
    if (wantBlobs) walks.push(walkPrefix(d, BLOBS, 1, split, undefined, (f) => emit(fromFile(f))));
    walks.push(flatRepos(d, opts, split, emit));
  } else {
    if (wantBlobs) walks.push(treeBlobs(d, opts.concurrency, emit));
    walks.push(treeRepos(d, opts, emit));
  }
  await Promise.all(walks);
}

/** A walked file as an entry: what its path says, unless the driver says it is not a plain file. */
function fromFile(f: FileInfo): StoreEntry {
  const e: StoreEntry = parseStorePath(f.path);
  const type = (f as FileInfo & { type?: string }).type;
  const unsafe = f.isDir ? 'dir' : type !== undefined && type !== 'file' ? type : undefined;
  if (f.unaddressable) {
    // A key no driver path can hold (S3): reported, its raw path never used for I/O; nothing in its repository can be ruled out.
    const { repo, area } = e as { repo?: string; area?: RepoArea };
    return { kind: 'stray', path: f.path, repo, area, unaddressable: true, info: f };
  }
  if (unsafe === undefined) {
    e.info = f; // a fresh object: cheaper than a copy, once per listed key
    return e;
  }
  const { repo, area, tag, upload } = e as { repo?: string; area?: RepoArea; tag?: string; upload?: string };
  return { kind: 'stray', path: f.path, repo, area, tag, upload, info: f, unsafe };
}

// ---- flat walks (S3) ----

interface Split {
  limit: LimitFunction;
  after: number;
}

/**
 * Every file below `prefix`. A prefix that goes on past `split.after` keys, when `depth` allows,
 * is walked again as its children, in parallel; the keys the first walk passed on are remembered
 * (at most `split.after` a level, while the children are walked) so each file comes once.
 */
async function walkPrefix(d: StorageDriver, prefix: string, depth: number, split: Split, seen: Set<string> | undefined, onFile: (f: FileInfo) => void | Promise<void>): Promise<void> {
  const passed: string[] = [];
  const whole = await split.limit(async () => {
    let n = 0;
    for await (const f of d.walk(prefix, { unaddressable: true })) {
      if (depth > 0 && n++ === split.after) return false;
      if (seen?.has(f.path)) continue;
      if (depth > 0) passed.push(f.path);
      const wait = onFile(f);
      if (wait) await wait; // no turn of the event loop per key when the consumer is synchronous
    }
    return true;
  });
  if (whole) return;
  const skip = new Set(passed);
  if (seen) for (const p of seen) skip.add(p);
  const children = await split.limit(() => listOrEmpty(d, prefix));
  await Promise.all(children.map((c) => walkPrefix(d, c, depth - 1, split, skip, onFile)));
}

async function flatRepos(d: StorageDriver, opts: EnumerateOptions, split: Split, emit: OnEntry): Promise<void> {
  const areas = new Set<string>();
  let last: { repo?: string; area?: RepoArea } = {};
  const onFile =
    (only: string | undefined) =>
    (f: FileInfo): void | Promise<void> => {
      const e = fromFile(f);
      const { repo, area } = e as { repo?: string; area?: RepoArea };
      if (only !== undefined && repo !== only) return; // a nested repository: it has its own walk
      // A key no driver path can hold names no area directory either: reported as it is.
      if (e.kind === 'stray' && e.unaddressable) return emit(e);
      // Keys of one area come together: the set is asked once an area, not once a key.
      if ((repo !== last.repo || area !== last.area) && repo !== undefined && area !== undefined) {
        last = { repo, area };
        if (areas.has(`${repo}/${area}`)) return emit(e);
        areas.add(`${repo}/${area}`);
        const wait = emit({ kind: 'area', path: repoAreaDir(repo, area), repo, area });
        if (wait) return wait.then(() => emit(e));
      }
      return emit(e);
    };
  if (!opts.repos) return walkPrefix(d, REPOSITORIES, 3, split, undefined, onFile(undefined));
  const prefixes = (name: string): string[] => {
    const out: string[] = [];
    if (opts.layers ?? true) out.push(layersDir(name));
    if (opts.revisions ?? true) out.push(revisionsDir(name));
    if ((opts.tags ?? true) || (opts.tagHistory ?? true)) out.push(tagsDir(name));
    if (opts.uploads ?? true) out.push(uploadsDir(name));
    return out;
  };
  await Promise.all(opts.repos.flatMap((name) => prefixes(name).map((p) => walkPrefix(d, p, 3, split, undefined, onFile(name)))));
}

// ---- tree walks (filesystem) ----

async function treeBlobs(d: StorageDriver, concurrency: number, emit: OnEntry): Promise<void> {
  const shards: string[] = [];
  for (const name of await entryNames(d, BLOBS)) {
    if (isShard(name)) shards.push(name);
    else await emit({ kind: 'stray', path: joinPath(BLOBS, name) });
  }
  await eachLimit(shards, concurrency, async (shard) => {
    const dir = blobShardDir(shard);
    for (const hex of await entryNames(d, dir)) {
      const path = joinPath(dir, hex);
      const wait = emit(isHex(hex) && hex.startsWith(shard) ? { kind: 'blob-data', path: `${path}/data`, digest: `sha256:${hex}` } : { kind: 'stray', path });
      if (wait) await wait;
    }
  });
}

interface RepoDir {
  name: string;
  areas: RepoArea[];
  /** A name no storage path can hold: reported as a stray, never entered. */
  unaddressable?: boolean;
}

const AREAS: RepoArea[] = ['_layers', '_manifests', '_uploads'];

async function repoDirs(d: StorageDriver, only: string[] | undefined): Promise<RepoDir[]> {
  if (!only) {
    return (await listRepositoryDirs(d)).map((e) => ({
      name: e.name,
      areas: AREAS.filter((a) => (a === '_layers' ? e.hasLayers : a === '_manifests' ? e.hasManifests : e.hasUploads)),
      unaddressable: e.unaddressable,
    }));
  }
  return Promise.all(
    only.map(async (name) => {
      const children = new Set((await listOrEmpty(d, repoDir(name))).map(basename));
      return { name, areas: AREAS.filter((a) => children.has(a)) };
    }),
  );
}

async function treeRepos(d: StorageDriver, opts: EnumerateOptions, emit: OnEntry): Promise<void> {
  const repos = await repoDirs(d, opts.repos);
  await eachLimit(repos, opts.concurrency, async ({ name, areas, unaddressable }) => {
    if (unaddressable) return emit({ kind: 'stray', path: joinPath(REPOSITORIES, name), repo: name, unaddressable: true });
    for (const area of areas) await emit({ kind: 'area', path: repoAreaDir(name, area), repo: name, area });
    const has = new Set(areas);
    const jobs: Promise<void>[] = [];
    if (has.has('_layers') && (opts.layers ?? true)) jobs.push(treeLinks(d, layersDir(name), (path, digest) => ({ kind: 'layer-link', path, repo: name, area: '_layers', digest }), emit));
    if (has.has('_manifests') && (opts.revisions ?? true)) jobs.push(treeRevisions(d, name, opts.statRevisions ?? false, emit));
    if (has.has('_manifests') && ((opts.tags ?? true) || (opts.tagHistory ?? true))) jobs.push(treeTags(d, name, opts, emit));
    if (has.has('_uploads') && (opts.uploads ?? true)) jobs.push(treeUploads(d, name, emit));
    await Promise.all(jobs);
  });
}

/**
 * `<dir>/<hex>/link` entries named by the listing of `dir` (`entry` makes one from its path and
 * digest: no parse of a path whose kind the directory says); other names are strays.
 */
async function treeLinks(d: StorageDriver, dir: string, entry: (path: string, digest: Digest) => StoreEntry, emit: OnEntry): Promise<void> {
  for (const name of await entryNames(d, dir)) {
    const wait = emit(isHex(name) ? entry(digestLinkPath(dir, name), `sha256:${name}`) : parseStorePath(joinPath(dir, name)));
    if (wait) await wait;
  }
}

/** 2.8 leaves an empty `<hex>/` behind when it deletes a revision: with `stat`, only a directory with a link is one. */
async function treeRevisions(d: StorageDriver, repo: string, stat: boolean, emit: OnEntry): Promise<void> {
  const dir = revisionsDir(repo);
  if (!stat) return treeLinks(d, dir, (path, digest) => ({ kind: 'revision-link', path, repo, area: '_manifests', digest }), emit);
  const names = (await entryNames(d, dir)).sort();
  const infos = await Promise.all(names.map((hex) => (isHex(hex) ? statFile(d, digestLinkPath(dir, hex)) : Promise.resolve(undefined))));
  for (let i = 0; i < names.length; i++) {
    const hex = names[i]!;
    if (!isHex(hex)) await emit(parseStorePath(joinPath(dir, hex)));
    else if (infos[i]) await emit({ kind: 'revision-link', path: digestLinkPath(dir, hex), repo, area: '_manifests', digest: `sha256:${hex}`, info: infos[i] });
  }
}

async function treeTags(d: StorageDriver, repo: string, opts: EnumerateOptions, emit: OnEntry): Promise<void> {
  const names = (await entryNames(d, tagsDir(repo))).sort();
  for (const tag of names) {
    if (!isStoredTag(tag)) {
      await emit({ kind: 'stray', path: joinPath(tagsDir(repo), tag), repo, area: '_manifests', tag });
      continue;
    }
    if (opts.tags ?? true) await emit({ kind: 'tag-current', path: tagCurrentLinkPath(repo, tag), repo, area: '_manifests', tag });
    if (opts.tagHistory ?? true) await treeLinks(d, tagIndexDir(repo, tag), (path, digest) => ({ kind: 'tag-index', path, repo, area: '_manifests', tag, digest }), emit);
  }
}

/** Upload directories and every file in them (few: the registry deletes each when it ends). */
async function treeUploads(d: StorageDriver, repo: string, emit: OnEntry): Promise<void> {
  for (const name of await entryNames(d, uploadsDir(repo))) {
    const e = parseStorePath(joinPath(uploadsDir(repo), name));
    await emit(e);
    if (e.kind !== 'upload-dir') continue;
    for await (const f of d.walk(uploadDir(repo, name))) await emit(fromFile(f));
  }
}

/** A file's info; undefined when it does not exist or is a directory. */
export async function statFile(d: StorageDriver, path: string): Promise<FileInfo | undefined> {
  const st = await orIfNotFound(() => d.stat(path), undefined);
  return st?.isDir ? undefined : st;
}

// ---- upload ages, from the entries ----

export interface UploadAge {
  repo: string;
  id: string;
  /** The upload directory. */
  path: string;
  /** From `startedat`, else the newest modification time inside the upload; NaN when it holds no file yet (being created). */
  startedAt: number;
}

/**
 * Collects upload entries (upload-dir, upload-file, strays inside an upload) and, at the end,
 * reads each `startedat` once: what the registry's purge goes by.
 */
export class UploadAges {
  private readonly uploads = new Map<string, { repo: string; id: string; startedAtFile: boolean; newest: number }>();

  add(e: StoreEntry): void {
    const { repo, upload } = e as { repo?: string; upload?: string };
    if (repo === undefined || upload === undefined || (e.kind !== 'upload-dir' && e.kind !== 'upload-file' && e.kind !== 'stray')) return;
    const key = `${repo}\0${upload}`;
    let u = this.uploads.get(key);
    if (!u) this.uploads.set(key, (u = { repo, id: upload, startedAtFile: false, newest: NaN }));
    if (e.kind === 'upload-file' && e.file === 'startedat' && !e.unsafe) u.startedAtFile = true;
    const t = e.kind === 'upload-dir' ? undefined : e.info?.modTime.getTime();
    if (t !== undefined && !(u.newest >= t)) u.newest = t;
  }

  async finish(d: StorageDriver, concurrency: number): Promise<UploadAge[]> {
    const out: UploadAge[] = [];
    await eachLimit(this.uploads.values(), concurrency, async (u) => {
      const path = uploadDir(u.repo, u.id);
      const started = u.startedAtFile ? await readStartedAt(d, uploadStartedAtPath(u.repo, u.id)) : undefined;
      out.push({ repo: u.repo, id: u.id, path, startedAt: started ?? u.newest });
    });
    return out.sort((a, b) => compareStrings(a.repo, b.repo) || compareStrings(a.id, b.id));
  }
}

async function readStartedAt(d: StorageDriver, path: string): Promise<number | undefined> {
  const body = await orIfNotFound(() => d.getContent(path), undefined);
  if (!body) return undefined;
  const t = new Date(body.toString('utf8').trim()).getTime();
  return Number.isNaN(t) ? undefined : t;
}

/** Upload ages of one repository (the re-check before purging). */
export async function uploadAges(d: StorageDriver, repo: string, concurrency: number): Promise<UploadAge[]> {
  const ages = new UploadAges();
  await enumerateStore(d, { concurrency, repos: [repo], layers: false, revisions: false, tags: false, tagHistory: false }, (e) => ages.add(e));
  return ages.finish(d, concurrency);
}
