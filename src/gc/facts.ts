// Between mark and plan: the facts the plan needs that a tree listing (filesystem) did not give,
// fetched only for candidates. Sizes and times of unmarked blobs, times of the `_layers` links
// that point at them or at missing blobs, the newest file of repositories about to lose their
// last revision, and tag history entries where revisions go. Flat listings (S3) had them all.
import type { StorageDriver } from '../drivers/driver.js';
import { statBlob } from '../store/blobs.js';
import { layerLinkPath, layersDir, manifestsDir, uploadsDir } from '../store/paths.js';
import { eachLimit } from '../util/each-limit.js';
import type { RepoMark } from './mark.js';
import { fileTime, listTagHistory } from './scan.js';
import { LISTED, MARKED, type BlobTable, type RepoScan } from './store-scan.js';

/** A blob the sweep may delete: its data exists and nothing kept references it. */
export function isCandidate(table: BlobTable, i: number): boolean {
  return (table.flags.data[i]! & (LISTED | MARKED)) === LISTED;
}

async function statBlobs(d: StorageDriver, table: BlobTable, concurrency: number): Promise<void> {
  const todo: number[] = [];
  for (let i = 0; i < table.set.size; i++) if (isCandidate(table, i) && Number.isNaN(table.mtime.data[i])) todo.push(i);
  await eachLimit(todo, concurrency, async (i) => {
    const st = await statBlob(d, table.set.digest(i));
    if (st && !st.isDir) {
      table.size.data[i] = st.size;
      table.mtime.data[i] = st.modTime.getTime();
    } else table.flags.data[i]! &= ~LISTED; // a blob directory without data
  });
}

/** Newest modification time of any file of a repository (NaN when it has none). */
export async function newestFile(d: StorageDriver, repo: string): Promise<number> {
  let newest = NaN;
  for (const dir of [manifestsDir(repo), layersDir(repo), uploadsDir(repo)]) {
    for await (const f of d.walk(dir)) if (!(newest >= f.modTime.getTime())) newest = f.modTime.getTime();
  }
  return newest;
}

/** Fills unknown times of `_layers` links to blobs `want` selects (-1: no link file). */
export async function fetchLinkTimes(d: StorageDriver, table: BlobTable, repos: RepoScan[], want: (b: number) => boolean, concurrency: number): Promise<void> {
  const links: { times: number[]; j: number; path: string }[] = [];
  for (const repo of repos) {
    repo.layers.forEach((b, j) => {
      if (Number.isNaN(repo.layerTimes[j]) && want(b)) links.push({ times: repo.layerTimes, j, path: layerLinkPath(repo.name, table.set.digest(b)) });
    });
  }
  await eachLimit(links, concurrency, async (l) => {
    l.times[l.j] = (await fileTime(d, l.path)) ?? -1;
  });
}

export async function fetchFacts(d: StorageDriver, table: BlobTable, marks: RepoMark[], concurrency: number): Promise<void> {
  await statBlobs(d, table, concurrency);
  const repos = marks.map((m) => m.repo);
  await fetchLinkTimes(d, table, repos, (b) => isCandidate(table, b) || !table.has(b, LISTED), concurrency);
  await eachLimit(marks, concurrency, async (m) => {
    const r = m.repo;
    if (m.deleteRevisions.length > 0) await listTagHistory(d, table, r);
    if (!m.pinned && m.deleteRevisions.length === r.revisions.length && Number.isNaN(r.newest)) r.newest = await newestFile(d, r.name);
  });
}
