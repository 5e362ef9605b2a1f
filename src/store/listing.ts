// Listing repositories and their tags for `ls`, from the one enumerator (store/enumerate.ts).
// - Flat-listing backends (S3): one flat walk (`repositories/` for the whole store,
//   `<repo>/_manifests/tags/` for one repository). A tag's `current` link is resolved from its
//   listed ETag (the MD5 of a single-PUT object) against the tag's history entries, without a read
//   when it matches.
// - Filesystem: names from parent directories, one read per `current` link.
import pLimit from 'p-limit';
import type { StorageDriver } from '../drivers/driver.js';
import type { Digest } from '../image/digest.js';
import { isRepoName, isStoredRepoName, isStoredTag } from '../image/reference.js';
import { enumerateStore } from './enumerate.js';
import { linkEtag, MalformedLinkError, readLink } from './links.js';
import { tagCurrentLinkPath } from './paths.js';
import { repositoryNotFound } from './suggest.js';
import { byName } from '../util/compare.js';
import { orIfNotFound } from '../util/not-found.js';

export interface RepoListing {
  /** The name (escaped as a JSON string's content when `unaddressable`). */
  name: string;
  /** A directory whose name no storage path can hold: shown, never read. */
  unaddressable?: boolean;
  /** Directories under `_manifests/tags/` (what the registry's tags/list returns). */
  tagCount: number;
}

export interface TagLink {
  tag: string;
  /** What `current/link` names; undefined for a tag directory without a current link. */
  digest?: Digest;
  /** Why the current link could not be read (malformed content). */
  problem?: string;
  /** Push time: the current link's modification time (ms since the epoch). */
  pushed?: number;
}

export interface RepoTags {
  name: string;
  tags: TagLink[];
}

interface ListedTag {
  /** A current link was listed (flat) or is named by a tag directory (tree: read to know). */
  hasCurrent: boolean;
  etag?: string;
  /** The current link's modification time, when the walk reported it (S3: LastModified). */
  time?: number;
  history: Set<Digest>;
}

interface ListedRepo {
  name: string;
  unaddressable?: boolean;
  /** A repository to the registry: 2.8 looks for `_layers`, 3.x for `_manifests`. */
  isRepo: boolean;
  tags: Map<string, ListedTag>;
}

/**
 * Repositories with their tags from the one enumerator: flat walks see each tag's history (to
 * resolve `current` from its ETag), tree walks only list the tag directories.
 */
async function listTagged(d: StorageDriver, concurrency: number, repos?: string[]): Promise<ListedRepo[]> {
  const out = new Map<string, ListedRepo>();
  const flat = d.prefersFlatListing;
  await enumerateStore(d, { concurrency, repos, blobs: false, layers: false, revisions: false, uploads: false, tags: true, tagHistory: flat }, (e) => {
    const { repo: name, tag } = e as { repo?: string; tag?: string };
    if (name === undefined) return;
    let r = out.get(name);
    if (!r) out.set(name, (r = { name, isRepo: false, tags: new Map() }));
    if (e.kind === 'stray' && e.unaddressable) {
      // Shown as such when the name itself cannot be addressed; an odd key inside is verify's to report.
      if (!isRepoName(name) && !isStoredRepoName(name)) r.unaddressable = true;
      return;
    }
    if (e.kind === 'area' && (e.area === '_layers' || e.area === '_manifests')) r.isRepo = true;
    if (tag === undefined || !isStoredTag(tag)) return;
    let t = r.tags.get(tag);
    if (!t) r.tags.set(tag, (t = { hasCurrent: false, history: new Set() }));
    if (e.kind === 'tag-current') {
      t.hasCurrent = true;
      t.etag = e.info?.etag;
      t.time = e.info?.modTime.getTime();
    } else if (e.kind === 'tag-index') t.history.add(e.digest);
  });
  return [...out.values()].sort(byName);
}

async function readCurrent(d: StorageDriver, repo: string, tag: string, time?: number): Promise<TagLink> {
  try {
    const path = tagCurrentLinkPath(repo, tag);
    // The time first: a tag re-pushed between the two reads shows the older time, never a newer one.
    const pushed = time ?? (await orIfNotFound(() => d.stat(path), undefined).then((st) => (!st || st.isDir ? undefined : st.modTime.getTime())));
    const digest = await readLink(d, path);
    return digest ? { tag, digest, ...(pushed !== undefined ? { pushed } : {}) } : { tag };
  } catch (err) {
    if (err instanceof MalformedLinkError) return { tag, problem: err.message };
    throw err;
  }
}

/** Tags of a listed repository: current links named by their ETag, else read. */
async function resolveTags(d: StorageDriver, r: ListedRepo, limit: ReturnType<typeof pLimit>): Promise<TagLink[]> {
  const names = [...r.tags.keys()].sort();
  return Promise.all(
    names.map(async (tag): Promise<TagLink> => {
      const t = r.tags.get(tag)!;
      if (!t.hasCurrent) return { tag };
      const etag = t.etag?.toLowerCase();
      if (etag) {
        for (const digest of t.history) {
          if (linkEtag(digest) === etag) return { tag, digest, ...(t.time !== undefined ? { pushed: t.time } : {}) };
        }
      }
      return limit(() => readCurrent(d, r.name, tag, t.time));
    }),
  );
}

/** Every repository, sorted, with its number of tags. */
const escaped = (name: string): string => JSON.stringify(name).slice(1, -1);

export async function listRepositorySummaries(d: StorageDriver, concurrency: number): Promise<RepoListing[]> {
  const out = (await listTagged(d, concurrency))
    .filter((r) => r.isRepo || r.unaddressable)
    .map((r): RepoListing => (r.unaddressable ? { name: escaped(r.name), tagCount: 0, unaddressable: true } : { name: r.name, tagCount: r.tags.size }));
  return out.sort(byName);
}

/** Tags of one repository with what each points at. Throws NotFoundError for a missing repository. */
export async function listRepoTags(d: StorageDriver, repo: string, concurrency: number): Promise<RepoTags> {
  const limit = pLimit(Math.max(1, concurrency));
  const [r] = await listTagged(d, concurrency, [repo]);
  const tags = r ? await resolveTags(d, r, limit) : [];
  if (tags.length === 0) {
    const missing = await repositoryNotFound(d, repo);
    if (missing) throw missing;
  }
  return { name: repo, tags };
}

/** Tags of every repository (repositories without tags included, with none). */
export async function listAllTags(d: StorageDriver, concurrency: number): Promise<RepoTags[]> {
  const limit = pLimit(Math.max(1, concurrency));
  const repos = (await listTagged(d, concurrency)).filter((r) => r.isRepo && !r.unaddressable);
  return Promise.all(repos.map(async (r) => ({ name: r.name, tags: await resolveTags(d, r, limit) })));
}
