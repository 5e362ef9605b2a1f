// Enumerating what an audit looks at: every link of every repository and every blob. On S3 (flat
// listings) one walk of a prefix returns 1,000 keys a request and blob shards are walked in
// parallel; on a filesystem the names come from the parent directories (`_layers/sha256/`,
// `revisions/sha256/`, a shard) and each candidate link is confirmed when it is read.
import { basename, type FileInfo, type StorageDriver } from '../drivers/driver.js';
import { NotFoundError } from '../errors.js';
import type { Digest } from '../image/digest.js';
import { isRepoName, isTag } from '../image/reference.js';
import { statBlob } from '../store/blobs.js';
import { BLOBS, REPOSITORIES, layersDir, repoDir, revisionsDir, splitRepoPath, tagsDir } from '../store/paths.js';
import { listOrEmpty, listRepositoryDirs, listUploads, walkBlobs, type UploadEntry } from '../store/walk.js';
import { eachLimit } from '../util/each-limit.js';

const HEX_RE = /^[a-f0-9]{64}$/;

export type LinkRole = 'layer' | 'revision' | 'tag-current' | 'tag-index';

export interface LinkFile {
  role: LinkRole;
  repo: string;
  tag?: string;
  /** The link file. */
  path: string;
  /** The digest its directory names (every role but tag-current). */
  named?: Digest;
  /** S3 listings: the object's ETag (the MD5 of a single-PUT object). */
  etag?: string;
  /** Raw content, once read; undefined when the file does not exist (an empty directory). */
  content?: string;
}

export interface TagEntry {
  name: string;
  current?: LinkFile;
  index: LinkFile[];
}

export interface RepoInventory {
  name: string;
  hasManifests: boolean;
  hasLayers: boolean;
  hasUploads: boolean;
  layers: LinkFile[];
  revisions: LinkFile[];
  tags: Map<string, TagEntry>;
  uploads: UploadEntry[];
}

export interface BlobInfo {
  digest: Digest;
  /** False for a blob directory without `data`. */
  exists: boolean;
  /** Unknown until hashed when a filesystem scan skips the stat (the hash says both). */
  size?: number;
}

export interface Inventory {
  repos: RepoInventory[];
  blobs: Map<Digest, BlobInfo>;
  /** True when `blobs` holds every blob in the store (no repositories were named). */
  allBlobs: boolean;
  /** Files inside repositories that are not part of the layout. */
  strays: string[];
  /** Repository directories whose names are outside the grammar, or cannot be addressed at all. */
  oddNames: Array<{ name: string; unaddressable: boolean }>;
}

function newRepo(name: string): RepoInventory {
  return { name, hasManifests: false, hasLayers: false, hasUploads: false, layers: [], revisions: [], tags: new Map(), uploads: [] };
}

function tagEntry(repo: RepoInventory, tag: string): TagEntry {
  let t = repo.tags.get(tag);
  if (!t) repo.tags.set(tag, (t = { name: tag, index: [] }));
  return t;
}

/**
 * Files a link under a repository from the path components below it (`_layers/...`,
 * `_manifests/...`). Returns false for a path that is not part of the layout.
 */
function addRepoFile(repo: RepoInventory, section: string[], path: string, etag?: string): boolean {
  const [top, a, b, c, e, f, g] = section;
  const n = section.length;
  if (top === '_uploads') {
    repo.hasUploads = true;
    return true; // listed with their start times by listUploads
  }
  if (top === '_layers') {
    repo.hasLayers = true;
    if (n === 4 && a === 'sha256' && HEX_RE.test(b!) && c === 'link') {
      repo.layers.push({ role: 'layer', repo: repo.name, path, named: `sha256:${b}`, etag });
      return true;
    }
    return false;
  }
  if (top !== '_manifests') return false;
  repo.hasManifests = true;
  if (a === 'revisions' && b === 'sha256' && HEX_RE.test(c ?? '')) {
    if (n === 5 && e === 'link') {
      repo.revisions.push({ role: 'revision', repo: repo.name, path, named: `sha256:${c}`, etag });
      return true;
    }
    return e === 'signatures'; // schema 1 signature links written by registries before 2.3
  }
  if (a === 'tags' && b !== undefined && isTag(b)) {
    const t = tagEntry(repo, b);
    if (n === 5 && c === 'current' && e === 'link') {
      t.current = { role: 'tag-current', repo: repo.name, tag: b, path, etag };
      return true;
    }
    if (n === 7 && c === 'index' && e === 'sha256' && HEX_RE.test(f!) && g === 'link') {
      t.index.push({ role: 'tag-index', repo: repo.name, tag: b, path, named: `sha256:${f}`, etag });
      return true;
    }
  }
  return false;
}

/** One flat walk per prefix: the whole `repositories/` tree, or each named repository. */
async function scanReposFlat(d: StorageDriver, only: string[] | undefined, strays: string[], odd: Map<string, boolean>): Promise<RepoInventory[]> {
  const repos = new Map<string, RepoInventory>();
  const prefixes: [string, string | undefined][] = only ? only.map((n) => [repoDir(n), n]) : [[REPOSITORIES, undefined]];
  for (const [prefix, wanted] of prefixes) {
    for await (const f of d.walk(prefix)) {
      const split = splitRepoPath(f.path);
      if (!split) {
        strays.push(f.path);
        continue;
      }
      const name = split.name;
      if (!isRepoName(name)) odd.set(name, split.unaddressable === true);
      if (split.unaddressable) continue;
      // A walk of `a/` also returns nested repository `a/b`: it gets its own walk when named.
      if (wanted !== undefined && name !== wanted) continue;
      let repo = repos.get(name);
      if (!repo) repos.set(name, (repo = newRepo(name)));
      if (!addRepoFile(repo, split.section, f.path, f.etag)) strays.push(f.path);
    }
  }
  return [...repos.values()];
}

