// Carrying a retention plan out. Every step is re-checked just before it happens, as gc does:
// - a tag is untagged only if its current link still names what the plan saw, with the same
//   modification time (a tag pushed after the plan was made is never removed);
// - a manifest is deleted only if the repository, read afresh after the untagging, still plans
//   its deletion under the same policy and time, and no tag names it now.
// Untag is the registry's: the whole `tags/<tag>/` directory (on S3 every key under the prefix
// with its slash). Manifest deletion is delete-by-digest: the revision link, in batches (deleteManifests).
import { type FileInfo, type StorageDriver } from '../drivers/driver.js';
import type { Digest } from '../image/digest.js';
import { linkEtag, readTagCurrent } from '../store/links.js';
import { revisionLinkPath, tagCurrentLinkPath, tagsDir } from '../store/paths.js';
import { untag } from '../store/tags.js';
import { eachLimit } from '../util/each-limit.js';
import { readRepository, type ReadOptions } from './inventory.js';
import { deletionOrder, planRepository, type RepoFacts, type RepoRetention, type TagDecision } from './plan.js';
import type { CompiledPolicy } from './policy.js';
import { orIfNotFound } from '../util/not-found.js';
import { compareStrings } from '../util/compare.js';

export interface Skipped {
  repo: string;
  tag?: string;
  digest?: Digest;
  why: string;
}

export interface PruneOutcome {
  untagged: { repo: string; tag: string }[];
  deleted: { repo: string; digest: Digest }[];
  /** Planned steps a re-check kept (written to since the plan was made). */
  skipped: Skipped[];
}

export interface ExecuteOptions extends ReadOptions {
  now: number;
  policyOf: (repo: string) => CompiledPolicy;
}

interface Seen {
  digest?: Digest;
  time: number;
}

function changed(t: TagDecision, now: Seen | undefined): string | undefined {
  const seen = now?.digest ?? null;
  if (seen !== t.digest) return `its current link now names ${seen ?? 'nothing'} (planned with ${t.digest ?? 'nothing'})`;
  // 1 ms of slack: a local store's times reach the plan through the fast-reads decorator (from
  // mtimeMs) and the re-check through the driver (Node's rounded Date); a push moves it by more.
  if (!Number.isNaN(t.pushed) && now && Math.abs(now.time - t.pushed) > 1) return `pushed again at ${new Date(now.time).toISOString()} (after the plan)`;
  return undefined;
}

/** Flat listings: one walk of the repository's tags gives every current link's ETag and time, and the keys to delete. */
async function untagFlat(d: StorageDriver, repo: string, tags: TagDecision[], out: PruneOutcome): Promise<void> {
  const dir = tagsDir(repo);
  const keys = new Map<string, string[]>();
  const current = new Map<string, FileInfo>();
  const wanted = new Set(tags.map((t) => t.tag));
  for await (const f of d.walk(dir)) {
    const [tag, a, b, extra] = f.path.slice(dir.length + 1).split('/');
    if (!wanted.has(tag!)) continue;
    keys.set(tag!, [...(keys.get(tag!) ?? []), f.path]);
    if (a === 'current' && b === 'link' && extra === undefined) current.set(tag!, f);
  }
  const doomed: string[] = [];
  await Promise.all(
    tags.map(async (t) => {
      const f = current.get(t.tag);
      let seen: Seen | undefined;
      if (f) {
        const etag = f.etag?.toLowerCase();
        if (etag && t.digest && linkEtag(t.digest) === etag) seen = { digest: t.digest, time: f.modTime.getTime() };
        else {
          const c = await readTagCurrent(d, repo, t.tag);
          seen = { digest: c === 'malformed' ? ('malformed' as Digest) : c, time: f.modTime.getTime() };
        }
      }
      const why = keys.has(t.tag) ? changed(t, seen) : 'the tag is already gone';
      if (why) out.skipped.push({ repo, tag: t.tag, why });
      else {
        doomed.push(...keys.get(t.tag)!);
        out.untagged.push({ repo, tag: t.tag });
      }
    }),
  );
  // History first, current links last: a run cut short leaves tags that still resolve (verify
  // --fix restores a missing history entry), never a tag that is listed but answers 404.
  const isCurrent = (p: string): boolean => p.endsWith('/current/link');
  await d.deleteFiles(doomed.filter((p) => !isCurrent(p)));
  await d.deleteFiles(doomed.filter(isCurrent));
}

