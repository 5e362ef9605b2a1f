// What retention and du read from a store: repositories with their tags (current link and its
// modification time, the push time), revisions with their link times, and, where the plan needs
// them, the manifests (children, subjects). Everything comes from the gc's scan (one walk: flat on
// S3, with times and ETags from the listing; directory listings on a filesystem, plus a stat per
// tag for its time) and the gc's manifest reader. This file is the only place retention touches
// the scan: switching to another enumerator changes this file alone.
import type { StorageDriver } from '../drivers/driver.js';
import type { Digest } from '../image/digest.js';
import { readManifests, type ManifestGraph } from '../gc/manifest-graph.js';
import { markStore } from '../gc/mark.js';
import { fileTime, scanBlobs, scanRepositories, scanRepository } from '../gc/scan.js';
import { BlobTable, LISTED, type RepoScan } from '../gc/store-scan.js';
import { statBlob } from '../store/blobs.js';
import { tagCurrentLinkPath } from '../store/paths.js';
import { eachLimit } from '../util/each-limit.js';
import type { ManifestFact, RepoFacts } from './plan.js';

export interface ReadOptions {
  concurrency: number;
  /** Read the manifests of this repository (children and subjects matter to its plan). */
  wantManifests: (repo: string, tags: { name: string }[]) => boolean;
}

async function tagTimes(d: StorageDriver, repos: RepoScan[], concurrency: number): Promise<void> {
  const todo = repos.flatMap((r) => r.tags.filter((t) => t.currentTime === undefined && t.current !== undefined).map((t) => ({ r, t })));
  await eachLimit(todo, concurrency, async ({ r, t }) => {
    t.currentTime = (await fileTime(d, tagCurrentLinkPath(r.name, t.name))) ?? NaN;
  });
}

/** The manifests read, by digest: one map that every repository's facts share. */
function manifestFacts(table: BlobTable, graph: ManifestGraph, into = new Map<Digest, ManifestFact>()): Map<Digest, ManifestFact> {
  const digest = (i: number): Digest => table.set.digest(i);
  for (const [i, info] of graph) {
    if (info.state === 'ok') into.set(digest(i), { state: 'ok', children: info.children.map(digest), ...(info.subject >= 0 ? { subject: digest(info.subject) } : {}) });
    else into.set(digest(i), info);
  }
  return into;
}

function factsOf(table: BlobTable, manifests: Map<Digest, ManifestFact> | undefined, r: RepoScan): RepoFacts {
  const digest = (i: number): Digest => table.set.digest(i);
  const revisions = new Map<Digest, number>();
  r.revisions.forEach((rev, j) => revisions.set(digest(rev), r.revisionTimes[j]!));
  return {
    name: r.name,
    tags: r.tags.map((t) => ({
      name: t.name,
      ...(t.current !== undefined ? { digest: digest(t.current) } : {}),
      pushed: t.currentTime ?? NaN,
      ...(t.unreadable ? { unreadable: t.unreadable } : {}),
    })),
    revisions,
    ...(manifests ? { manifests } : {}),
  };
}

/**
 * `known`: manifests read before, whose facts stand. A manifest read whole is content-addressed:
 * it reads the same again, so only revisions it lacks (pushed since) are read.
 */
async function toFacts(d: StorageDriver, table: BlobTable, scans: RepoScan[], opts: ReadOptions, known?: Map<Digest, ManifestFact>): Promise<RepoFacts[]> {
  await tagTimes(d, scans, opts.concurrency);
  const want = scans.filter((r) => opts.wantManifests(r.name, r.tags));
  // One graph for all: a manifest (content-addressed) reads the same in every repository.
  const graph: ManifestGraph = new Map();
  const revisions = want.flatMap((r) => r.revisions);
  await readManifests(d, table, graph, known ? revisions.filter((i) => known.get(table.set.digest(i))?.state !== 'ok') : revisions, { concurrency: opts.concurrency });
  const manifests = manifestFacts(
    table,
    graph,
    known
      ? reachable(
          known,
          revisions.map((i) => table.set.digest(i)),
        )
      : undefined,
  );
  const wanted = new Set(want.map((r) => r.name));
  return scans.map((r) => factsOf(table, wanted.has(r.name) ? manifests : undefined, r));
}

