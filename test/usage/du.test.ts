// du against a brute-force computation from the store's files: per repository the distinct blobs
// its links name (bytes), those no other repository links (exclusive), the rest (shared); store
// totals; reclaimable equal to what gc would delete now; uploads in flight.
import { mkdirSync, readdirSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectGc } from '../../src/gc/run.js';
import { executeDelete } from '../../src/store/removal.js';
import { regbucketOk } from '../lab/cli.js';
import { tempDir } from '../lab/tools.js';
import { filesystemStore, image, index, orphan } from '../gc/store-builder.js';
import type { StoreUsage } from '../../src/usage/du.js';

const V2 = 'docker/registry/v2';

function dirs(p: string): string[] {
  return existsSync(p) ? readdirSync(p) : [];
}

/** Straight from the files: every repository (nested too) with the hexes its links name. */
function bruteForce(root: string): { repos: Map<string, Set<string>>; sizes: Map<string, number> } {
  const sizes = new Map<string, number>();
  const blobs = join(root, V2, 'blobs/sha256');
  for (const shard of dirs(blobs))
    for (const hex of dirs(join(blobs, shard))) {
      const data = join(blobs, shard, hex, 'data');
      if (existsSync(data)) sizes.set(hex, statSync(data).size);
    }
  const repos = new Map<string, Set<string>>();
  const visit = (dir: string, name: string): void => {
    const kids = dirs(dir);
    if (name && (kids.includes('_layers') || kids.includes('_manifests'))) {
      const set = new Set<string>();
      for (const sub of ['_layers/sha256', '_manifests/revisions/sha256']) {
        for (const hex of dirs(join(dir, sub))) if (existsSync(join(dir, sub, hex, 'link')) && sizes.has(hex)) set.add(hex);
      }
      repos.set(name, set);
    }
    for (const k of kids) if (!k.startsWith('_')) visit(join(dir, k), name ? `${name}/${k}` : k);
  };
  visit(join(root, V2, 'repositories'), '');
  return { repos, sizes };
}

describe('du', { timeout: 600_000 }, () => {
  it('agrees with a brute-force computation from the files', async () => {
    const root = tempDir('regbucket-du-');
    const s = filesystemStore(root);
    const shared = [Buffer.from('base layer shared by three repositories'), Buffer.from('second shared layer')];
    const a1 = await image(s.d, 'app', { tag: 'v1', layers: [shared[0]!, Buffer.from('app only 1')] });
    const a2 = await image(s.d, 'app', { layers: [shared[1]!] });
    await index(s.d, 'app', [a1, a2], 'multi');
    await image(s.d, 'app', { subject: a1.manifest, artifactType: 'application/example' });
    await image(s.d, 'team/api', { tag: 'latest', layers: [shared[0]!, shared[1]!, Buffer.alloc(5000, 7)] });
    await image(s.d, 'team/api/worker', { tag: 'x', layers: [shared[0]!] });
    const gone = await image(s.d, 'team/api', { tag: 'old', layers: [Buffer.alloc(7000, 3)] });
    // A deleted manifest leaves its layer links: reclaimable now.
    await executeDelete(s.d, { manifests: [{ repo: 'team/api', digest: gone.manifest.digest, mediaType: null, untag: ['old'], referencedBy: [] }], tags: [] });
    await orphan(s.d, Buffer.alloc(1234, 1));
    const up = join(root, V2, 'repositories/app/_uploads/0b6c3f0e-upload');
    mkdirSync(up, { recursive: true });
    writeFileSync(join(up, 'data'), Buffer.alloc(4321));
    writeFileSync(join(up, 'startedat'), new Date().toISOString());

    const u = (await regbucketOk(['--store', root, '--json', 'du', '--sort', 'name'])).json<StoreUsage>();
    const { repos, sizes } = bruteForce(root);
    const users = new Map<string, number>();
    for (const set of repos.values()) for (const h of set) users.set(h, (users.get(h) ?? 0) + 1);
    const sum = (hs: Iterable<string>): number => [...hs].reduce((n, h) => n + sizes.get(h)!, 0);
    expect(u.repositories.map((r) => r.name)).toEqual([...repos.keys()].sort());
    for (const r of u.repositories) {
      const set = repos.get(r.name)!;
      const exclusive = [...set].filter((h) => users.get(h) === 1);
      expect(r, r.name).toMatchObject({ bytes: sum(set), exclusiveBytes: sum(exclusive), sharedBytes: sum(set) - sum(exclusive), blobs: set.size });
    }
    expect(u.total.bytes).toBe(sum(sizes.keys()));
    expect(u.total.blobs).toBe(sizes.size);
    expect(u.total.logicalBytes).toBe([...repos.values()].reduce((n, set) => n + sum(set), 0));
    expect(u.total.unlinkedBytes).toBe(sum([...sizes.keys()].filter((h) => !users.has(h))));
    expect(u.total.unlinkedBytes).toBeGreaterThanOrEqual(1234); // the orphan, and the deleted manifest's bytes
    expect(u.repositories.find((r) => r.name === 'app')).toMatchObject({ uploads: 1, uploadBytes: 4321 });
    expect(u.repositories.find((r) => r.name === 'team/api')!.reclaimableBytes).toBeGreaterThanOrEqual(7000);
    // Reclaimable: exactly what gc (no minimum age) would delete.
    const gc = await collectGc(s.d, { dryRun: true, deleteUntagged: false, minAgeMs: 0, uploadsOlderThanMs: 0, concurrency: 4 });
    expect(u.total.reclaimableBytes).toBe(gc.plan.bytes);
  });
});