/** Tree listings: per tag a stat and a read, then the directory. */
async function untagTree(d: StorageDriver, repo: string, tags: TagDecision[], concurrency: number, out: PruneOutcome): Promise<void> {
  await eachLimit(tags, concurrency, async (t) => {
    const seen = await orIfNotFound(async (): Promise<Seen> => {
      const st = await d.stat(tagCurrentLinkPath(repo, t.tag));
      const c = await readTagCurrent(d, repo, t.tag);
      return { digest: c === 'malformed' ? ('malformed' as Digest) : c, time: st.modTime.getTime() };
    }, undefined);
    const why = changed(t, seen);
    if (why) return void out.skipped.push({ repo, tag: t.tag, why });
    try {
      await untag(d, repo, t.tag);
      out.untagged.push({ repo, tag: t.tag });
    } catch (err) {
      out.skipped.push({ repo, tag: t.tag, why: `the tag is already gone (${(err as Error).message})` });
    }
  });
}

/**
 * The repository is read again (tags, current links, revisions and their times; manifests pushed
 * since the plan) and planned again: a manifest goes only if that plan still deletes it and no
 * tag names it. Deletion is delete-by-digest (its revision link; no tag names it), in batches:
 * each batch holds manifests no other doomed one must precede (deletionOrder), so a run cut short
 * still never leaves a kept index or referrer naming a deleted manifest.
 */
async function deleteManifests(d: StorageDriver, r: RepoRetention, facts: RepoFacts, opts: ExecuteOptions, out: PruneOutcome): Promise<void> {
  const order = deletionOrder(r, facts);
  if (order.length === 0) return;
  const fresh = await readRepository(d, r.name, opts, facts.manifests);
  const again = planRepository(fresh, opts.policyOf(r.name), opts.now);
  const stillGoing = new Set(again.manifests.filter((m) => m.action === 'delete').map((m) => m.digest));
  const named = new Set(fresh.tags.map((t) => t.digest));
  const going: Digest[] = [];
  for (const digest of order) {
    if (!stillGoing.has(digest) || named.has(digest)) {
      out.skipped.push({ repo: r.name, digest, why: named.has(digest) ? 'a tag names it now' : 'the repository changed since the plan: it is kept now' });
    } else going.push(digest);
  }
  for (const batch of deletionBatches(going, fresh)) {
    await d.deleteFiles(batch.map((digest) => revisionLinkPath(r.name, digest)));
    for (const digest of batch) out.deleted.push({ repo: r.name, digest });
  }
}

/** `order` (an index before its children, a referrer before its subject) cut into batches whose members need no order among them. */
function deletionBatches(order: Digest[], f: RepoFacts): Digest[][] {
  const inOrder = new Set(order);
  const namedBy = new Map<Digest, Digest[]>(); // a doomed manifest -> the doomed ones naming it
  for (const p of order) {
    const m = f.manifests?.get(p);
    if (m?.state !== 'ok') continue;
    for (const c of m.subject ? [...m.children, m.subject] : m.children) if (inOrder.has(c)) namedBy.set(c, [...(namedBy.get(c) ?? []), p]);
  }
  const batches: Digest[][] = [[]];
  let members = new Set<Digest>();
  for (const digest of order) {
    if ((namedBy.get(digest) ?? []).some((p) => members.has(p))) {
      batches.push([]); // it must go after a member of this batch
      members = new Set();
    }
    batches[batches.length - 1]!.push(digest);
    members.add(digest);
  }
  return batches.filter((b) => b.length > 0);
}

/** Carries the plan out, repository by repository. */
export async function executeRetention(d: StorageDriver, plan: RepoRetention[], facts: Map<string, RepoFacts>, opts: ExecuteOptions): Promise<PruneOutcome> {
  const out: PruneOutcome = { untagged: [], deleted: [], skipped: [] };
  await eachLimit(plan, opts.concurrency, async (r) => {
    const tags = r.tags.filter((t) => t.action === 'untag');
    if (tags.length > 0) {
      if (d.prefersFlatListing) await untagFlat(d, r.name, tags, out);
      else await untagTree(d, r.name, tags, opts.concurrency, out);
    }
    await deleteManifests(d, r, facts.get(r.name)!, opts, out);
  });
  const byRepo = <T extends { repo: string }>(a: T, b: T): number => compareStrings(a.repo, b.repo);
  out.untagged.sort((a, b) => byRepo(a, b) || compareStrings(a.tag, b.tag));
  out.deleted.sort((a, b) => byRepo(a, b) || compareStrings(a.digest, b.digest));
  out.skipped.sort(byRepo);
  return out;
}
