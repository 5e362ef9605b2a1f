// The retention planner, pure: from what a repository holds (tags with push times, manifests
// with their children and subjects) and the policy that governs it, every tag and manifest kept
// or removed, with the rule that decided. A dry run prints this plan; a real run carries it out
// (execute.ts), re-checking each step. Semantics: docs/retention-policy.md.
//
// Traps the peers fell into, answered here:
// - Prune untags; a manifest goes only by `untaggedOlderThan`, and only when no kept tag names
//   it, so a tag sharing its digest with a kept tag is untagged and the manifest stays.
// - A kept manifest keeps its index children, its referrers (OCI `subject`) and its cosign
//   tag-scheme attachments (`sha256-<hex>.sig|.att|.sbom`, and the referrers fallback tag
//   `sha256-<hex>`), recursively.
// - Attachment tags are not ranked by rules: they go when their subject loses its last tag or is
//   deleted by this plan, and stay otherwise.
import { attachmentSubject } from '../image/attachments.js';
import type { Digest } from '../image/digest.js';
import { formatDuration } from '../util/duration.js';
import type { CompiledPolicy } from './policy.js';
import { byName, compareStrings } from '../util/compare.js';

export interface TagFact {
  name: string;
  /** What `current/link` names; undefined when the tag has no current link. */
  digest?: Digest;
  /** Push time: the current link's modification time (ms; NaN when unknown). */
  pushed: number;
  /** Why the current link could not be read. */
  unreadable?: string;
}

export type ManifestFact = { state: 'ok'; children: Digest[]; subject?: Digest } | { state: 'missing' } | { state: 'unreadable'; reason: string };

export interface RepoFacts {
  name: string;
  tags: TagFact[];
  /** Revisions (manifests of the repository) with their link's modification time. */
  revisions: Map<Digest, number>;
  /** Manifests read (revisions and index children); undefined when none were read. */
  manifests?: Map<Digest, ManifestFact>;
}

export type TagAction = 'keep' | 'untag';
export type ManifestAction = 'keep' | 'delete';

export interface TagDecision {
  tag: string;
  digest: Digest | null;
  pushed: number;
  action: TagAction;
  /** The policy entry that decided (`policies[0].rules[1]`, `policies[0].protect[0]`), or what else did. */
  rule: string;
  reason: string;
}

export interface ManifestDecision {
  digest: Digest;
  pushed: number;
  action: ManifestAction;
  rule: string;
  reason: string;
}

export interface RepoRetention {
  name: string;
  /** Index of the governing policy. */
  policy: number;
  tags: TagDecision[];
  /** Every revision of the repository. */
  manifests: ManifestDecision[];
  /** Why no manifest of the repository may be deleted (an unreadable manifest or tag). */
  pinned?: string;
}

/** True when planning this repository needs its manifests read (children, subjects). */
export function needsManifests(policy: CompiledPolicy, tags: { name: string }[]): boolean {
  return policy.untaggedOlderThanMs !== undefined || tags.some((t) => attachmentSubject(t.name) !== undefined);
}

/** Unknown times count as recent: never remove what may have been pushed a moment ago. */
function within(now: number, pushed: number, ms: number): boolean {
  return !(now - pushed >= ms);
}

function byRecency(a: TagFact, b: TagFact): number {
  const ta = Number.isNaN(a.pushed) ? Infinity : a.pushed;
  const tb = Number.isNaN(b.pushed) ? Infinity : b.pushed;
  if (ta !== tb) return tb - ta;
  return byName(a, b);
}

function keepRuleText(r: { keepLast?: number; keepWithinMs?: number }): string {
  return [r.keepLast !== undefined ? `keep-last ${r.keepLast}` : '', r.keepWithinMs !== undefined ? `keep-within ${formatDuration(r.keepWithinMs)}` : ''].filter(Boolean).join(', ');
}

