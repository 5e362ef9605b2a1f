// bench/scale.ts's synthetic store on a tiny shape: the same seed gives the same store, listings
// come in key order as S3's do, manifests hash to their digests, and regbucket's gc dry run
// plans exactly the generator's garbage, with and without --delete-untagged (throttled
// requests retried on the way).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SHAPE, SyntheticStore, type Network, type Shape } from '../../bench/synthetic-store.js';
import { collectGc } from '../../src/gc/run.js';
import { BLOBS, REPOSITORIES } from '../../src/store/paths.js';
import { tempDir } from '../lab/tools.js';

const SHAPE: Shape = { ...DEFAULT_SHAPE, blobs: 3000, imagesPerRepo: 10, tagsPerRepo: 3, layers: 2, bases: 10, seed: 5 };
const QUIET: Network = { latencyMs: 0, throttleRate: 0, maxAttempts: 6 };

async function keys(store: SyntheticStore, path: string): Promise<string[]> {
  const out: string[] = [];
  for await (const f of store.walk(path)) out.push(f.path);
  return out;
}

describe('synthetic store (bench/scale.ts)', () => {
  const dir = tempDir();

  it('is the same store for the same seed, listed in key order, with manifests that hash to their digests', async () => {
    const a = new SyntheticStore(SHAPE, QUIET, dir);
    const b = new SyntheticStore(SHAPE, QUIET, dir);
    const other = new SyntheticStore({ ...SHAPE, seed: 6 }, QUIET, dir);
    const blobs = await keys(a, BLOBS);
    expect(blobs).toHaveLength(SHAPE.blobs);
    expect(blobs).toEqual(await keys(b, BLOBS));
    expect(await keys(a, REPOSITORIES)).toEqual(await keys(b, REPOSITORIES));
    expect(await keys(other, BLOBS)).not.toEqual(blobs);
    for (const list of [blobs, await keys(a, REPOSITORIES)]) for (let k = 1; k < list.length; k++) expect(list[k - 1]! < list[k]!).toBe(true);
    // A shard's listing is that shard's part of the whole.
    const shard = `${BLOBS}/${blobs[0]!.slice(BLOBS.length + 1, BLOBS.length + 3)}`;
    expect(await keys(a, shard)).toEqual(blobs.filter((k) => k.startsWith(`${shard}/`)));
    let manifests = 0;
    for (const k of blobs) {
      const hex = k.split('/').at(-2)!;
      if (a.classify(hex)?.kind !== 'manifest') continue;
      manifests++;
      const body = await a.getContent(k);
      expect(createHash('sha256').update(body).digest('hex')).toBe(hex);
      expect((await a.statFile(k)).size).toBe(body.length);
    }
    expect(manifests).toBe(a.counts.images);
    await Promise.all([a.close(), b.close(), other.close()]);
  });

  for (const deleteUntagged of [false, true]) {
    it(`gc --dry-run${deleteUntagged ? ' --delete-untagged' : ''} plans exactly the generator's garbage`, async () => {
      // Throttled answers on the way: the store retries them as the SDK would.
      const store = new SyntheticStore(SHAPE, { ...QUIET, throttleRate: deleteUntagged ? 0.02 : 0 }, dir);
      const input = await collectGc(store, { dryRun: true, deleteUntagged, minAgeMs: 0, uploadsOlderThanMs: 86_400_000, concurrency: 8, now: Date.now() });
      const planned = new Set(input.plan.blobs.map((i) => input.table.set.hex(i)));
      const garbage = new Set<string>();
      for (const k of await keys(store, BLOBS)) {
        const hex = k.split('/').at(-2)!;
        if (store.isGarbage(store.classify(hex)!, deleteUntagged)) garbage.add(hex);
      }
      expect(garbage.size).toBe(store.expectedGarbage(deleteUntagged));
      expect([...planned].sort()).toEqual([...garbage].sort());
      expect(input.plan.repos.reduce((n, r) => n + r.revisions.length, 0)).toBe(store.expectedRevisions(deleteUntagged));
      expect(input.plan.warnings).toEqual([]);
      if (deleteUntagged) expect(store.throttled).toBeGreaterThan(0);
      await store.close();
    });
  }
});
