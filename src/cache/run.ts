// Pull-through cache expiry from start to end: read the state file and the store (one walk, the
// scan du uses), plan (plan.ts), then carry the plan out and rewrite the state file without the
// expired entries. Order, for a crash at any point: tags, then revision links, then layer links,
// the state file last; a state file that still lists an expired entry makes the registry try to
// expire it again, which finds nothing and drops it.
import type { StorageDriver } from '../drivers/driver.js';
import { isNotFound, RefusedError } from '../errors.js';
import type { Digest } from '../image/digest.js';
import { readTagCurrent } from '../store/links.js';
import { listRepoTags } from '../store/listing.js';
import { layerLinkPath, revisionLinkPath } from '../store/paths.js';
import { untag } from '../store/tags.js';
import { readStoreUsage } from '../retention/inventory.js';
import { LISTED } from '../gc/store-scan.js';
import type { CachedManifest, CacheFacts, CachePlan, EntryDecision, RepoContent } from './plan.js';
import { encodeState, STATE_PATH, type CacheState } from './state.js';
import { orIfNotFound } from '../util/not-found.js';

/** What the plan needs of the store: every repository's links, tags and manifests, blob sizes. */
export async function readCacheFacts(d: StorageDriver, concurrency: number): Promise<CacheFacts> {
  const { table, repos, graph } = await readStoreUsage(d, { concurrency });
  const dg = (i: number): Digest => table.set.digest(i);
  const sizes = new Map<Digest, number>();
  for (let i = 0; i < table.set.size; i++) {
    const n = table.size.data[i]!;
    if (table.has(i, LISTED) && !Number.isNaN(n)) sizes.set(dg(i), n);
  }
  const out = new Map<string, RepoContent>();
  for (const r of repos) {
    const manifests = new Map<Digest, CachedManifest>();
    const todo = [...r.revisions];
    while (todo.length > 0) {
      const i = todo.pop()!;
      if (manifests.has(dg(i))) continue;
      const m = graph.get(i);
      if (!m) continue;
      if (m.state === 'ok') {
        manifests.set(dg(i), { state: 'ok', children: m.children.map(dg), blobs: m.blobs.map(dg), ...(m.subject >= 0 ? { subject: dg(m.subject) } : {}) });
        todo.push(...m.children);
      } else manifests.set(dg(i), m.state === 'missing' ? m : { state: 'unreadable', reason: m.reason });
    }
    out.set(r.name, {
      name: r.name,
      tags: r.tags.map((t) => ({ name: t.name, ...(t.current !== undefined ? { digest: dg(t.current) } : {}) })),
      revisions: new Set(r.revisions.map(dg)),
      layers: new Set(r.layers.map(dg)),
      manifests,
    });
  }
  return { repos: out, sizes };
}

export interface CacheOutcome {
  expired: EntryDecision[];
  /** Planned expiries a re-check kept, with why. */
  skipped: { decision: EntryDecision; why: string }[];
  untagged: { repo: string; tag: string }[];
  stateWritten: boolean;
}

async function tagsNaming(d: StorageDriver, repo: string, digest: Digest, concurrency: number): Promise<string[]> {
  const listed = await orIfNotFound(() => listRepoTags(d, repo, concurrency), undefined);
  return (listed?.tags ?? [])
    .filter((t) => t.digest === digest)
    .map((t) => t.tag)
    .sort();
}

/** Manifests before blobs; an index before its children and a referrer before its subject. */
function order(ds: EntryDecision[], facts: CacheFacts): EntryDecision[] {
  const rank = new Map<EntryDecision, number>();
  const depth = (repo: string, d: Digest, seen = new Set<Digest>()): number => {
    // Parents (indexes, referrers) among the expiring go first: deeper children last.
    if (seen.has(d)) return 0;
    seen.add(d);
    let n = 0;
    for (const x of ds) {
      if (x.entry.repo !== repo || x.entry.type !== 'manifest') continue;
      const m = facts.repos.get(repo)?.manifests.get(x.entry.digest);
      if (m?.state === 'ok' && (m.children.includes(d) || m.subject === d)) n = Math.max(n, 1 + depth(repo, x.entry.digest, seen));
    }
    return n;
  };
  for (const x of ds) rank.set(x, x.entry.type === 'manifest' ? depth(x.entry.repo, x.entry.digest) : Number.MAX_SAFE_INTEGER);
  return [...ds].sort((a, b) => rank.get(a)! - rank.get(b)!);
}

/**
 * Carries the plan out. Refuses (nothing changed) when the state file changed since it was read:
 * a registry serving the store rewrites it every 5 s, and pruning under it would be undone.
 */
export async function executeCacheExpiry(d: StorageDriver, state: CacheState, plan: CachePlan, facts: CacheFacts, concurrency: number): Promise<CacheOutcome> {
  const stillSame = async (): Promise<boolean> => {
    try {
      return (await d.getContent(STATE_PATH, state.bytes.length + 1)).equals(state.bytes);
    } catch {
      return false;
    }
  };
  const out: CacheOutcome = { expired: [], skipped: [], untagged: [], stateWritten: false };
  const going = plan.decisions.filter((x) => x.action === 'expire');
  if (going.length === 0) return out;
  if (!(await stillSame())) throw new RefusedError(`${STATE_PATH} changed since it was read: a registry is serving this store; stop it, then prune`);
  for (const x of order(going, facts)) {
    const { repo, digest } = x.entry;
    if (x.entry.type === 'manifest') {
      const now = await tagsNaming(d, repo, digest, concurrency);
      const extra = now.filter((t) => !x.untag!.includes(t));
      if (extra.length > 0) {
        out.skipped.push({ decision: x, why: `tag ${extra.join(', ')} names it since the plan` });
        continue;
      }
      for (const tag of x.untag!) {
        if ((await readTagCurrent(d, repo, tag)) !== digest) continue;
        try {
          await untag(d, repo, tag);
          out.untagged.push({ repo, tag });
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      await d.deleteFiles([revisionLinkPath(repo, digest)]);
    } else {
      await d.deleteFiles([layerLinkPath(repo, digest)]);
    }
    out.expired.push(x);
  }
  const drop = new Set(out.expired.map((x) => x.entry.mapKey));
  if (drop.size > 0) {
    if (!(await stillSame()))
      throw new RefusedError(`${STATE_PATH} changed while pruning: a registry is serving this store; its entries were left as they are (stop the registry and run prune again)`);
    await d.putContent(STATE_PATH, encodeState(state, drop));
    out.stateWritten = true;
  }
  return out;
}