/** Decisions for the tags rules rank (not attachments). */
function decideRankedTags(p: CompiledPolicy, tags: TagFact[], now: number): Map<string, TagDecision> {
  const out = new Map<string, TagDecision>();
  const at = `policies[${p.index}]`;
  const groups = p.rules.map(() => [] as TagFact[]);
  const decide = (t: TagFact, action: TagAction, rule: string, reason: string): void => {
    out.set(t.name, { tag: t.name, digest: t.digest ?? null, pushed: t.pushed, action, rule, reason });
  };
  for (const t of tags) {
    const prot = p.protect.findIndex((re) => re.test(t.name));
    if (prot >= 0) decide(t, 'keep', `${at}.protect[${prot}]`, `protected by ${p.protect[prot]!.source}`);
    else if (t.unreadable) decide(t, 'keep', 'unreadable', `its current link cannot be read: ${t.unreadable}`);
    else {
      const r = p.rules.find((x) => x.match.test(t.name));
      if (r) groups[r.index]!.push(t);
      else decide(t, 'keep', 'unmatched', 'no rule selects it');
    }
  }
  for (const r of p.rules) {
    const { keepLast, keepWithinMs } = r.source;
    const id = `${at}.rules[${r.index}]`;
    groups[r.index]!.sort(byRecency).forEach((t, rank) => {
      if (keepLast !== undefined && rank < keepLast) decide(t, 'keep', id, `among the ${keepLast} most recently pushed (${rank + 1})`);
      else if (keepWithinMs !== undefined && within(now, t.pushed, keepWithinMs)) decide(t, 'keep', id, `pushed within ${formatDuration(keepWithinMs)}`);
      else decide(t, 'untag', id, `selected and beyond ${keepRuleText(r.source)}`);
    });
  }
  return out;
}

interface Closure {
  why: Map<Digest, string>;
  /** Attachment tags reached (their subject is in the closure). */
  attachments: Set<string>;
}

/**
 * Everything kept from `roots`: index children, referrers (OCI subject) among the revisions, and
 * attachment tags of kept subjects with what they name, recursively.
 */
function closure(f: RepoFacts, roots: [Digest, string][], attachmentsBySubject: Map<Digest, TagFact[]>): Closure {
  const why = new Map<Digest, string>();
  const attachments = new Set<string>();
  const referrers = new Map<Digest, Digest[]>();
  for (const rev of f.revisions.keys()) {
    const m = f.manifests?.get(rev);
    if (m?.state === 'ok' && m.subject) referrers.set(m.subject, [...(referrers.get(m.subject) ?? []), rev]);
  }
  const stack = roots.slice().reverse();
  while (stack.length > 0) {
    const [d, reason] = stack.pop()!;
    if (why.has(d)) continue;
    why.set(d, reason);
    const m = f.manifests?.get(d);
    if (m?.state === 'ok') for (const c of m.children) stack.push([c, `child of kept index ${d}`]);
    for (const r of referrers.get(d) ?? []) stack.push([r, `referrer of kept ${d}`]);
    for (const t of attachmentsBySubject.get(d) ?? []) {
      attachments.add(t.name);
      if (t.digest) stack.push([t.digest, `named by attachment tag ${t.name} of kept ${d}`]);
    }
  }
  return { why, attachments };
}

function whyPinned(f: RepoFacts): string | undefined {
  for (const rev of f.revisions.keys()) {
    const m = f.manifests?.get(rev);
    if (m?.state === 'unreadable') return `manifest ${rev} cannot be read (${m.reason})`;
  }
  for (const t of f.tags) if (t.unreadable) return `tag ${t.name}: ${t.unreadable}`;
  return undefined;
}

