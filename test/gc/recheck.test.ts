// Pushes that land between the plan and the sweep, and a gc killed halfway: the store stays
// servable and nothing a new manifest needs is deleted; the next run finishes the job.
import { describe, expect, it } from 'vitest';
import type { StorageDriver } from '../../src/drivers/driver.js';
import type { Digest } from '../../src/image/digest.js';
import { planStore, runGc, type GcOptions } from '../../src/gc/run.js';
import { sweep, type SweepResult } from '../../src/gc/sweep.js';
import { blobExists } from '../../src/store/blobs.js';
import { hasRevision } from '../../src/store/manifests.js';
import { listTags, resolveTag, tagManifest } from '../../src/store/tags.js';
import { listRepositories } from '../../src/store/walk.js';
import { blob, image, index, manifest, orphan, OCI_MANIFEST, STORES, type Img } from './store-builder.js';

const WEEK = 7 * 24 * 3_600_000;
const all = (i: Img): Digest[] => [i.manifest.digest, i.config.digest, ...i.layers.map((l) => l.digest)];

function options(extra: Partial<GcOptions> = {}): GcOptions {
  return { dryRun: false, deleteUntagged: true, minAgeMs: 0, uploadsOlderThanMs: WEEK, concurrency: 4, ...extra };
}

/** Plans, lets `between` write to the store, then sweeps the plan made before it. */
async function planThenSweep(d: StorageDriver, between: () => Promise<void>, extra: Partial<GcOptions> = {}): Promise<{ planned: Digest[]; swept: SweepResult; digest: (i: number) => Digest }> {
  const opts = options(extra);
  const now = Date.now() + 5; // everything written so far is old (min-age 0); what `between` writes is not
  await new Promise((r) => setTimeout(r, 10));
  const s = await planStore(d, opts, now);
  const planned = s.plan.blobs.map((i) => s.table.set.digest(i));
  await new Promise((r) => setTimeout(r, 10));
  await between();
  const { onProgress: _progress, ...sweepOpts } = opts;
  const swept = await sweep(d, s.table, s.graph, s.plan, { ...sweepOpts, now, uploadsOlderThanMs: opts.uploadsOlderThanMs });
  return { planned, swept, digest: (i) => s.table.set.digest(i) };
}

async function present(d: StorageDriver, digests: Digest[]): Promise<Digest[]> {
  const out: Digest[] = [];
  for (const g of digests) if (await blobExists(d, g)) out.push(g);
  return out;
}

describe.each(STORES)('re-checks on %s', (_name, makeStore) => {
  it('an untagged manifest tagged after the plan is not deleted, nor its blobs', async () => {
    const { d } = makeStore();
    const old = await image(d, 'app', { tag: 'v1' });
    await image(d, 'app', { tag: 'v1' });
    const { planned, swept } = await planThenSweep(d, () => tagManifest(d, 'app', 'back', old.manifest.digest).then(() => undefined));
    expect(planned).toContain(old.layers[0]!.digest);
    expect(swept.revisions).toEqual([]);
    expect(swept.blobs).toEqual([]);
    expect(await hasRevision(d, 'app', old.manifest.digest)).toBe(true);
    expect(await present(d, all(old))).toEqual(all(old));
  });

  it('a manifest pushed after the plan keeps the unreferenced blobs it uses', async () => {
    const { d } = makeStore();
    const old = await image(d, 'app', { tag: 'v1' });
    await image(d, 'app', { tag: 'v1' }); // old is untagged: planned with its config and layer
    const looseBytes = Buffer.from(`loose orphan ${Math.random()}`);
    const loose = await orphan(d, looseBytes);
    const { planned, swept, digest } = await planThenSweep(d, async () => {
      // Reuses old's layer (already linked in app) and links the orphan into another repository.
      await manifest(d, 'app', { schemaVersion: 2, mediaType: OCI_MANIFEST, config: old.config, layers: old.layers, annotations: { v: '2' } }, 'v2');
      await blob(d, 'other', Buffer.from('x')); // other exists
      const { uploadBlob } = await import('../../src/store/blobs.js');
      const { Readable } = await import('node:stream');
      // A push of the same bytes: the blob is there with its size, so only the link is written.
      await uploadBlob(d, 'other', { digest: loose, size: looseBytes.length }, async () => Readable.from([looseBytes]), 'test');
    });
    expect(planned).toEqual(expect.arrayContaining([old.config.digest, old.layers[0]!.digest, old.manifest.digest, loose]));
    // old's revision is gone (still untagged), its manifest blob too; what v2 uses and the relinked orphan stay.
    expect(swept.revisions.map((r) => digest(r.digest))).toEqual([old.manifest.digest]);
    expect(swept.blobs.map(digest)).toEqual([old.manifest.digest]);
    expect(await present(d, [old.config.digest, old.layers[0]!.digest, loose])).toEqual([old.config.digest, old.layers[0]!.digest, loose]);
  });

  it('an old orphan a push reuses after the plan (its time refreshed, then linked) is kept', async () => {
    const { d } = makeStore();
    const loose = await orphan(d);
    const { planned, swept } = await planThenSweep(d, async () => {
      const { uploadBlob } = await import('../../src/store/blobs.js');
      const { blobDataPath } = await import('../../src/store/paths.js');
      const { Readable } = await import('node:stream');
      const st = await d.stat(blobDataPath(loose));
      if ('setModTime' in d) (d as unknown as { setModTime(p: string, t: Date): void }).setModTime(blobDataPath(loose), new Date(Date.now() - WEEK));
      else (await import('node:fs')).utimesSync((d as unknown as { root: string }).root + blobDataPath(loose), new Date(Date.now() - WEEK), new Date(Date.now() - WEEK));
      expect(st).toBeDefined();
      await uploadBlob(d, 'app', { digest: loose, size: (await d.stat(blobDataPath(loose))).size }, async () => Readable.from([]), 'test');
    });
    expect(planned).toContain(loose);
    expect(swept.blobs).toEqual([]);
    expect(await blobExists(d, loose)).toBe(true);
  });

  it('a repository planned for removal that gets a push meanwhile stays', async () => {
    const { d } = makeStore();
    await blob(d, 'quiet', Buffer.from('an abandoned upload'));
    const { swept } = await planThenSweep(d, () => image(d, 'quiet', { tag: 'new' }).then(() => undefined));
    expect(swept.repositories).toEqual([]);
    expect(await listRepositories(d)).toEqual(['quiet']);
    expect(await listTags(d, 'quiet')).toEqual(['new']);
  });
});

