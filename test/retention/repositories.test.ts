// Whole repositories: mv (on a filesystem layer links copied and manifests renamed in one step;
// copy then remove on flat-listing backends) keeps every tag and manifest under the new name, a run
// cut short after any write leaves every tag served under one of the names, nested repositories
// stay where they are and an existing name is never overwritten; delete --repository empties one so gc frees exactly what
// du called exclusive; dry runs change nothing.
import { describe, expect, it } from 'vitest';
import { listAllTags } from '../../src/store/listing.js';
import { executeRename, planRename } from '../../src/store/rename.js';
import { RefusedError } from '../../src/errors.js';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { tempDir } from '../lab/tools.js';
import { tagsComplete } from '../reliability/harness.js';
import type { StorageDriver } from '../../src/drivers/driver.js';
import { filesystemStore, image, index, memoryStore, type TestStore } from '../gc/store-builder.js';
import type { StoreUsage } from '../../src/usage/du.js';

async function build(s: TestStore): Promise<void> {
  const shared = Buffer.from('shared base layer');
  const a = await image(s.d, 'app', { tag: 'v1', layers: [shared, Buffer.alloc(3000, 1)] });
  const b = await image(s.d, 'app', { tag: 'v2', layers: [Buffer.alloc(2000, 2)] });
  await index(s.d, 'app', [a, b], 'multi');
  await image(s.d, 'app', { subject: a.manifest, artifactType: 'application/example' });
  await image(s.d, 'app/sub', { tag: 'nested', layers: [shared] });
  await image(s.d, 'other', { tag: 'latest', layers: [shared] });
}

type Listing = { name: string; tags: { tag: string; digest?: string }[] }[];
const names = (l: Listing): [string, [string, string | undefined][]][] => l.map((r) => [r.name, r.tags.map((t) => [t.tag, t.digest])]);

const WRITES = ['putContent', 'putStream', 'move', 'delete', 'deleteFiles'];

/** The driver with its writes going through `write` (a crash is a write that throws). */
function cutDriver(d: StorageDriver, write: (op: string, run: () => unknown) => unknown): StorageDriver {
  return new Proxy(d, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      const f = v as (...a: unknown[]) => unknown;
      if (!WRITES.includes(String(prop))) return f.bind(target);
      return (...a: unknown[]) => write(String(prop), () => f.apply(target, a));
    },
  });
}