/** The plan for one repository under its policy, at time `now`. */
export function planRepository(f: RepoFacts, p: CompiledPolicy, now: number): RepoRetention {
  const attachmentsBySubject = new Map<Digest, TagFact[]>();
  const ranked: TagFact[] = [];
  const orphans: TagFact[] = [];
  for (const t of f.tags) {
    const s = attachmentSubject(t.name);
    if (!s || t.unreadable || p.protect.some((re) => re.test(t.name))) ranked.push(t);
    else if (f.revisions.has(s)) attachmentsBySubject.set(s, [...(attachmentsBySubject.get(s) ?? []), t]);
    else orphans.push(t); // its subject is not here: nothing to follow, so it is left alone
  }
  const decided = decideRankedTags(p, ranked, now);
  for (const t of orphans) {
    decided.set(t.name, { tag: t.name, digest: t.digest ?? null, pushed: t.pushed, action: 'keep', rule: 'attachment', reason: `its subject ${attachmentSubject(t.name)} is not in the repository` });
  }
  const keptRoots: [Digest, string][] = [];
  for (const d of decided.values()) if (d.action === 'keep' && d.digest) keptRoots.push([d.digest, `tagged ${d.tag}`]);
  const tagged = closure(f, keptRoots, attachmentsBySubject);

  // Manifests: only an untaggedOlderThan rule deletes any, never in a pinned repository.
  const pinned = p.untaggedOlderThanMs !== undefined ? whyPinned(f) : undefined;
  const untaggedRule = `policies[${p.index}].untaggedOlderThan`;
  let kept = tagged;
  const manifests: ManifestDecision[] = [];
  if (p.untaggedOlderThanMs !== undefined && !pinned) {
    const window = p.untaggedOlderThanMs;
    const young: [Digest, string][] = [];
    for (const [rev, pushed] of f.revisions) {
      if (!tagged.why.has(rev) && within(now, pushed, window)) young.push([rev, `untagged, pushed within ${formatDuration(window)}`]);
    }
    kept = closure(f, [...keptRoots, ...young], attachmentsBySubject);
  }
  for (const [rev, pushed] of [...f.revisions].sort(([a], [b]) => compareStrings(a, b))) {
    const why = kept.why.get(rev);
    if (why) manifests.push({ digest: rev, pushed, action: 'keep', rule: why.startsWith('untagged') ? untaggedRule : 'kept-tag', reason: why });
    else if (p.untaggedOlderThanMs === undefined)
      manifests.push({ digest: rev, pushed, action: 'keep', rule: 'no-untagged-rule', reason: 'no kept tag names it; the policy has no untaggedOlderThan' });
    else if (pinned) manifests.push({ digest: rev, pushed, action: 'keep', rule: 'pinned', reason: `nothing is deleted in this repository: ${pinned}` });
    else manifests.push({ digest: rev, pushed, action: 'delete', rule: untaggedRule, reason: `no kept tag reaches it and it was pushed over ${formatDuration(p.untaggedOlderThanMs)} ago` });
  }
  const deleted = new Set(manifests.filter((m) => m.action === 'delete').map((m) => m.digest));
  const untaggedNow = new Set([...decided.values()].filter((d) => d.action === 'untag' && d.digest).map((d) => d.digest!));

  for (const [subject, list] of attachmentsBySubject) {
    for (const t of list) {
      const base = { tag: t.name, digest: t.digest ?? null, pushed: t.pushed };
      if (kept.attachments.has(t.name)) decided.set(t.name, { ...base, action: 'keep', rule: 'attachment', reason: `attachment of kept ${subject}` });
      else if (deleted.has(subject)) decided.set(t.name, { ...base, action: 'untag', rule: 'attachment', reason: `its subject ${subject} is deleted` });
      else if (untaggedNow.has(subject)) decided.set(t.name, { ...base, action: 'untag', rule: 'attachment', reason: `its subject ${subject} loses its last tag` });
      else decided.set(t.name, { ...base, action: 'keep', rule: 'attachment', reason: `its subject ${subject} is not touched by this prune` });
    }
  }
  const tags = [...decided.values()].sort((a, b) => compareStrings(a.tag, b.tag));
  return { name: f.name, policy: p.index, tags, manifests, ...(pinned ? { pinned } : {}) };
}

/**
 * Manifests to delete in a safe order: an index before its children, a referrer before its
 * subject (a run cut short never leaves a kept manifest naming a deleted one).
 */
export function deletionOrder(r: RepoRetention, f: RepoFacts): Digest[] {
  const going = new Set(r.manifests.filter((m) => m.action === 'delete').map((m) => m.digest));
  const after = new Map<Digest, Digest[]>(); // d -> manifests that must go before d
  for (const d of going) {
    const m = f.manifests?.get(d);
    if (m?.state !== 'ok') continue;
    for (const c of m.children) if (going.has(c)) after.set(c, [...(after.get(c) ?? []), d]);
    if (m.subject && going.has(m.subject)) after.set(m.subject, [...(after.get(m.subject) ?? []), d]);
  }
  const out: Digest[] = [];
  const state = new Map<Digest, 1 | 2>();
  const visit = (d: Digest): void => {
    if (state.get(d)) return; // 1 = on the stack (a cycle cannot come from content digests, but be safe)
    state.set(d, 1);
    for (const p of after.get(d) ?? []) visit(p);
    state.set(d, 2);
    out.push(d);
  };
  for (const d of [...going].sort()) visit(d);
  return out;
}
