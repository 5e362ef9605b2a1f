// Which pull-through cache entries expire, pure. Semantics (docs/retention-policy.md, "Pull-through
// caches"):
// 1. TTL: an entry cached (ExpiryData - 168 h) at least `ttl` before now expires.
// 2. Size: while the cache is larger than `maxBytes`, every remaining entry of one more
//    repository expires: oldest first by its newest entry, the larger (bytes only it links) first
//    on ties, then by name.
// Expiring a manifest is `delete <repo>@<digest>` (its revision link, the tags naming it, their
// history); expiring a blob removes the repository's layer link. Neither may break what stays:
// a manifest a kept tag, a kept index (child) or a kept referrer (subject) reaches inside the
// repository is kept, and so are the layer links of the blobs a kept manifest references.
// The cache's size is the bytes of the blobs its repositories link (layer and revision links),
// each once: what stays after the expiry and a gc.
import type { Digest } from '../image/digest.js';
import { formatDuration } from '../util/duration.js';
import type { CacheEntry } from './state.js';
import { compareStrings } from '../util/compare.js';

export type CachedManifest = { state: 'ok'; children: Digest[]; subject?: Digest; blobs: Digest[] } | { state: 'missing' } | { state: 'unreadable'; reason: string };

export interface RepoContent {
  name: string;
  tags: { name: string; digest?: Digest }[];
  revisions: Set<Digest>;
  layers: Set<Digest>;
  manifests: Map<Digest, CachedManifest>;
}

export interface CacheFacts {
  repos: Map<string, RepoContent>;
  /** Sizes of the blobs present in `blobs/`. */
  sizes: Map<Digest, number>;
}

export interface CacheOptions {
  now: number;
  ttlMs?: number;
  maxBytes?: number;
}

export interface EntryDecision {
  entry: CacheEntry;
  action: 'expire' | 'keep';
  /** ttl, max-size, needed (kept though due), pinned (kept though due), fresh (not due). */
  rule: 'ttl' | 'max-size' | 'needed' | 'pinned' | 'fresh';
  reason: string;
  /** Manifests: the tags naming it, untagged with it. */
  untag?: string[];
}

export interface CachePlan {
  now: number;
  decisions: EntryDecision[];
  bytes: { before: number; afterTtl: number; after: number; limit?: number };
  /** Repositories the size limit expired, in order. */
  evicted: string[];
}

/** Bytes linked by the repositories, each blob once, as links come and go. */
class LinkedBytes {
  private refs = new Map<Digest, number>();
  total = 0;
  constructor(private sizes: Map<Digest, number>) {}
  add(d: Digest): void {
    const size = this.sizes.get(d);
    if (size === undefined) return;
    const n = this.refs.get(d) ?? 0;
    if (n === 0) this.total += size;
    this.refs.set(d, n + 1);
  }
  remove(d: Digest): void {
    const n = this.refs.get(d);
    if (!n) return;
    if (n === 1) {
      this.refs.delete(d);
      this.total -= this.sizes.get(d)!;
    } else this.refs.set(d, n - 1);
  }
  exclusive(links: Iterable<Digest>): number {
    let n = 0;
    for (const d of links) if (this.refs.get(d) === 1) n += this.sizes.get(d)!;
    return n;
  }
}

interface Due {
  entry: CacheEntry;
  rule: 'ttl' | 'max-size';
  reason: string;
}

/**
 * What of `due` (entries of one repository) can go without breaking what stays: the due
 * decisions, with the needed and pinned ones turned to keep. `gone`: manifests expired before.
 */
function settle(r: RepoContent | undefined, due: Due[], gone: Set<Digest>): EntryDecision[] {
  if (!r) return due.map((x) => ({ entry: x.entry, action: 'expire', rule: x.rule, reason: `${x.reason}; the repository holds nothing of it`, ...(x.entry.type === 'manifest' ? { untag: [] } : {}) }));
  const going = new Map<Digest, Due>();
  for (const x of due) if (x.entry.type === 'manifest') going.set(x.entry.digest, x);
  const keptBy = new Map<Digest, string>();
  const stack: [Digest, string][] = [];
  const stays = (d: Digest): boolean => !going.has(d) && !gone.has(d);
  for (const t of r.tags) if (t.digest && stays(t.digest)) stack.push([t.digest, `tag ${t.name}`]);
  for (const rev of r.revisions) if (stays(rev)) stack.push([rev, `manifest ${rev}`]);
  const reached = new Set<Digest>();
  const neededBlobs = new Map<Digest, Digest>();
  let pinned: string | undefined;
  while (stack.length > 0) {
    const [d, by] = stack.pop()!;
    if (reached.has(d)) continue;
    reached.add(d);
    if (going.has(d)) keptBy.set(d, by);
    const m = r.manifests.get(d);
    if (m?.state === 'unreadable') pinned ??= `manifest ${d} cannot be read (${m.reason})`;
    if (m?.state !== 'ok') continue;
    for (const c of m.children) stack.push([c, `index ${d}`]);
    if (m.subject) stack.push([m.subject, `referrer ${d}`]);
    for (const b of m.blobs) if (!neededBlobs.has(b)) neededBlobs.set(b, d);
  }
  return due.map((x): EntryDecision => {
    const e = x.entry;
    if (pinned) return { entry: e, action: 'keep', rule: 'pinned', reason: `${x.reason}, but kept: ${pinned}, what it needs is unknown` };
    if (e.type === 'manifest') {
      const by = keptBy.get(e.digest);
      if (by) return { entry: e, action: 'keep', rule: 'needed', reason: `${x.reason}, but kept: ${by}, which stays, needs it` };
      return {
        entry: e,
        action: 'expire',
        rule: x.rule,
        reason: x.reason,
        untag: r.tags
          .filter((t) => t.digest === e.digest)
          .map((t) => t.name)
          .sort(),
      };
    }
    const by = neededBlobs.get(e.digest);
    if (by) return { entry: e, action: 'keep', rule: 'needed', reason: `${x.reason}, but kept: manifest ${by}, which stays, references it` };
    return { entry: e, action: 'expire', rule: x.rule, reason: x.reason };
  });
}

