// Random tag histories x random policies, prune then gc, on flat (memory) and tree (filesystem)
// listings: no kept tag loses its manifest, children, referrers, attachments or blobs; every
// removed tag was selected by a rule (attachments: their subject lost its last tag or was
// deleted) and matches no protect pattern; the real run does exactly what the plan said.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StorageDriver } from '../../src/drivers/driver.js';
import { collectGc } from '../../src/gc/run.js';
import type { Digest } from '../../src/image/digest.js';
import { blobDataPath, layerLinkPath, revisionLinkPath, tagCurrentLinkPath } from '../../src/store/paths.js';
import { readLink } from '../../src/store/links.js';
import { listTags } from '../../src/store/tags.js';
import { compilePolicy, type Policy } from '../../src/retention/policy.js';
import { carryOut, planPrune } from '../../src/retention/run.js';
import { filesystemStore, memoryStore, type TestStore } from '../gc/store-builder.js';
import { buildHistory, DAY, prng, type History } from './history.js';

function randomPolicy(seed: number): Policy {
  const r = prng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const protect = ['^v[0-9]', '^latest$'].filter(() => r() < 0.4);
  const rules = [];
  for (let i = Math.floor(r() * 3); i > 0; i--) {
    const rule: { match?: string; keepLast?: number; keepWithinMs?: number } = {};
    const match = pick(['^pr-', '^main-', '.*', undefined, 'a']);
    if (match !== undefined) rule.match = match;
    if (r() < 0.7) rule.keepLast = Math.floor(r() * 4);
    if (rule.keepLast === undefined || r() < 0.3) rule.keepWithinMs = pick([1, 7, 20]) * DAY;
    rules.push(rule);
  }
  const untagged = pick([undefined, undefined, 0, 5 * DAY, 15 * DAY]);
  if (rules.length === 0 && untagged === undefined) rules.push({ keepLast: 2 });
  return { policies: [{ repositories: [pick(['app', '**', 'a*'])], protect, rules, ...(untagged !== undefined ? { untaggedOlderThanMs: untagged } : {}) }] };
}

async function exists(d: StorageDriver, path: string): Promise<boolean> {
  try {
    await d.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Everything a kept manifest needs, checked in the store: revision, bytes, blobs and their links, children, referrers, attachments. */
async function checkKept(d: StorageDriver, h: History, digest: Digest, seen: Set<Digest>, problems: string[]): Promise<void> {
  if (seen.has(digest) || !h.children.has(digest)) return; // not of this history (a dangling name) or done
  seen.add(digest);
  if ((await readLink(d, revisionLinkPath(h.repo, digest))) !== digest) problems.push(`revision ${digest} gone`);
  if (!(await exists(d, blobDataPath(digest)))) problems.push(`manifest blob ${digest} gone`);
  for (const b of h.blobs.get(digest)!) {
    if (!(await exists(d, blobDataPath(b)))) problems.push(`blob ${b} of ${digest} gone`);
    if (!(await exists(d, layerLinkPath(h.repo, b)))) problems.push(`layer link ${b} of ${digest} gone`);
  }
  for (const c of h.children.get(digest)!) await checkKept(d, h, c, seen, problems);
  for (const x of h.referrers.get(digest) ?? []) await checkKept(d, h, x, seen, problems);
  for (const [tag, subject] of h.attachments) {
    if (subject !== digest) continue;
    if ((await readLink(d, tagCurrentLinkPath(h.repo, tag))) !== h.tags.get(tag)) problems.push(`attachment ${tag} of kept ${digest} gone`);
    await checkKept(d, h, h.tags.get(tag)!, seen, problems);
  }
}

async function trial(make: () => TestStore, historySeed: number, policySeed: number, deleteUntagged: boolean): Promise<void> {
  const s = make();
  const now = Date.now();
  const h = await buildHistory(s, 'app', historySeed, now);
  const policy = randomPolicy(policySeed);
  const compiled = compilePolicy(policy);
  const p = policy.policies[0]!;
  const opts = { dryRun: false, concurrency: 4, now };
  const plan = await planPrune(s.d, compiled, opts);
  const again = await planPrune(s.d, compiled, opts);
  expect(again.repositories).toEqual(plan.repositories); // the dry run is the plan the real run carries out
  const outcome = await carryOut(s.d, compiled, plan, opts);
  await collectGc(s.d, { dryRun: false, deleteUntagged, minAgeMs: 0, uploadsOlderThanMs: 0, concurrency: 4, now: now + 1000 });

  const r = plan.repositories[0];
  if (!r) return; // the policy governs no repository here
  const planned = r.tags
    .filter((t) => t.action === 'untag')
    .map((t) => t.tag)
    .sort();
  expect(outcome.skipped).toEqual([]);
  expect(outcome.untagged.map((u) => u.tag)).toEqual(planned);
  expect(outcome.deleted.map((x) => x.digest).sort()).toEqual(
    r.manifests
      .filter((m) => m.action === 'delete')
      .map((m) => m.digest)
      .sort(),
  );

  const kept = r.tags.filter((t) => t.action === 'keep');
  expect((await listTags(s.d, 'app')).sort()).toEqual(kept.map((t) => t.tag).sort());
  const problems: string[] = [];
  const seen = new Set<Digest>();
  for (const t of kept) {
    if ((await readLink(s.d, tagCurrentLinkPath('app', t.tag))) !== t.digest) problems.push(`tag ${t.tag} moved`);
    if (t.digest) await checkKept(s.d, h, t.digest, seen, problems);
  }
  expect(problems).toEqual([]);
  // Independently: what the kept non-attachment tags reach (children, referrers, attachments).
  for (const t of r.tags.filter((x) => x.action === 'untag')) {
    expect(
      p.protect.some((re) => new RegExp(re).test(t.tag)),
      `${t.tag} is protected`,
    ).toBe(false);
    const subject = h.attachments.get(t.tag);
    if (subject) expect(seen.has(subject), `attachment ${t.tag} removed while ${subject} is kept`).toBe(false);
    else {
      const m = /^policies\[0\]\.rules\[(\d+)\]$/.exec(t.rule);
      expect(m, `${t.tag} removed by ${t.rule}`).not.toBeNull();
      const rule = p.rules[Number(m![1])]!;
      expect(new RegExp(rule.match ?? '').test(t.tag)).toBe(true);
    }
  }
}

const params = fc.record({ history: fc.integer({ min: 1, max: 2 ** 31 - 1 }), policy: fc.integer({ min: 1, max: 2 ** 31 - 1 }), deleteUntagged: fc.boolean() });

describe('prune then gc keeps everything a kept tag needs', () => {
  it('flat listings (memory driver)', async () => {
    await fc.assert(
      fc.asyncProperty(params, (x) => trial(memoryStore, x.history, x.policy, x.deleteUntagged)),
      { numRuns: 60 },
    );
  }, 300_000);
  it('tree listings (filesystem)', async () => {
    await fc.assert(
      fc.asyncProperty(params, (x) => trial(() => filesystemStore(), x.history, x.policy, x.deleteUntagged)),
      { numRuns: 20 },
    );
  }, 300_000);
});
