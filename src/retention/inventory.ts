// What retention reads from a store: repositories with their tags (current link and its
// modification time, the push time), revisions with their link times, and, where the plan needs
// them, the manifests (children, subjects). Everything comes from the gc's scan (one walk: flat on
// S3, with times and ETags from the listing; directory listings on a filesystem, plus a stat per
// tag for its time) and the gc's manifest reader. This file is the only place retention touches
// the scan: switching to another enumerator changes this file alone.
import type { StorageDriver } from '../drivers/driver.js';
import type { Digest } from '../image/digest.js';
import { readManifests, type ManifestGraph } from '../gc/manifest-graph.js';
import { fileTime, scanRepositories, scanRepository } from '../gc/scan.js';
import { BlobTable, type RepoScan } from '../gc/store-scan.js';
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

function factsOf(table: BlobTable, graph: ManifestGraph | undefined, r: RepoScan): RepoFacts {
  const digest = (i: number): Digest => table.set.digest(i) as Digest;
  const revisions = new Map<Digest, number>();
  r.revisions.forEach((rev, j) => revisions.set(digest(rev), r.revisionTimes[j]!));
  let manifests: Map<Digest, ManifestFact> | undefined;
  if (graph) {
    manifests = new Map();
    for (const [i, info] of graph) {
      if (info.state === 'ok') manifests.set(digest(i), { state: 'ok', children: info.children.map(digest), ...(info.subject >= 0 ? { subject: digest(info.subject) } : {}) });
      else manifests.set(digest(i), info);
    }
  }
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

async function toFacts(d: StorageDriver, table: BlobTable, scans: RepoScan[], opts: ReadOptions): Promise<RepoFacts[]> {
  await tagTimes(d, scans, opts.concurrency);
  const want = scans.filter((r) => opts.wantManifests(r.name, r.tags));
  // One graph for all: a manifest (content-addressed) reads the same in every repository.
  const graph: ManifestGraph = new Map();
  await readManifests(d, table, graph, want.flatMap((r) => r.revisions), { concurrency: opts.concurrency });
  const wanted = new Set(want.map((r) => r.name));
  return scans.map((r) => factsOf(table, wanted.has(r.name) ? graph : undefined, r));
}

/** Every repository `select` accepts, sorted by name. */
export async function readRepositories(d: StorageDriver, select: (repo: string) => boolean, opts: ReadOptions): Promise<RepoFacts[]> {
  const table = new BlobTable();
  const scans = (await scanRepositories(d, table, { concurrency: opts.concurrency })).filter((r) => (r.hasManifests || r.hasLayers) && select(r.name));
  return toFacts(d, table, scans, opts);
}

/** One repository read afresh (the re-check before deleting in it). */
export async function readRepository(d: StorageDriver, name: string, opts: ReadOptions): Promise<RepoFacts> {
  const table = new BlobTable();
  const scan = await scanRepository(d, table, name, { concurrency: opts.concurrency });
  return (await toFacts(d, table, [scan], opts))[0]!;
}