/** Names from parent directories; each candidate `link` is confirmed when read. */
async function scanRepoTree(d: StorageDriver, repo: RepoInventory, strays: string[]): Promise<void> {
  const add = (path: string): void => {
    const section = path.slice(repoDir(repo.name).length + 1).split('/');
    if (!addRepoFile(repo, section, path)) strays.push(path);
  };
  for (const dir of [layersDir(repo.name), revisionsDir(repo.name)]) {
    for (const p of await listOrEmpty(d, dir)) add(`${p}/link`);
  }
  for (const t of await listOrEmpty(d, tagsDir(repo.name))) {
    if (!isTag(basename(t))) {
      strays.push(t);
      continue;
    }
    tagEntry(repo, basename(t));
    add(`${t}/current/link`);
    for (const p of await listOrEmpty(d, `${t}/index/sha256`)) add(`${p}/link`);
  }
}

async function scanReposTree(d: StorageDriver, only: string[] | undefined, concurrency: number, strays: string[], odd: Map<string, boolean>): Promise<RepoInventory[]> {
  const all = (await listRepositoryDirs(d)).filter((e) => !only || only.includes(e.name));
  for (const e of all) if (e.outsideGrammar) odd.set(e.name, e.unaddressable === true);
  const entries = all.filter((e) => !e.unaddressable);
  const repos = entries.map((e) => ({ ...newRepo(e.name), hasManifests: e.hasManifests, hasLayers: e.hasLayers, hasUploads: e.hasUploads }));
  await eachLimit(repos, concurrency, (r) => scanRepoTree(d, r, strays));
  return repos;
}

function blobInfo(digest: Digest, st: FileInfo | undefined): BlobInfo {
  return { digest, exists: st !== undefined && !st.isDir, size: st && !st.isDir ? st.size : undefined };
}

/**
 * Every blob: flat walks of the shards in parallel, or shard listings (plus a stat of each `data`
 * unless the blobs are hashed anyway: the hash tells existence and size). `onBlob` sees each blob
 * as it is found, so hashing starts while the scan goes on, and may hold the scan back.
 */
async function scanBlobs(d: StorageDriver, concurrency: number, blobs: Map<Digest, BlobInfo>, onBlob?: (b: BlobInfo) => Promise<void>): Promise<void> {
  const shards = (await listOrEmpty(d, BLOBS)).map(basename).filter((s) => /^[a-f0-9]{2}$/.test(s));
  const found = async (b: BlobInfo): Promise<void> => {
    blobs.set(b.digest, b);
    if (b.exists) await onBlob?.(b);
  };
  await eachLimit(shards, concurrency, async (shard) => {
    for await (const b of walkBlobs(d, [shard])) {
      if (b.info) await found(blobInfo(b.digest, b.info));
      else if (onBlob) await found({ digest: b.digest, exists: true });
      else await found(blobInfo(b.digest, await statBlob(d, b.digest)));
    }
  });
}

/** Fills `blobs` for digests it does not hold yet or holds without a size. */
export async function statBlobs(d: StorageDriver, digests: Iterable<Digest>, concurrency: number, blobs: Map<Digest, BlobInfo>): Promise<void> {
  const todo = [...new Set(digests)].filter((g) => blobs.get(g)?.size === undefined);
  await eachLimit(todo, concurrency, async (digest) => {
    const info = blobInfo(digest, await statBlob(d, digest));
    const known = blobs.get(digest);
    if (known) Object.assign(known, info); // the same object the hashing holds
    else blobs.set(digest, info);
  });
}

export interface ScanOptions {
  /** Audit only these repositories (and the blobs they use). */
  repos?: string[];
  concurrency: number;
  /** Whole-store scans: called for each blob with data as it is found. */
  onBlob?: (b: BlobInfo) => Promise<void>;
}

export async function scanStore(d: StorageDriver, opts: ScanOptions): Promise<Inventory> {
  const strays: string[] = [];
  const odd = new Map<string, boolean>();
  const only = opts.repos?.length ? opts.repos : undefined;
  const blobs = new Map<Digest, BlobInfo>();
  const [repos] = await Promise.all([
    d.prefersFlatListing ? scanReposFlat(d, only, strays, odd) : scanReposTree(d, only, opts.concurrency, strays, odd),
    only ? undefined : scanBlobs(d, opts.concurrency, blobs, opts.onBlob),
  ]);
  for (const name of only ?? []) {
    if (!repos.some((r) => r.name === name)) throw new NotFoundError(`repository ${name} is not in the store`);
  }
  await eachLimit(
    repos.filter((r) => r.hasUploads),
    opts.concurrency,
    async (r) => {
      r.uploads = await listUploads(d, r.name);
    },
  );
  repos.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { repos, blobs, allBlobs: !only, strays, oddNames: [...odd].sort().map(([name, unaddressable]) => ({ name, unaddressable })) };
}
