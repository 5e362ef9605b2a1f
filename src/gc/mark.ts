// The mark phase, pure: which manifests each repository keeps, and which digests anything kept
// references (the MARKED flag). Roots are every revision, or with --delete-untagged the manifests
// tags name plus revisions younger than --min-age (a push writes the revision before the tag).
// From a kept manifest: its config and layers, its index children (never deleted while the index
// is kept, unlike registry 2.8.2), manifests whose OCI 1.1 subject it is, and the referrer
// fallback tag (`sha256-<hex>`) of its digest.
import type { ManifestGraph, ManifestInfo } from './manifest-graph.js';
import { MARKED, type BlobTable, type RepoScan, type TagScan } from './store-scan.js';
import { SHA256_HEX } from '../image/digest.js';

export interface MarkOptions {
  deleteUntagged: boolean;
  minAgeMs: number;
  now: number;
}

export interface RepoMark {
  repo: RepoScan;
  /** Manifests this repository keeps (revisions, and what they reach). */
  keep: Set<number>;
  /** Why every revision and linked blob of the repository is kept, when something could not be read. */
  pinned?: string;
  /** Revisions not kept (only with --delete-untagged). */
  deleteRevisions: number[];
  /** Referrer fallback tags whose subject is not kept: they go with it. */
  deleteTags: TagScan[];
  /** Untagged revisions kept only because they are younger than --min-age. */
  youngRevisions: number;
}

const FALLBACK_TAG_RE = new RegExp(`^sha256-(${SHA256_HEX})$`);

/** A young or unknown time counts as young: never delete what may be part of a push. */
export function isYoung(time: number, opts: { minAgeMs: number; now: number }): boolean {
  return !(opts.now - time >= opts.minAgeMs);
}

/**
 * The digest whose referrers a tag lists, when the tag is an OCI referrers fallback tag: named
 * `sha256-<hex>` and holding an index whose readable entries all have that digest as subject.
 */
function fallbackSubject(table: BlobTable, graph: ManifestGraph, t: TagScan): number | undefined {
  const m = FALLBACK_TAG_RE.exec(t.name);
  if (!m || t.current === undefined) return undefined;
  const info = graph.get(t.current);
  if (info?.state !== 'ok' || info.kind !== 'index') return undefined;
  const subject = table.set.indexOf(m[1]!);
  if (subject < 0) return undefined;
  for (const c of info.children) {
    const child = graph.get(c);
    if (child?.state === 'ok' && child.subject !== subject) return undefined;
  }
  return subject;
}

function whyPinned(table: BlobTable, graph: ManifestGraph, r: RepoScan): string | undefined {
  if (r.unaddressable) return 'it holds names no storage path can hold: what it references cannot be read, so no blob of the store is deleted';
  if (r.outsideGrammar) return 'its name is outside the repository grammar: the registry walks it as a repository, so it is marked from and nothing in it is deleted';
  for (const rev of r.revisions) {
    const info = graph.get(rev);
    if (info?.state === 'unreadable') return `manifest ${table.set.digest(rev)} cannot be read (${info.reason})`;
  }
  for (const t of r.tags) if (t.unreadable) return `tag ${t.name}: ${t.unreadable}`;
  return undefined;
}

export function markRepo(table: BlobTable, graph: ManifestGraph, r: RepoScan, opts: MarkOptions): RepoMark {
  const flags = table.flags.data;
  const pinned = whyPinned(table, graph, r);
  const referrers = new Map<number, number[]>();
  for (const rev of r.revisions) {
    const info = graph.get(rev);
    if (info?.state === 'ok' && info.subject >= 0) referrers.set(info.subject, [...(referrers.get(info.subject) ?? []), rev]);
  }
  const fallbacks = new Map<number, TagScan[]>();
  for (const t of r.tags) {
    const s = fallbackSubject(table, graph, t);
    if (s !== undefined) fallbacks.set(s, [...(fallbacks.get(s) ?? []), t]);
  }
  const isFallback = new Set([...fallbacks.values()].flat());

  const keep = new Set<number>();
  const stack: number[] = [];
  const visit = (root: number): void => {
    stack.push(root);
    while (stack.length > 0) {
      const m = stack.pop()!;
      if (keep.has(m)) continue;
      keep.add(m);
      flags[m]! |= MARKED;
      const info = graph.get(m);
      if (info?.state === 'ok') {
        for (const b of info.blobs) flags[b]! |= MARKED;
        stack.push(...info.children);
      } else if (info?.state === 'unreadable') {
        for (const b of info.scraped ?? []) flags[b]! |= MARKED;
      }
      stack.push(...(referrers.get(m) ?? []));
      for (const t of fallbacks.get(m) ?? []) stack.push(t.current!);
    }
  };

  let youngRevisions = 0;
  if (!opts.deleteUntagged || pinned) {
    for (const rev of r.revisions) visit(rev);
  } else {
    for (const t of r.tags) if (t.current !== undefined && !isFallback.has(t)) visit(t.current);
    r.revisions.forEach((rev, i) => {
      if (keep.has(rev) || !isYoung(r.revisionTimes[i]!, opts)) return;
      youngRevisions++;
      visit(rev);
    });
  }
  if (pinned) for (const l of r.layers) flags[l]! |= MARKED;

  const pruning = opts.deleteUntagged && !pinned;
  return {
    repo: r,
    keep,
    pinned,
    deleteRevisions: pruning ? r.revisions.filter((rev) => !keep.has(rev)) : [],
    deleteTags: pruning ? [...isFallback].filter((t) => !keep.has(t.current!) && !keep.has(table.set.indexOf(t.name.slice(7)))) : [],
    youngRevisions,
  };
}

/** Marks the whole store afresh: MARKED is cleared first, then set from every repository. */
export function markStore(table: BlobTable, graph: ManifestGraph, repos: RepoScan[], opts: MarkOptions): RepoMark[] {
  const flags = table.flags.data;
  for (let i = 0; i < table.set.size; i++) flags[i]! &= ~MARKED;
  const marks = repos.map((r) => markRepo(table, graph, r, opts));
  // A repository that cannot be read may reference any blob; so may a manifest whose bytes were
  // never read (too large to be one: the registry reads it whole and its gc stops).
  const unknown = (info: ManifestInfo | undefined): boolean => info?.state === 'unreadable' && info.scraped === undefined;
  const revisionUnread = [...graph.values()].some(unknown);
  if (revisionUnread || repos.some((r) => r.unaddressable)) for (let i = 0; i < table.set.size; i++) flags[i]! |= MARKED;
  return marks;
}
