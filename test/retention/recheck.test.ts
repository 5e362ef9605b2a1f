// Writes that land between prune's plan and its deletions: the re-check keeps what they made
// reachable. The re-check reads the repository's tags and revisions again but reuses the
// manifests the plan read; a manifest pushed meanwhile is read, so what it names stays.
import { describe, expect, it } from 'vitest';
import type { TestStore } from '../gc/store-builder.js';
import { image, index, STORES } from '../gc/store-builder.js';
import { hasRevision } from '../../src/store/manifests.js';
import { tagCurrentLinkPath } from '../../src/store/paths.js';
import { listTags, resolveTag, tagManifest } from '../../src/store/tags.js';
import { compilePolicy } from '../../src/retention/policy.js';
import { carryOut, planPrune } from '../../src/retention/run.js';

const policies = compilePolicy({ policies: [{ repositories: ['**'], protect: [], rules: [{ keepLast: 1 }], untaggedOlderThanMs: 0 }] });

/** Three images tagged t1 < t2 < t3 by push time; the plan keeps t3 and deletes the other two manifests. */
async function threeImages(s: TestStore) {
  const imgs = [];
  for (const tag of ['t1', 't2', 't3']) imgs.push(await image(s.d, 'app', { tag }));
  const pushed = Date.now();
  for (const [i, tag] of ['t1', 't2', 't3'].entries()) await s.age(tagCurrentLinkPath('app', tag), new Date(pushed - (10 - i) * 60_000));
  await new Promise((r) => setTimeout(r, 10));
  const opts = { dryRun: false, concurrency: 4, now: Date.now() }; // what is written after the plan is newer
  const plan = await planPrune(s.d, policies, opts);
  const deleting = plan.repositories[0]!.manifests.filter((m) => m.action === 'delete').map((m) => m.digest);
  expect(deleting.sort()).toEqual([imgs[0]!.manifest.digest, imgs[1]!.manifest.digest].sort());
  return { imgs, plan, opts };
}

describe.each(STORES)('prune re-checks on %s', (_name, makeStore) => {
  it('a manifest tagged after the plan is not deleted; the tag moved meanwhile is not untagged', async () => {
    const s = makeStore();
    const { imgs, plan, opts } = await threeImages(s);
    const [a, b, c] = imgs.map((i) => i.manifest.digest);
    await tagManifest(s.d, 'app', 'back', a!);
    await tagManifest(s.d, 'app', 't2', c!); // t2 now names the kept image
    const out = await carryOut(s.d, policies, plan, opts);
    expect(out.untagged).toEqual([{ repo: 'app', tag: 't1' }]);
    expect(out.skipped.map((x) => x.tag ?? x.digest).sort()).toEqual([a, 't2'].sort());
    expect(out.skipped.find((x) => x.digest === a)!.why).toBe('a tag names it now');
    expect(out.deleted).toEqual([{ repo: 'app', digest: b }]);
    expect(await hasRevision(s.d, 'app', a!)).toBe(true);
    expect(await hasRevision(s.d, 'app', b!)).toBe(false);
    expect((await listTags(s.d, 'app')).sort()).toEqual(['back', 't2', 't3']);
    expect(await resolveTag(s.d, 'app', 't2')).toBe(c);
  });

  it('an index pushed after the plan keeps the planned manifest it names', async () => {
    const s = makeStore();
    const { imgs, plan, opts } = await threeImages(s);
    const [a, b] = imgs.map((i) => i.manifest.digest);
    await index(s.d, 'app', [imgs[0]!], 'multi'); // a new revision, not in the plan: read by the re-check
    const out = await carryOut(s.d, policies, plan, opts);
    expect(out.skipped).toEqual([{ repo: 'app', digest: a, why: 'the repository changed since the plan: it is kept now' }]);
    expect(out.deleted).toEqual([{ repo: 'app', digest: b }]);
    expect(await hasRevision(s.d, 'app', a!)).toBe(true);
  });
});
