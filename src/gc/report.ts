// What a gc run tells: the same shape for a dry run (the plan) and a real run (what it deleted,
// beside what it planned), with totals, per-repository rows and the lists.
import { formatDuration } from '../util/duration.js';
import type { GcPlan, GcWarning } from './plan.js';
import type { SweepResult } from './sweep.js';
import { LISTED, type BlobTable, type RepoScan } from './store-scan.js';
import { compareStrings } from '../util/compare.js';

export interface GcTotals {
  manifests: number;
  tagHistoryEntries: number;
  tags: number;
  blobs: number;
  bytes: number;
  layerLinks: number;
  uploads: number;
  multipartUploads: number;
  /** Leftovers of killed writes outside the layout (`.regbucket-staging-*` in a filesystem store's root). */
  writeDebris: number;
  repositories: number;
}

export interface RepoRow {
  repository: string;
  blobs: number;
  bytes: number;
  manifests: number;
  layerLinks: number;
  uploads: number;
  removed: boolean;
}

/** Rows for blobs no repository linked, or several did. */
export const NO_REPOSITORY = '(no repository)';
export const SEVERAL_REPOSITORIES = '(several repositories)';

export interface GcReport {
  dryRun: boolean;
  deleteUntagged: boolean;
  minAge: string;
  uploadsOlderThan: string;
  scanned: { repositories: number; blobs: number; manifests: number; tags: number };
  kept: GcPlan['kept'] & { pinnedRepositories: number };
  /** What the plan deletes. */
  planned: GcTotals;
  /** Real runs: what was deleted (less than planned where a re-check kept something). */
  deleted?: GcTotals;
  /** Per repository, what goes (dry run) or went: blobs are counted under the one repository that linked them. */
  repositories: RepoRow[];
  lists: {
    blobs: { digest: string; size: number }[];
    manifests: { repository: string; digest: string }[];
    tags: { repository: string; tag: string }[];
    layerLinks: { repository: string; digest: string }[];
    uploads: { repository: string; id: string; startedAt: string | null }[];
    multipartUploads: { key: string; uploadId: string; initiated: string }[];
    writeDebris: { path: string; modified: string }[];
    repositories: string[];
  };
  /** Set when the lists hold only their first entries (a terminal's report); --json lists everything. */
  listsTruncated?: boolean;
  warnings: GcWarning[];
  seconds: number;
  /** The storage's clock minus this machine's, ms (ages are measured by the storage's clock); null when unknown. */
  clockOffsetMs: number | null;
}

/** A plan in the shape of a sweep's result. */
export function planOutcome(table: BlobTable, plan: GcPlan): SweepResult {
  return {
    revisions: plan.repos.flatMap((rp) => rp.revisions.map((digest) => ({ repo: rp.repo.name, digest }))),
    historyEntries: plan.repos.reduce((n, rp) => n + [...rp.history.values()].reduce((m, tags) => m + tags.length, 0), 0),
    tags: plan.repos.flatMap((rp) => rp.tags.map((t) => ({ repo: rp.repo.name, tag: t.name }))),
    blobs: plan.blobs,
    bytes: plan.bytes,
    layerLinks: plan.repos.filter((rp) => rp.layerLinks.length > 0).map((rp) => ({ repo: rp.repo.name, digests: rp.layerLinks })),
    uploads: plan.repos.flatMap((rp) => rp.uploads.map((upload) => ({ repo: rp.repo.name, upload }))),
    multipart: plan.multipart,
    writeDebris: plan.writeDebris,
    repositories: plan.repos.filter((rp) => rp.remove).map((rp) => rp.repo.name),
  };
}

function totals(o: SweepResult): GcTotals {
  return {
    manifests: o.revisions.length,
    tagHistoryEntries: o.historyEntries,
    tags: o.tags.length,
    blobs: o.blobs.length,
    bytes: o.bytes,
    layerLinks: o.layerLinks.reduce((n, x) => n + x.digests.length, 0),
    uploads: o.uploads.length,
    multipartUploads: o.multipart.length,
    writeDebris: o.writeDebris.length,
    repositories: o.repositories.length,
  };
}

