// Listing repositories and their tags for `ls`, cheaply on every backend.
// - Flat-listing backends (S3): one flat walk of a prefix (`repositories/` for the whole store,
//   `<repo>/_manifests/tags/` for one repository), 1,000 keys a request. A tag's `current` link
//   is resolved from its listed ETag (the MD5 of a single-PUT object) against the tag's history
//   entries, without a read when it matches.
// - Filesystem: names from parent directories, one read per `current` link.
import pLimit from 'p-limit';
import { basename, type FileInfo, type StorageDriver } from '../drivers/driver.js';
import { NotFoundError } from '../errors.js';
import type { Digest } from '../image/digest.js';
import { isStoredTag } from '../image/reference.js';
import { eachLimit } from '../util/each-limit.js';
import { linkEtag, MalformedLinkError, readLink } from './links.js';
import { REPOSITORIES, repoDir, splitRepoPath, tagCurrentLinkPath, tagsDir } from './paths.js';
import { listOrEmpty, listRepositories, listRepositoryDirs } from './walk.js';

const HEX_RE = /^[a-f0-9]{64}$/;

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
}

export interface RepoTags {
  name: string;
  tags: TagLink[];
}

interface FlatTag {
  etag?: string;
  hasCurrent: boolean;
  history: Set<string>;
}

interface FlatRepo {
  name: string;
  unaddressable?: boolean;
  /** A repository to the registry: 2.8 looks for `_layers`, 3.x for `_manifests`. */
  isRepo: boolean;
  tags: Map<string, FlatTag>;
}

function flatTag(r: FlatRepo, name: string): FlatTag {
  let t = r.tags.get(name);
  if (!t) r.tags.set(name, (t = { hasCurrent: false, history: new Set() }));
  return t;
}

/** Files one listed key of a repository's `_manifests/tags/<tag>/...` section. */
function addTagFile(r: FlatRepo, rest: string[], f: FileInfo): void {
  const [tag, a, b, c, e] = rest;
  if (tag === undefined || !isStoredTag(tag)) return;
  const t = flatTag(r, tag);
  if (rest.length === 3 && a === 'current' && b === 'link') {
    t.hasCurrent = true;
    t.etag = f.etag;
  } else if (rest.length === 5 && a === 'index' && b === 'sha256' && HEX_RE.test(c!) && e === 'link') {
    t.history.add(c!);
  }
}

/** One flat walk of `repositories/`: every repository with its tag files. */
async function walkAllFlat(d: StorageDriver): Promise<FlatRepo[]> {
  const repos = new Map<string, FlatRepo>();
  for await (const f of d.walk(REPOSITORIES)) {
    const s = splitRepoPath(f.path);
    if (!s) continue;
    let r = repos.get(s.name);
    if (!r) repos.set(s.name, (r = { name: s.name, isRepo: false, tags: new Map(), ...(s.unaddressable ? { unaddressable: true } : {}) }));
    const [top, a] = s.section;
    if (s.unaddressable) {
      r.isRepo ||= top === '_layers' || top === '_manifests';
      continue;
    }
    if (top === '_layers' || top === '_manifests') r.isRepo = true;
    if (top === '_manifests' && a === 'tags') addTagFile(r, s.section.slice(2), f);
  }
  return [...repos.values()].filter((r) => r.isRepo).sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}

async function readCurrent(d: StorageDriver, repo: string, tag: string): Promise<TagLink> {
  try {
    const digest = await readLink(d, tagCurrentLinkPath(repo, tag));
    return digest ? { tag, digest } : { tag };
  } catch (err) {
    if (err instanceof MalformedLinkError) return { tag, problem: err.message };
    throw err;
  }
}

/** Tags of a flat-listed repository: current links named by their ETag, else read. */
async function resolveFlat(d: StorageDriver, r: FlatRepo, limit: ReturnType<typeof pLimit>): Promise<TagLink[]> {
  const names = [...r.tags.keys()].sort();
  return Promise.all(
    names.map(async (tag): Promise<TagLink> => {
      const t = r.tags.get(tag)!;
      if (!t.hasCurrent) return { tag };
      const etag = t.etag?.toLowerCase();
      if (etag) {
        for (const hex of t.history) {
          const digest: Digest = `sha256:${hex}`;
          if (linkEtag(digest) === etag) return { tag, digest };
        }
      }
      return limit(() => readCurrent(d, r.name, tag));
    }),
  );
}

/** True when `repo` is a repository to the registry (has `_manifests` or `_layers`). */
async function repoExists(d: StorageDriver, repo: string): Promise<boolean> {
  const markers = (await listOrEmpty(d, repoDir(repo))).map(basename);
  return markers.includes('_manifests') || markers.includes('_layers');
}

/** Every repository, sorted, with its number of tags. */
const escaped = (name: string): string => JSON.stringify(name).slice(1, -1);

export async function listRepositorySummaries(d: StorageDriver, concurrency: number): Promise<RepoListing[]> {
  if (d.prefersFlatListing) {
    return (await walkAllFlat(d)).map((r) => (r.unaddressable ? { name: escaped(r.name), tagCount: 0, unaddressable: true } : { name: r.name, tagCount: r.tags.size }));
  }
  const dirs = await listRepositoryDirs(d);
  const odd: RepoListing[] = dirs.filter((e) => e.unaddressable).map((e) => ({ name: escaped(e.name), tagCount: 0, unaddressable: true }));
  const names = dirs.filter((e) => !e.unaddressable && (e.hasManifests || e.hasLayers)).map((e) => e.name);
  const out: RepoListing[] = names.map((name) => ({ name, tagCount: 0 }));
  await eachLimit(out, concurrency, async (r) => {
    r.tagCount = (await listOrEmpty(d, tagsDir(r.name))).map(basename).filter(isStoredTag).length;
  });
  return [...out, ...odd].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Tags of one repository with what each points at. Throws NotFoundError for a missing repository. */
export async function listRepoTags(d: StorageDriver, repo: string, concurrency: number): Promise<RepoTags> {
  const limit = pLimit(Math.max(1, concurrency));
  let tags: TagLink[];
  if (d.prefersFlatListing) {
    const r: FlatRepo = { name: repo, isRepo: true, tags: new Map() };
    const dir = tagsDir(repo);
    for await (const f of d.walk(dir)) addTagFile(r, f.path.slice(dir.length + 1).split('/'), f);
    tags = await resolveFlat(d, r, limit);
  } else {
    const names = (await listOrEmpty(d, tagsDir(repo))).map(basename).filter(isStoredTag);
    tags = await Promise.all(names.map((t) => limit(() => readCurrent(d, repo, t))));
  }
  if (tags.length === 0 && !(await repoExists(d, repo))) throw new NotFoundError(`repository ${repo} is not in the store (regbucket ls lists them)`);
  return { name: repo, tags };
}

/** Tags of every repository (repositories without tags included, with none). */
export async function listAllTags(d: StorageDriver, concurrency: number): Promise<RepoTags[]> {
  const limit = pLimit(Math.max(1, concurrency));
  if (d.prefersFlatListing) {
    const repos = (await walkAllFlat(d)).filter((r) => !r.unaddressable);
    return Promise.all(repos.map(async (r) => ({ name: r.name, tags: await resolveFlat(d, r, limit) })));
  }
  const names = await listRepositories(d);
  return Promise.all(
    names.map(async (name) => {
      const tags = (await limit(() => listOrEmpty(d, tagsDir(name)))).map(basename).filter(isStoredTag);
      return { name, tags: await Promise.all(tags.map((t) => limit(() => readCurrent(d, name, t)))) };
    }),
  );
}
