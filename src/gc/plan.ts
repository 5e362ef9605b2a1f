// The plan, pure: from what the scan found and the mark kept, exactly what a run deletes. A dry
// run prints this; a real run carries it out (sweep.ts), re-checking each step first.
import type { ManifestGraph } from './manifest-graph.js';
import { isYoung, type MarkOptions, type RepoMark } from './mark.js';
import { isCandidate } from './facts.js';
import { DELETE, LISTED, type BlobTable, type MultipartUpload, type RepoScan, type TagScan, type UploadScan, type WriteDebrisEntry } from './store-scan.js';

export interface PlanOptions extends MarkOptions {
  uploadsOlderThanMs: number;
}

export interface RepoPlan {
  repo: RepoScan;
  /** Why nothing of this repository is deleted but stale uploads. */
  pinned?: string;
  /** Revisions to delete (their tag history entries go first). */
  revisions: number[];
  /** For each revision to delete, the tags whose history names it. */
  history: Map<number, string[]>;
  /** Referrer fallback tags whose subject is gone. */
  tags: TagScan[];
  /** `_layers` links to blobs deleted or missing. */
  layerLinks: number[];
  uploads: UploadScan[];
  /** No revision is left: the whole repository goes. */
  remove: boolean;
}

export type WarningKind =
  | 'unaddressable-repository'
  | 'repository-outside-grammar'
  | 'unreadable-manifest'
  | 'ambiguous-manifest'
  | 'unreadable-tag'
  | 'missing-manifest'
  | 'schema1-manifest'
  | 'unsafe-path'
  | 'left-in-place';

export interface GcWarning {
  kind: WarningKind;
  /** The repository ('' for a path outside any). */
  repo: string;
  /** unsafe-path, left-in-place: the storage path. */
  path?: string;
  digest?: string;
  tag?: string;
  detail: string;
}

export interface GcPlan {
  repos: RepoPlan[];
  /** Blobs to delete (table indexes). */
  blobs: number[];
  bytes: number;
  multipart: MultipartUpload[];
  /** Leftovers of killed writes outside the layout (a filesystem store's root). */
  writeDebris: WriteDebrisEntry[];
  kept: {
    /** Blobs something kept references. */
    marked: number;
    /** Unreferenced blobs younger than --min-age. */
    youngBlobs: number;
    /** Unreferenced blobs a repository linked less than --min-age ago (a push in progress). */
    recentlyLinked: number;
    /** Untagged revisions younger than --min-age (--delete-untagged). */
    youngRevisions: number;
  };
  warnings: GcWarning[];
}

function warnings(table: BlobTable, graph: ManifestGraph, m: RepoMark): GcWarning[] {
  const out: GcWarning[] = [];
  const repo = m.repo.name;
  if (m.repo.unaddressable || m.repo.outsideGrammar) {
    out.push({ kind: m.repo.unaddressable ? 'unaddressable-repository' : 'repository-outside-grammar', repo: JSON.stringify(repo), detail: m.pinned! });
  }
  for (const rev of m.repo.revisions) {
    const info = graph.get(rev);
    const digest = table.set.digest(rev);
    if (info?.state === 'unreadable') {
      out.push({ kind: 'unreadable-manifest', repo, digest, detail: `${info.reason}: everything ${repo} links is kept` });
    } else if (info?.state === 'missing') {
      out.push({ kind: 'missing-manifest', repo, digest, detail: 'the revision names a manifest blob that is not in the store' });
    } else if (info?.state === 'ok' && info.ambiguous) {
      out.push({ kind: 'ambiguous-manifest', repo, digest, detail: `${info.ambiguous}: everything either reading references (and every digest written in it) is kept` });
    }
    if (info?.state === 'ok' && info.kind === 'schema1') {
      out.push({ kind: 'schema1-manifest', repo, digest, detail: 'a legacy schema 1 manifest: its fsLayers are kept; registry 3.x cannot read it' });
    }
  }
  for (const t of m.repo.tags) {
    if (t.unreadable) out.push({ kind: 'unreadable-tag', repo, tag: t.name, detail: `${t.unreadable}: everything ${repo} links is kept` });
  }
  return out;
}

function planRepo(table: BlobTable, m: RepoMark, opts: PlanOptions): RepoPlan {
  const r = m.repo;
  const going = new Set(m.deleteRevisions);
  const history = new Map<number, string[]>();
  for (const t of r.tags) {
    for (const h of t.history ?? []) if (going.has(h)) history.set(h, [...(history.get(h) ?? []), t.name]);
  }
  const uploads = r.uploads.filter((u) => !isYoung(u.startedAt, { now: opts.now, minAgeMs: opts.uploadsOlderThanMs }));
  const remove = !m.pinned && going.size === r.revisions.length && uploads.length === r.uploads.length && !isYoung(r.newest, opts);
  const flags = table.flags.data;
  let links: number[] = [];
  let existing = 0;
  if (!remove) {
    r.layers.forEach((b, j) => {
      const t = r.layerTimes[j]!;
      if (t < 0) return; // a directory without a link file
      existing++;
      if (((flags[b]! & DELETE) !== 0 || (flags[b]! & LISTED) === 0) && !isYoung(t, opts)) links.push(b);
    });
    // Registry 2.8 sees a repository by its `_layers`: a repository that stays keeps one link.
    if (links.length > 0 && links.length === existing) links = links.slice(0, -1);
  }
  return { repo: r, pinned: m.pinned, revisions: m.deleteRevisions, history, tags: m.deleteTags, layerLinks: links, uploads, remove };
}

/**
 * Sets DELETE on every blob to delete and returns the plan. `marks` come from markStore, after
 * fetchFacts filled in sizes and times.
 */
export function planGc(table: BlobTable, graph: ManifestGraph, marks: RepoMark[], leftovers: { multipart: MultipartUpload[]; writeDebris: WriteDebrisEntry[] }, opts: PlanOptions): GcPlan {
  const flags = table.flags.data;
  const kept = { marked: 0, youngBlobs: 0, recentlyLinked: 0, youngRevisions: 0 };
  for (let i = 0; i < table.set.size; i++) {
    flags[i]! &= ~DELETE;
    if (!table.has(i, LISTED)) continue;
    if (!isCandidate(table, i)) kept.marked++;
    else if (isYoung(table.mtime.data[i]!, opts)) kept.youngBlobs++;
    else flags[i]! |= DELETE;
  }
  for (const { repo } of marks) {
    repo.layers.forEach((b, j) => {
      if ((flags[b]! & DELETE) !== 0 && isYoung(repo.layerTimes[j]!, opts)) {
        flags[b]! &= ~DELETE;
        kept.recentlyLinked++;
      }
    });
  }
  const blobs: number[] = [];
  let bytes = 0;
  for (let i = 0; i < table.set.size; i++) {
    if ((flags[i]! & DELETE) === 0) continue;
    blobs.push(i);
    bytes += table.size.data[i]! || 0;
  }
  for (const m of marks) kept.youngRevisions += m.youngRevisions;
  const stale = { now: opts.now, minAgeMs: opts.uploadsOlderThanMs };
  return {
    repos: marks.map((m) => planRepo(table, m, opts)),
    blobs,
    bytes,
    multipart: leftovers.multipart.filter((u) => !isYoung(u.initiated, stale)),
    writeDebris: leftovers.writeDebris.filter((x) => !isYoung(x.modified, stale)),
    kept,
    warnings: marks.flatMap((m) => warnings(table, graph, m)),
  };
}
