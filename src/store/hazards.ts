// Unsafe paths of a store: symlinks, FIFOs, sockets, devices, and small files over their bound.
// The filesystem driver never follows or opens them (util/confine-sync.ts); this module finds
// them (a survey of the layout's directories, by entry type, no file opened), logs the ones met
// while reading, and says how far each one's doubt reaches: what gc must keep because of it.
import type { ListedEntry, StorageDriver } from '../drivers/driver.js';
import { InvalidPathError, PathNotFoundError, UnsafePathError, hazardText, type HazardKind } from '../errors.js';
import { REPOSITORIES, ROOT } from './paths.js';
import { byPath } from '../util/compare.js';

export interface Hazard {
  path: string;
  kind: HazardKind;
  detail?: string;
}

/** Hazards found, each path once. */
export class HazardLog {
  private readonly byPath = new Map<string, Hazard>();

  add(h: Hazard | UnsafePathError): void {
    if (this.byPath.has(h.path)) return;
    const detail = h instanceof UnsafePathError ? undefined : h.detail;
    this.byPath.set(h.path, { path: h.path, kind: h.kind, ...(detail ? { detail } : {}) });
  }

  get size(): number {
    return this.byPath.size;
  }

  list(): Hazard[] {
    return [...this.byPath.values()].sort(byPath);
  }
}

export function describeHazard(h: Hazard): string {
  return `${h.path} is ${hazardText(h.kind)}${h.detail ? ` (${h.detail})` : ''}`;
}

const CHAIN = ['/docker', '/docker/registry', ROOT];

/**
 * Every symlink and special file from the store root's `docker` down through the whole
 * `docker/registry/v2/` tree, by the entry types of directory listings (nothing is opened or
 * followed). Backends without entry types (S3: no symlinks) have nothing to find.
 */
export async function surveyHazards(d: StorageDriver, log: HazardLog): Promise<void> {
  if (!d.listEntries || !d.listTree) return;
  const list = d.listEntries.bind(d);
  /** A directory's entries, or none when it cannot be listed for a reason the survey logs or leaves to the scan. */
  const listable = (err: unknown): ListedEntry[] => {
    if (err instanceof PathNotFoundError) return [];
    // A directory no driver path can name: the scan reports it as unaddressable and gc then
    // deletes no blob at all, so there is nothing more for this survey to protect below it.
    if (err instanceof InvalidPathError) return [];
    if (err instanceof UnsafePathError) {
      log.add(err);
      return [];
    }
    throw err;
  };
  // Above the layout the chain to `v2` is what matters; other entries of the store root are not
  // the registry's, but a symlink or special file inside `docker/` or `docker/registry/` is
  // reported too: a store holding them was not written by the registry alone.
  let parent = '/';
  for (const step of CHAIN) {
    const listed = await list(parent).catch(listable);
    if (parent !== '/') {
      for (const x of listed) {
        if (x.path === step) continue;
        if (x.type === 'symlink') log.add({ path: x.path, kind: 'symlink' });
        else if (x.type === 'other') log.add({ path: x.path, kind: 'special' });
      }
    }
    const e = listed.find((x) => x.path === step);
    if (!e) return;
    if (e.type === 'symlink' || e.type === 'other') {
      log.add({ path: e.path, kind: e.type === 'symlink' ? 'symlink' : 'special' });
      return;
    }
    if (e.type !== 'dir') return;
    parent = step;
  }
  for await (const listed of d.listTree(ROOT)) {
    for (const e of 'error' in listed ? listable(listed.error) : listed.entries) {
      if (e.type === 'symlink') log.add({ path: e.path, kind: 'symlink' });
      else if (e.type === 'other') log.add({ path: e.path, kind: 'special' });
    }
  }
}

/**
 * How far a hazard's doubt reaches:
 * - store: nothing is deleted (a symlink the registry would follow in blobs/ or repositories/
 *   can alias anything; a hazard on the way to them hides everything);
 * - repo: a repository whose references cannot be read whole: its manifests stay, and since it
 *   could reference any blob, every blob stays;
 * - upload: one upload (or all of a repository's, `id` undefined) stays;
 * - blobs: blobs whose hex starts with `prefix` stay ('' for all);
 * - none: outside what the registry reads; reported only.
 */
