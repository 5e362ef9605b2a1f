// Directory-level helpers under the one enumerator (enumerate.ts): listings that tolerate a
// missing directory, the repository directories, and the digests a links directory names.
import { basename, dirname, hasFastReads, joinPath, type StorageDriver } from '../drivers/driver.js';
import type { Digest } from '../image/digest.js';
import { isRepoName, isStoredRepoName } from '../image/reference.js';
import { REPOSITORIES, digestLinkPath, isHex, layersDir, parseStorePath, repoDir, revisionsDir } from './paths.js';
import { byName } from '../util/compare.js';
import { orIfNotFound } from '../util/not-found.js';

const REPO_MARKERS = new Set(['_manifests', '_layers', '_uploads']);

/** Names of a directory's entries (unsorted), none when it does not exist. */
export async function entryNames(d: StorageDriver, path: string): Promise<string[]> {
  return hasFastReads(d) ? d.listNames(path) : (await listOrEmpty(d, path)).map(basename);
}

/** Direct children of a directory, none if it does not exist. */
export async function listOrEmpty(d: StorageDriver, path: string): Promise<string[]> {
  return orIfNotFound(() => d.list(path), []);
}

/** True when `repo` is a repository to the registry (has `_manifests` or `_layers`). */
export async function repoExists(d: StorageDriver, repo: string): Promise<boolean> {
  const markers = (await listOrEmpty(d, repoDir(repo))).map(basename);
  return markers.includes('_manifests') || markers.includes('_layers');
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
        return Promise.resolve();
      }),
    );
  };
  await visit(REPOSITORIES, '');
  return out.sort(byName);
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
      const e = parseStorePath(f.path);
      // The link kinds whose directory names the digest, directly below `dir`.
      if ((e.kind === 'layer-link' || e.kind === 'revision-link' || e.kind === 'tag-index') && dirname(dirname(f.path)) === dir) out.push(e.digest);
    }
    return out.sort();
  }
  // 2.8 leaves an empty `<hex>/` behind when it deletes a revision: only a dir with a link counts.
  for (const p of await listOrEmpty(d, dir)) {
    const hex = basename(p);
    if (!isHex(hex)) continue;
    const st = await orIfNotFound(() => d.stat(digestLinkPath(dir, hex)), undefined);
    if (st && !st.isDir) out.push(`sha256:${hex}`);
  }
  return out;
}

export function listRevisions(d: StorageDriver, repo: string): Promise<Digest[]> {
  return listLinkedDigests(d, revisionsDir(repo));
}

export function listLayerLinks(d: StorageDriver, repo: string): Promise<Digest[]> {
  return listLinkedDigests(d, layersDir(repo));
}