/** The links an expiring entry removes. */
function linkOf(r: RepoContent | undefined, e: CacheEntry): Digest | undefined {
  if (!r) return undefined;
  return (e.type === 'manifest' ? r.revisions : r.layers).has(e.digest) ? e.digest : undefined;
}

export function planCacheExpiry(entries: CacheEntry[], facts: CacheFacts, opts: CacheOptions): CachePlan {
  const linked = new LinkedBytes(facts.sizes);
  const links = new Map<string, Set<Digest>>();
  for (const r of facts.repos.values()) {
    const mine = new Set([...r.layers, ...r.revisions]);
    links.set(r.name, mine);
    for (const d of mine) linked.add(d);
  }
  const before = linked.total;
  const byRepo = new Map<string, CacheEntry[]>();
  for (const e of entries) byRepo.set(e.repo, [...(byRepo.get(e.repo) ?? []), e]);

  const decided = new Map<CacheEntry, EntryDecision>();
  const gone = new Map<string, Set<Digest>>();
  const goneIn = (repo: string): Set<Digest> => gone.get(repo) ?? gone.set(repo, new Set()).get(repo)!;
  const apply = (repo: string, ds: EntryDecision[]): void => {
    for (const d of ds) {
      decided.set(d.entry, d);
      if (d.action !== 'expire') continue;
      if (d.entry.type === 'manifest') goneIn(repo).add(d.entry.digest);
      const l = linkOf(facts.repos.get(repo), d.entry);
      if (l && links.get(repo)?.delete(l)) linked.remove(l);
    }
  };

  if (opts.ttlMs !== undefined) {
    const ttl = formatDuration(opts.ttlMs);
    for (const [repo, list] of byRepo) {
      const due = list.filter((e) => e.cached + opts.ttlMs! <= opts.now).map((e): Due => ({ entry: e, rule: 'ttl', reason: `cached ${new Date(e.cached).toISOString()}, over ${ttl} ago` }));
      apply(repo, settle(facts.repos.get(repo), due, goneIn(repo)));
    }
  }
  const afterTtl = linked.total;

  const evicted: string[] = [];
  if (opts.maxBytes !== undefined && linked.total > opts.maxBytes) {
    const candidates = [...byRepo]
      .map(([repo, list]) => ({ repo, left: list.filter((e) => decided.get(e)?.action !== 'expire') }))
      .filter((c) => c.left.length > 0)
      .map((c) => ({ ...c, newest: Math.max(...c.left.map((e) => e.cached)), exclusive: linked.exclusive(links.get(c.repo) ?? []) }))
      .sort((a, b) => a.newest - b.newest || b.exclusive - a.exclusive || compareStrings(a.repo, b.repo));
    for (const c of candidates) {
      if (linked.total <= opts.maxBytes) break;
      const reason = `the cache was over ${opts.maxBytes} bytes; the repository's newest entry was cached ${new Date(c.newest).toISOString()}`;
      apply(
        c.repo,
        settle(
          facts.repos.get(c.repo),
          c.left.map((e) => ({ entry: e, rule: 'max-size', reason })),
          goneIn(c.repo),
        ),
      );
      evicted.push(c.repo);
    }
  }

  const decisions = entries.map((e) => decided.get(e) ?? { entry: e, action: 'keep' as const, rule: 'fresh' as const, reason: `cached ${new Date(e.cached).toISOString()}` });
  return {
    now: opts.now,
    decisions,
    bytes: { before, afterTtl, after: linked.total, ...(opts.maxBytes !== undefined ? { limit: opts.maxBytes } : {}) },
    evicted,
  };
}