export type HazardScope = { kind: 'store' } | { kind: 'repo'; repo: string } | { kind: 'upload'; repo: string; id?: string } | { kind: 'blobs'; prefix: string } | { kind: 'none' };

const MARKERS = new Set(['_manifests', '_layers', '_uploads']);

export function hazardScope(h: Hazard): HazardScope {
  const p = h.path;
  if (p === '/' || `${ROOT}/`.startsWith(`${p}/`)) return { kind: 'store' };
  if (!p.startsWith(`${ROOT}/`)) return { kind: 'none' };
  const link = h.kind === 'symlink' || h.kind === 'loop';
  const blobsRoot = `${ROOT}/blobs`;
  if (p === blobsRoot || p.startsWith(`${blobsRoot}/`)) {
    if (p === blobsRoot) return { kind: 'store' };
    const [algo, shard, hex] = p.slice(blobsRoot.length + 1).split('/');
    if (algo === 'sha256' && shard === undefined) return { kind: 'store' };
    // A symlink the registry follows can make one blob path serve another blob's bytes: keep them all.
    if (link || algo !== 'sha256') return { kind: 'blobs', prefix: '' };
    return { kind: 'blobs', prefix: hex ?? shard! };
  }
  if (p === REPOSITORIES) return { kind: 'store' };
  if (!p.startsWith(`${REPOSITORIES}/`)) return { kind: 'none' };
  const parts = p.slice(REPOSITORIES.length + 1).split('/');
  const m = parts.findIndex((c) => MARKERS.has(c));
  if (m <= 0) return link ? { kind: 'store' } : { kind: 'none' };
  const repo = parts.slice(0, m).join('/');
  if (parts[m] === '_uploads') return { kind: 'upload', repo, ...(parts[m + 1] !== undefined ? { id: parts[m + 1] } : {}) };
  return link ? { kind: 'store' } : { kind: 'repo', repo };
}

/** Read operations that meet a hazard log it and answer "not found"; writes and deletes still refuse. */
export function tolerant(d: StorageDriver, log: HazardLog): StorageDriver {
  const guard = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (err) {
      if (!(err instanceof UnsafePathError)) throw err;
      log.add(err);
      throw new PathNotFoundError(d.name, err.path);
    }
  };
  const t: StorageDriver = {
    name: d.name,
    prefersFlatListing: d.prefersFlatListing,
    getContent: (p, max) => guard(() => d.getContent(p, max)),
    putContent: (p, data) => d.putContent(p, data),
    reader: (p, offset) => guard(() => d.reader(p, offset)),
    putStream: (p, data) => d.putStream(p, data),
    stat: (p) => guard(() => d.stat(p)),
    list: (p) => guard(() => d.list(p)),
    walk: (p) =>
      (async function* () {
        for await (const f of d.walk(p)) {
          if (f.type === 'symlink' || f.type === 'other') log.add({ path: f.path, kind: f.type === 'symlink' ? 'symlink' : 'special' });
          else yield f;
        }
      })(),
    move: (s, dest) => d.move(s, dest),
    delete: (p) => d.delete(p),
    deleteFiles: (ps) => d.deleteFiles(ps),
    close: () => d.close(),
  };
  if (d.listEntries) t.listEntries = (p) => guard(() => d.listEntries!(p));
  if (d.touch) t.touch = (p) => d.touch!(p);
  if (d.removeEmptyDir) t.removeEmptyDir = (p) => d.removeEmptyDir!(p);
  return t;
}

/** Whether `path` is the hazard's path, below it, or above it (a deletion of it would reach the hazard). */
export function touchesHazard(path: string, hazards: Hazard[]): Hazard | undefined {
  return hazards.find((h) => h.path === path || path.startsWith(`${h.path}/`) || h.path.startsWith(`${path}/`));
}