/** The known facts of `roots`, with those of the children they name, recursively. */
function reachable(known: Map<Digest, ManifestFact>, roots: Digest[]): Map<Digest, ManifestFact> {
  const out = new Map<Digest, ManifestFact>();
  const stack = [...roots];
  while (stack.length > 0) {
    const g = stack.pop()!;
    const f = known.get(g);
    if (out.has(g) || !f) continue;
    out.set(g, f); // one not read whole is read again (toFacts) and replaced
    if (f.state === 'ok') stack.push(...f.children);
  }
  return out;
}

/** Every repository `select` accepts, sorted by name. */
export async function readRepositories(d: StorageDriver, select: (repo: string) => boolean, opts: ReadOptions): Promise<RepoFacts[]> {
  const table = new BlobTable();
  const scans = (await scanRepositories(d, table, { concurrency: opts.concurrency })).filter((r) => (r.hasManifests || r.hasLayers) && select(r.name));
  return toFacts(d, table, scans, opts);
}

/**
 * One repository read afresh (the re-check before deleting in it): its tags, current links and
 * revisions with their times; of the manifests only those `known` lacks (read whole) are read.
 */
export async function readRepository(d: StorageDriver, name: string, opts: ReadOptions, known?: Map<Digest, ManifestFact>): Promise<RepoFacts> {
  const table = new BlobTable();
  const scan = await scanRepository(d, table, name, { concurrency: opts.concurrency });
  return (await toFacts(d, table, [scan], opts, known))[0]!;
}

// ---- du: the same scan, with blob sizes and the gc's marking ----

export interface StoreReading {
  table: BlobTable;
  repos: RepoScan[];
  /** Per repository: uploads in flight and the bytes they hold so far. */
  uploads: Map<string, { count: number; bytes: number }>;
  /** Every revision's manifest, read once. */
  graph: ManifestGraph;
}

/**
 * Every repository, every blob with its size, and MARKED set on what anything in the store
 * references (gc's mark without --delete-untagged): one walk, the manifests read once.
 */
export async function readStoreUsage(d: StorageDriver, opts: { concurrency: number }): Promise<StoreReading> {
  const table = new BlobTable();
  const [scans] = await Promise.all([scanRepositories(d, table, opts), scanBlobs(d, table, opts)]);
  const repos = scans.filter((r) => r.hasManifests || r.hasLayers || r.uploads.length > 0);
  const unsized: number[] = [];
  for (let i = 0; i < table.set.size; i++) if (table.has(i, LISTED) && Number.isNaN(table.size.data[i])) unsized.push(i);
  await eachLimit(unsized, opts.concurrency, async (i) => {
    const st = await statBlob(d, table.set.digest(i));
    if (st && !st.isDir) table.size.data[i] = st.size;
    else table.flags.data[i]! &= ~LISTED; // a blob directory without data
  });
  const graph: ManifestGraph = new Map();
  await readManifests(
    d,
    table,
    graph,
    repos.flatMap((r) => r.revisions),
    opts,
  );
  markStore(table, graph, repos, { deleteUntagged: false, minAgeMs: 0, now: Date.now() });
  const uploads = new Map<string, { count: number; bytes: number }>();
  await eachLimit(
    repos.filter((r) => r.uploads.length > 0),
    opts.concurrency,
    async (r) => {
      const u = { count: r.uploads.length, bytes: 0 };
      for (const up of r.uploads) for await (const f of d.walk(up.path)) if (f.path.endsWith('/data')) u.bytes += f.size;
      uploads.set(r.name, u);
    },
  );
  return { table, repos, uploads, graph };
}