describe('mv', { timeout: 600_000 }, () => {
  for (const make of [memoryStore, () => filesystemStore()]) {
    it(`renames with every tag and manifest (${make().kind})`, async () => {
      const s = make();
      await build(s);
      const before = names(await listAllTags(s.d, 4));
      await executeRename(s.d, await planRename(s.d, 'app', 'team/app'));
      const after = names(await listAllTags(s.d, 4));
      const moved = before.map(([n, t]): [string, [string, string | undefined][]] => [n === 'app' ? 'team/app' : n, t]).sort((x, y) => (x[0] < y[0] ? -1 : 1));
      expect(after).toEqual(moved);
      expect(after.map(([n]) => n)).toContain('app/sub'); // nested repositories stay
      const files = await s.files();
      expect(files.filter((f) => f.includes('/repositories/app/_'))).toEqual([]);
      await expect(planRename(s.d, 'other', 'team/app')).rejects.toBeInstanceOf(RefusedError);
    });
  }

  for (const make of [memoryStore, () => filesystemStore()]) {
    it(`a rename cut short after any write leaves every tag served under one of the names (${make().kind})`, async () => {
      let completed = false;
      for (let allowed = 0; !completed; allowed++) {
        const s = make();
        await build(s);
        const before = await tagsComplete(s.d);
        let writes = 0;
        const cut = cutDriver(s.d, (_op, run) => {
          if (++writes > allowed) throw new Error('cut');
          return run();
        });
        try {
          await executeRename(cut, await planRename(s.d, 'app', 'team/app'));
          completed = true;
        } catch (err) {
          if ((err as Error).message !== 'cut') throw err;
        }
        const after = await tagsComplete(s.d);
        for (const [ref, digest] of before) {
          const [repo, tag] = ref.split(':') as [string, string];
          const served = repo === 'app' ? [after.get(ref), after.get(`team/app:${tag}`)] : [after.get(ref)];
          expect(served, `${ref} after ${allowed} writes`).toContain(digest);
        }
        if (completed) expect([...after.keys()].filter((k) => k.startsWith('app:'))).toEqual([]);
      }
    });
  }

  it('a rename cut short before the manifests moved: gc removes the partial copy and mv runs again', async () => {
    const root = tempDir('regbucket-mv-cut-');
    const s = filesystemStore(root);
    await build(s);
    let writes = 0;
    const cut = cutDriver(s.d, (op, run) => {
      if (op === 'move') return Promise.reject(new Error('cut'));
      if (op === 'putContent') writes++;
      return run();
    });
    await expect(executeRename(cut, await planRename(s.d, 'app', 'team/app'))).rejects.toThrow('cut');
    expect(writes).toBeGreaterThan(0);
    expect((await regbucket(['--store', root, 'mv', 'app', 'team/app'])).code).toBe(2);
    await regbucketOk(['--store', root, 'gc', '--min-age', '0']);
    await regbucketOk(['--store', root, 'mv', 'app', 'team/app']);
    expect([...(await tagsComplete(s.d)).keys()].filter((k) => k.startsWith('team/app:')).sort()).toEqual(['team/app:multi', 'team/app:v1', 'team/app:v2']);
  });

  it('through the CLI: refuses an existing or ungrammatical name, changing nothing', async () => {
    const root = tempDir('regbucket-mv-');
    const s = filesystemStore(root);
    await build(s);
    const files = await s.files();
    const clash = await regbucket(['--store', root, 'mv', 'app', 'other']);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/^regbucket: error: .*other exists already/m);
    expect((await regbucket(['--store', root, 'mv', 'app', 'Bad/Name'])).code).toBe(2);
    expect((await regbucket(['--store', root, 'mv', 'nope', 'x'])).code).toBe(1);
    await regbucketOk(['--store', root, 'mv', '--dry-run', 'app', 'renamed']);
    expect(await s.files()).toEqual(files);
    await regbucketOk(['--store', root, 'mv', 'app', 'renamed']);
    const ls = (await regbucketOk(['--store', root, '--json', 'ls'])).json<{ repositories: { name: string; tagCount: number }[] }>();
    expect(ls.repositories).toEqual([
      { name: 'app/sub', tagCount: 1 },
      { name: 'other', tagCount: 1 },
      { name: 'renamed', tagCount: 3 },
    ]);
  });
});

describe('delete --repository', { timeout: 600_000 }, () => {
  it('empties the repository; gc then frees what du called exclusive', async () => {
    const root = tempDir('regbucket-delrepo-');
    const s = filesystemStore(root);
    await build(s);
    const du = (await regbucketOk(['--store', root, '--json', 'du'])).json<StoreUsage>();
    const exclusive = du.repositories.find((r) => r.name === 'app')!.exclusiveBytes;
    const files = await s.files();
    const dry = (await regbucketOk(['--store', root, '--json', 'delete', '--dry-run', '--repository', 'app'])).json<{ repositories: { manifests: string[]; tags: string[] }[] }>();
    expect(dry.repositories[0]!.manifests).toHaveLength(4); // two images, their index, a referrer
    expect(dry.repositories[0]!.tags.sort()).toEqual(['multi', 'v1', 'v2']);
    expect(await s.files()).toEqual(files);
    const real = (await regbucketOk(['--store', root, '--json', 'delete', '--repository', 'app'])).json<{ repositories: { manifests: string[]; tags: string[] }[] }>();
    expect(real.repositories).toEqual(dry.repositories);
    const tags = await listAllTags(s.d, 4);
    expect(tags.map((r) => [r.name, r.tags.length])).toEqual([
      ['app', 0],
      ['app/sub', 1],
      ['other', 1],
    ]);
    const gc = (await regbucketOk(['--store', root, '--json', 'gc', '--min-age', '0'])).stdout;
    const after = (await regbucketOk(['--store', root, '--json', 'du'])).json<StoreUsage>();
    expect(du.total.bytes - after.total.bytes, gc).toBe(exclusive);
    expect(after.repositories.map((r) => r.name)).toEqual(expect.not.arrayContaining(['app']));
    expect((await regbucket(['--store', root, 'delete', '--repository', 'nope'])).code).toBe(1);
    expect((await regbucket(['--store', root, 'delete', 'other:latest', '--repository', 'other'])).code).toBe(2);
  });
});
