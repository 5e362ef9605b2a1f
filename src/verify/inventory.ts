// What an audit looks at, from the one enumerator (store/enumerate.ts): every link of every
// repository and every blob. Flat listings (S3) give each link's ETag; tree listings (filesystem)
// name links from their parent directories, and each candidate link is confirmed when it is read.
import type { FileInfo, StorageDriver } from '../drivers/driver.js';
import { NotFoundError } from '../errors.js';
import type { Digest } from '../image/digest.js';
import { isRepoName, isTag } from '../image/reference.js';
import { statBlob } from '../store/blobs.js';
import { enumerateStore, UploadAges, type StoreEntry } from '../store/enumerate.js';
import { isAliasLinkPath, REPOSITORIES } from '../store/paths.js';
import { eachLimit } from '../util/each-limit.js';
import { byName } from '../util/compare.js';
import { stampOf, type BlobStamp } from './checkpoint.js';

/** An upload in progress and when it started (from `startedat`, else its newest file). */
export interface UploadEntry {
  repo: string;
  id: string;
  path: string;
  startedAt?: Date;
}

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
  /** Size, modification time and ETag as listed or stat'ed, when they were (verify --checkpoint). */
  stamp?: BlobStamp;
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

/** Files one entry under its repository; strays inside repositories (uploads aside) are reported. */
function addEntry(repo: RepoInventory, e: StoreEntry, strays: string[]): void {
  const etag = e.info?.etag;
  const tag = (e as { tag?: string }).tag;
  if (tag !== undefined && !isTag(tag)) {
    strays.push(e.path); // a tag directory outside the grammar: reported, not audited as a tag
    return;
  }
  const t = tag === undefined ? undefined : tagEntry(repo, tag);
  switch (e.kind) {
    case 'area':
      if (e.area === '_layers') repo.hasLayers = true;
      else if (e.area === '_manifests') repo.hasManifests = true;
      else repo.hasUploads = true;
      return;
    case 'layer-link':
      repo.layers.push({ role: 'layer', repo: repo.name, path: e.path, named: e.digest, etag });
      return;
    case 'revision-link':
      repo.revisions.push({ role: 'revision', repo: repo.name, path: e.path, named: e.digest, etag });
      return;
    case 'tag-current':
      t!.current = { role: 'tag-current', repo: repo.name, tag, path: e.path, etag };
      return;
    case 'tag-index':
      t!.index.push({ role: 'tag-index', repo: repo.name, tag, path: e.path, named: e.digest, etag });
      return;
    case 'stray':
      // Alias links are read where a manifest needs them (aliases.ts).
      if (e.area !== '_uploads' && !isAliasLinkPath(e.path)) strays.push(e.path);
      return;
    default:
      return; // uploads (aged below), schema 1 signature links
  }
}

function blobInfo(digest: Digest, st: FileInfo | undefined): BlobInfo {
  const stamp = stampOf(st);
  return { digest, exists: stamp !== undefined, size: stamp?.size, ...(stamp ? { stamp } : {}) };
}

/** Fills `blobs` for digests it does not hold yet or holds without a size. */
export async function statBlobs(d: StorageDriver, digests: Iterable<Digest>, concurrency: number, blobs: Map<Digest, BlobInfo>): Promise<void> {
  const todo = [...new Set(digests)].filter((g) => blobs.get(g)?.size === undefined);
  await eachLimit(todo, concurrency, async (digest) => {
    const info = blobInfo(digest, await statBlob(d, digest));
    const known = blobs.get(digest);
    if (known)
      Object.assign(known, info); // the same object the hashing holds
    else blobs.set(digest, info);
  });
}

export interface ScanOptions {
  /** Audit only these repositories (and the blobs they use). */
  repos?: string[];
  concurrency: number;
  /** Whole-store scans: called for each blob with data as it is found. */
  onBlob?: (b: BlobInfo) => Promise<void>;
  /** Which blobs go to onBlob (default: all); the others are stat'ed when the listing has no size. */
  hashes?: (digest: Digest) => boolean;
}

export async function scanStore(d: StorageDriver, opts: ScanOptions): Promise<Inventory> {
  const strays: string[] = [];
  const only = opts.repos?.length ? opts.repos : undefined;
  const blobs = new Map<Digest, BlobInfo>();
  const repos = new Map<string, RepoInventory>();
  const uploads = new UploadAges();
  const odd = new Map<string, boolean>();
  // Blobs whose data the listing did not stat: hashing tells existence and size; else a stat.
  const foundBlob = async (e: StoreEntry & { kind: 'blob-data' }): Promise<void> => {
    const hashed = opts.onBlob && (opts.hashes?.(e.digest) ?? true) ? opts.onBlob : undefined;
    const b = e.info ? blobInfo(e.digest, e.info) : hashed ? { digest: e.digest, exists: true } : blobInfo(e.digest, await statBlob(d, e.digest));
    blobs.set(b.digest, b);
    if (b.exists) await hashed?.(b);
  };
  await enumerateStore(d, { concurrency: opts.concurrency, repos: only, blobs: !only }, async (e) => {
    if (e.kind === 'blob-data') return foundBlob(e);
    const name = (e as { repo?: string }).repo;
    if (name === undefined) {
      if (e.kind === 'stray' && e.path.startsWith(`${REPOSITORIES}/`)) strays.push(e.path);
      return;
    }
    const unaddressable = e.kind === 'stray' && e.unaddressable === true;
    if (!isRepoName(name)) odd.set(name, unaddressable || odd.get(name) === true);
    if (unaddressable) return;
    let repo = repos.get(name);
    if (!repo) repos.set(name, (repo = newRepo(name)));
    addEntry(repo, e, strays);
    uploads.add(e);
  });
  for (const name of only ?? []) {
    if (!repos.has(name)) throw new NotFoundError(`repository ${name} is not in the store`);
  }
  for (const u of await uploads.finish(d, opts.concurrency)) {
    repos.get(u.repo)?.uploads.push({ repo: u.repo, id: u.id, path: u.path, startedAt: Number.isNaN(u.startedAt) ? undefined : new Date(u.startedAt) });
  }
  const sorted = [...repos.values()].sort(byName);
  return { repos: sorted, blobs, allBlobs: !only, strays, oddNames: [...odd].sort().map(([name, unaddressable]) => ({ name, unaddressable })) };
}