function rows(table: BlobTable, repos: RepoScan[], o: SweepResult): RepoRow[] {
  const byName = new Map<string, RepoRow>();
  const row = (repository: string): RepoRow => {
    let r = byName.get(repository);
    if (!r) byName.set(repository, (r = { repository, blobs: 0, bytes: 0, manifests: 0, layerLinks: 0, uploads: 0, removed: false }));
    return r;
  };
  // Each deleted blob is counted once: under the repository that linked it, if only one did.
  // owner: -3 not deleted, -1 no repository yet, -2 several, else the repository's index.
  const owner = new Int32Array(table.set.size).fill(-3);
  for (const b of o.blobs) owner[b] = -1;
  repos.forEach((r, ri) => {
    for (const list of [r.layers, r.revisions]) {
      for (const b of list) {
        const was = owner[b]!;
        if (was === -3 || was === ri || was === -2) continue;
        owner[b] = was === -1 ? ri : -2;
      }
    }
  });
  for (const b of o.blobs) {
    const ri = owner[b]!;
    const r = row(ri >= 0 ? repos[ri]!.name : ri === -1 ? NO_REPOSITORY : SEVERAL_REPOSITORIES);
    r.blobs++;
    r.bytes += table.size.data[b]! || 0;
  }
  for (const x of o.revisions) row(x.repo).manifests++;
  for (const x of o.layerLinks) row(x.repo).layerLinks += x.digests.length;
  for (const x of o.uploads) row(x.repo).uploads++;
  for (const name of o.repositories) row(name).removed = true;
  return [...byName.values()].sort((a, b) => b.bytes - a.bytes || compareStrings(a.repository, b.repository));
}