/** Deletions fail after `limit` calls, as if the process were killed there. */
function killedAfter(d: StorageDriver, limit: number): StorageDriver {
  let calls = 0;
  return new Proxy(d, {
    get(target, prop) {
      const v = Reflect.get(target, prop) as unknown;
      if (prop === 'delete' || prop === 'deleteFiles') {
        return async (arg: never) => {
          if (++calls > limit) throw new Error('killed');
          return (v as (a: never) => Promise<void>).call(target, arg);
        };
      }
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

async function buildMessyStore(d: StorageDriver): Promise<void> {
  const base = Buffer.from('shared base');
  await image(d, 'a', { tag: 'v1', layers: [base] });
  await image(d, 'a', { tag: 'v1', layers: [base, Buffer.from('old a')] });
  await image(d, 'a', { tag: 'v1', layers: [base, Buffer.from('new a')] });
  await index(d, 'm', [await image(d, 'm'), await image(d, 'm')], 'multi');
  await index(d, 'm', [await image(d, 'm')]);
  const gone = await image(d, 'gone', { tag: 'x' });
  const { deleteManifest } = await import('../../src/store/manifests.js');
  await deleteManifest(d, 'gone', gone.manifest.digest);
  await orphan(d);
  await orphan(d);
}

async function tagsResolve(d: StorageDriver): Promise<string[]> {
  const out: string[] = [];
  for (const repo of await listRepositories(d)) {
    for (const tag of await listTags(d, repo)) {
      const digest = await resolveTag(d, repo, tag);
      const m = JSON.parse((await d.getContent(`/docker/registry/v2/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`)).toString()) as {
        config?: { digest: Digest };
        layers?: { digest: Digest }[];
        manifests?: { digest: Digest }[];
      };
      const needed = [...(m.config ? [m.config.digest] : []), ...(m.layers ?? []).map((l) => l.digest), ...(m.manifests ?? []).map((c) => c.digest)];
      expect(await present(d, needed), `${repo}:${tag}`).toEqual(needed);
      out.push(`${repo}:${tag}`);
    }
  }
  return out;
}

describe.each(STORES)('a gc killed halfway on %s', (_name, makeStore) => {
  it('leaves every tag servable after any number of deletions, and the next run completes the job', async () => {
    // Every cut point up to 12 deletions, then ever sparser ones, until a run is not cut short.
    for (let limit = 0; ; limit = limit < 12 ? limit + 1 : Math.ceil(limit * 1.5)) {
      const { d } = makeStore();
      await buildMessyStore(d);
      const tags = await tagsResolve(d);
      const plan = await runGc(d, options({ dryRun: true }));
      const killed = await runGc(killedAfter(d, limit), options()).then(
        () => false,
        (err: Error) => {
          expect(err.message).toBe('killed');
          return true;
        },
      );
      expect(await tagsResolve(d)).toEqual(tags);
      const finish = await runGc(d, options());
      expect(await tagsResolve(d)).toEqual(tags);
      const after = await runGc(d, options({ dryRun: true }));
      expect(after.planned).toMatchObject({ blobs: 0, manifests: 0, layerLinks: 0, repositories: 0, uploads: 0 });
      // Together the two runs deleted what the plan said, no more.
      const deleted = new Set(finish.lists.blobs.map((b) => b.digest));
      for (const b of plan.lists.blobs) expect(deleted.has(b.digest) || !(await blobExists(d, b.digest as Digest))).toBe(true);
      expect(finish.lists.blobs.every((b) => plan.lists.blobs.some((p) => p.digest === b.digest))).toBe(true);
      if (!killed) break;
    }
  }, 300_000);
});

describe.each(STORES)('untagged revisions deleted by a gc killed halfway on %s', (_name, makeStore) => {
  it('never leave an index whose child is gone: indexes go before their children', async () => {
    for (let limit = 0; ; limit++) {
      const { d } = makeStore();
      const kids = [await image(d, 'm'), await image(d, 'm'), await image(d, 'm')];
      const top = await index(d, 'm', kids); // untagged, like its children
      await image(d, 'm', { tag: 'v1' });
      const killed = await runGc(killedAfter(d, limit), options()).then(
        () => false,
        () => true,
      );
      // Every revision left is complete: an index left behind still has all its children.
      if (await hasRevision(d, 'm', top.digest)) {
        for (const k of kids) expect(await hasRevision(d, 'm', k.manifest.digest), `cut after ${limit} deletions`).toBe(true);
      }
      await runGc(d, options());
      for (const k of [top.digest, ...kids.map((x) => x.manifest.digest)]) expect(await hasRevision(d, 'm', k)).toBe(false);
      if (!killed) break;
    }
  }, 180_000);
});
