// Enumerating a store cheaply. Digests are in directory names, so listings of parent
// directories name every blob, revision and layer link without opening them. On S3 (flat
// listings) one request returns 1,000 keys; on a filesystem, reading names from the parent
// directories avoids descending into every leaf.
import { basename, hasFastReads, joinPath, type FileInfo, type StorageDriver } from '../drivers/driver.js';
import { isNotFound } from '../errors.js';
import type { Digest } from '../image/digest.js';
import { isRepoName, isStoredRepoName } from '../image/reference.js';
import { BLOBS, REPOSITORIES, layersDir, revisionsDir, uploadsDir } from './paths.js';

const HEX_RE = /^[a-f0-9]{64}$/;
const REPO_MARKERS = new Set(['_manifests', '_layers', '_uploads']);

/** Names of a directory's entries (unsorted), none when it does not exist. */
export async function entryNames(d: StorageDriver, path: string): Promise<string[]> {
  return hasFastReads(d) ? d.listNames(path) : (await listOrEmpty(d, path)).map(basename);
}

/** Direct children of a directory, none if it does not exist. */
export async function listOrEmpty(d: StorageDriver, path: string): Promise<string[]> {
  try {
    return await d.list(path);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

export interface RepositoryEntry {
  name: string;
  hasManifests: boolean;
  hasLayers: boolean;
  hasUploads: boolean;
  /** Outside the registry grammar regbucket accepts as input (still a repository to the registry's walk). */
  outsideGrammar?: boolean;
  /**
   * A directory below `repositories/` whose name no driver path can hold (a space, a control
   * character): nothing in it can be read. Its other fields are false.
   */
  unaddressable?: boolean;
}

/**
 * Every directory below `repositories/` that holds `_manifests`, `_layers` or `_uploads`,
 * sorted by name, whatever its name (the registry's walk visits them all): names outside the
 * grammar are flagged, and directories whose names cannot be addressed are listed as
 * `unaddressable` and not entered. Repositories nest (`a` and `a/b` can both exist). Uses
 * directory listings on every backend: there are few directories above the repository level.
 */
export async function listRepositoryDirs(d: StorageDriver): Promise<RepositoryEntry[]> {
  const out: RepositoryEntry[] = [];
  const visit = async (dir: string, name: string): Promise<void> => {
    const children = (await listOrEmpty(d, dir)).map(basename);
    const markers = children.filter((c) => REPO_MARKERS.has(c));
    if (name && markers.length > 0) {
      out.push({
        name,
        hasManifests: markers.includes('_manifests'),
        hasLayers: markers.includes('_layers'),
        hasUploads: markers.includes('_uploads'),
        ...(isRepoName(name) ? {} : { outsideGrammar: true }),
      });
    }
    const subdirs = children.filter((c) => !c.startsWith('_'));
    await Promise.all(
      subdirs.map((c) => {
        const child = name ? `${name}/${c}` : c;
        if (isStoredRepoName(child)) return visit(joinPath(dir, c), child);
        out.push({ name: child, hasManifests: false, hasLayers: false, hasUploads: false, outsideGrammar: true, unaddressable: true });
        return undefined;
      }),
    );
  };
  await visit(REPOSITORIES, '');
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Repositories as the registry's catalog sees them: not those with only `_uploads`. */
export async function listRepositories(d: StorageDriver): Promise<string[]> {
  return (await listRepositoryDirs(d)).filter((r) => !r.unaddressable && (r.hasManifests || r.hasLayers)).map((r) => r.name);
}

/** Digests named by `<dir>/<hex>/link` entries below `dir` (revisions, layer links, tag index). */
export async function listLinkedDigests(d: StorageDriver, dir: string): Promise<Digest[]> {
  const out: Digest[] = [];
  if (d.prefersFlatListing) {
    for await (const f of d.walk(dir)) {
      const rest = f.path.slice(dir.length + 1).split('/');
      if (rest.length === 2 && rest[1] === 'link' && HEX_RE.test(rest[0]!)) out.push(`sha256:${rest[0]}`);
    }
    return out.sort();
  }
  // 2.8 leaves an empty `<hex>/` behind when it deletes a revision: only a dir with a link counts.
  for (const p of await listOrEmpty(d, dir)) {
    const hex = basename(p);
    if (!HEX_RE.test(hex)) continue;
    try {
      const st = await d.stat(`${p}/link`);
      if (!st.isDir) out.push(`sha256:${hex}`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return out;
}

export function listRevisions(d: StorageDriver, repo: string): Promise<Digest[]> {
  return listLinkedDigests(d, revisionsDir(repo));
}

export function listLayerLinks(d: StorageDriver, repo: string): Promise<Digest[]> {
  return listLinkedDigests(d, layersDir(repo));
}

export interface UploadEntry {
  repo: string;
  id: string;
  path: string;
  /** From `startedat`, else the newest modification time inside the upload dir. */
  startedAt?: Date;
}

export async function listUploads(d: StorageDriver, repo: string): Promise<UploadEntry[]> {
  const out: UploadEntry[] = [];
  for (const p of await listOrEmpty(d, uploadsDir(repo))) {
    const entry: UploadEntry = { repo, id: basename(p), path: p };
    try {
      const t = new Date((await d.getContent(`${p}/startedat`)).toString('utf8').trim());
      if (!Number.isNaN(t.getTime())) entry.startedAt = t;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!entry.startedAt) {
      for await (const f of d.walk(p)) {
        if (!entry.startedAt || f.modTime > entry.startedAt) entry.startedAt = f.modTime;
      }
    }
    out.push(entry);
  }
  return out;
}

export interface BlobEntry {
  digest: Digest;
  /** Present when the listing returned it (flat listings do); stat the data path otherwise. */
  info?: FileInfo;
}

/**
 * Every blob directory in `blobs/sha256/`, shard by shard. Flat listings report size and
 * modification time of `data`; tree listings only name the directories (stat lazily). A blob
 * directory without `data` (a crashed writer, a half-finished delete) still appears, without info,
 * when listing by tree.
 */
export async function* walkBlobs(d: StorageDriver, shards?: string[]): AsyncIterable<BlobEntry> {
  const shardDirs = shards ? shards.map((s) => `${BLOBS}/${s}`) : await listOrEmpty(d, BLOBS);
  for (const shard of shardDirs) {
    if (!/^[a-f0-9]{2}$/.test(basename(shard))) continue;
    if (d.prefersFlatListing) {
      for await (const f of d.walk(shard)) {
        const rest = f.path.slice(shard.length + 1).split('/');
        if (rest.length === 2 && rest[1] === 'data' && HEX_RE.test(rest[0]!)) yield { digest: `sha256:${rest[0]}`, info: f };
      }
    } else {
      for (const p of await listOrEmpty(d, shard)) {
        const hex = basename(p);
        if (HEX_RE.test(hex)) yield { digest: `sha256:${hex}` };
      }
    }
  }
}