function iso(ms: number): string | null {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

/** Placeholders for the lists a --json report streams instead of building. */
const STREAMED = { blobs: '\u0000blobs\u0000', layerLinks: '\u0000layerLinks\u0000' } as const;

function blobEntry(table: BlobTable, i: number): { digest: string; size: number } {
  return { digest: table.set.digest(i), size: table.size.data[i]! };
}

/** Layer links sorted by repository, then digest. */
function* layerLinkEntries(table: BlobTable, o: SweepResult): Generator<{ repository: string; digest: string }> {
  for (const x of [...o.layerLinks].sort((a, b) => compareStrings(a.repo, b.repo))) {
    for (const i of table.set.sortIndices(x.digests)) yield { repository: x.repo, digest: table.set.digest(i) };
  }
}

function* take<T>(items: Iterable<T>, limit: number): Generator<T> {
  let n = 0;
  for (const x of items) {
    if (n++ >= limit) return;
    yield x;
  }
}

/**
 * Sorted by repository, then by digest, tag or id, whatever order the sweep went in. With a
 * `limit`, only that many of each (a million blob entries cost hundreds of MB to build); with
 * `streamed`, placeholders stand for the two lists that can be that long.
 */
function lists(table: BlobTable, o: SweepResult, limit = Infinity, streamed = false): GcReport['lists'] {
  const digest = (i: number): string => table.set.digest(i);
  const first = <T>(items: T[]): T[] => (items.length > limit ? items.slice(0, limit) : items);
  const byRepo =
    <T extends { repository: string }>(key: (x: T) => string) =>
    (a: T, b: T) =>
      compareStrings(a.repository, b.repository) || compareStrings(key(a), key(b));
  const blobs = limit === Infinity ? [...table.set.sortIndices(o.blobs)] : first(o.blobs);
  return {
    blobs: streamed ? (STREAMED.blobs as never) : blobs.map((i) => blobEntry(table, i)),
    manifests: first(o.revisions)
      .map((x) => ({ repository: x.repo, digest: digest(x.digest) }))
      .sort(byRepo((x) => x.digest)),
    tags: first(o.tags)
      .map((x) => ({ repository: x.repo, tag: x.tag }))
      .sort(byRepo((x) => x.tag)),
    layerLinks: streamed ? (STREAMED.layerLinks as never) : [...take(layerLinkEntries(table, o), limit)],
    uploads: first(o.uploads)
      .map((x) => ({ repository: x.repo, id: x.upload.id, startedAt: iso(x.upload.startedAt) }))
      .sort(byRepo((x) => x.id)),
    multipartUploads: first(o.multipart)
      .map((u) => ({ key: u.key, uploadId: u.uploadId, initiated: new Date(u.initiated).toISOString() }))
      .sort((a, b) => compareStrings(a.key, b.key) || compareStrings(a.uploadId, b.uploadId)),
    writeDebris: first(o.writeDebris)
      .map((x) => ({ path: x.path, modified: new Date(x.modified).toISOString() }))
      .sort((a, b) => compareStrings(a.path, b.path)),
    repositories: first([...o.repositories].sort()),
  };
}

export interface ReportInput {
  table: BlobTable;
  repos: RepoScan[];
  plan: GcPlan;
  /** Real runs: what the sweep deleted. */
  swept?: SweepResult;
  deleteUntagged: boolean;
  minAgeMs: number;
  uploadsOlderThanMs: number;
  seconds: number;
  /** Entries per list (a terminal shows a few); all when undefined. */
  listLimit?: number;
  /** The storage's clock minus this machine's (ages are measured by the storage's); undefined when unknown. */
  clockOffsetMs?: number;
}

export function buildReport(x: ReportInput, streamed = false): GcReport {
  const planned = planOutcome(x.table, x.plan);
  const shown = x.swept ?? planned;
  const revisions = new Set<number>();
  for (const r of x.repos) for (const rev of r.revisions) revisions.add(rev);
  let blobs = 0;
  for (let i = 0; i < x.table.set.size; i++) if (x.table.has(i, LISTED)) blobs++;
  return {
    dryRun: x.swept === undefined,
    deleteUntagged: x.deleteUntagged,
    minAge: formatDuration(x.minAgeMs),
    uploadsOlderThan: formatDuration(x.uploadsOlderThanMs),
    scanned: { repositories: x.repos.length, blobs, manifests: revisions.size, tags: x.repos.reduce((n, r) => n + r.tags.length, 0) },
    kept: { ...x.plan.kept, pinnedRepositories: x.plan.repos.filter((rp) => rp.pinned).length },
    planned: totals(planned),
    ...(x.swept ? { deleted: totals(x.swept) } : {}),
    repositories: rows(x.table, x.repos, shown),
    lists: lists(x.table, shown, x.listLimit, streamed),
    ...(x.listLimit !== undefined ? { listsTruncated: true } : {}),
    warnings: x.plan.warnings,
    seconds: x.seconds,
    clockOffsetMs: x.clockOffsetMs ?? null,
  };
}

/**
 * The full report as JSON text, in pieces: what JSON.stringify(report, null, 2) gives, with the
 * blob and layer link lists written entry by entry instead of built (a million entries are
 * hundreds of MB as objects and again as one string).
 */
export function* reportJson(x: ReportInput): Generator<string> {
  const text = JSON.stringify(buildReport({ ...x, listLimit: undefined }, true), null, 2);
  const shown = x.swept ?? planOutcome(x.table, x.plan);
  const sources: [string, () => Iterable<object>][] = [
    [
      JSON.stringify(STREAMED.blobs),
      () =>
        (function* () {
          for (const i of x.table.set.sortIndices(shown.blobs)) yield blobEntry(x.table, i);
        })(),
    ],
    [JSON.stringify(STREAMED.layerLinks), () => layerLinkEntries(x.table, shown)],
  ];
  let at = 0;
  for (const [mark, entries] of sources.sort((a, b) => text.indexOf(a[0]) - text.indexOf(b[0]))) {
    const pos = text.indexOf(mark);
    const indent = /^ */.exec(text.slice(text.lastIndexOf('\n', pos) + 1))![0]; // of the line `"blobs": <mark>,`
    yield text.slice(at, pos);
    at = pos + mark.length;
    let chunk: string[] = [];
    let any = false;
    for (const e of entries()) {
      chunk.push(`${indent}  ${JSON.stringify(e, null, 2).replace(/\n/g, `\n${indent}  `)}`);
      if (chunk.length === 1000) {
        yield `${any ? ',\n' : '[\n'}${chunk.join(',\n')}`;
        any = true;
        chunk = [];
      }
    }
    if (chunk.length > 0) {
      yield `${any ? ',\n' : '[\n'}${chunk.join(',\n')}`;
      any = true;
    }
    yield any ? `\n${indent}]` : '[]';
  }
  yield text.slice(at);
}
