// gc removes what killed regbucket writes leave in a filesystem store's root (staging directories
// and clock probes, outside docker/): only its own names, only once stale, never through a
// symlink, and a dry run lists exactly what a real run removes.
import { existsSync, lutimesSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { runGc, type GcOptions } from '../../src/gc/run.js';
import { filesystemStore, image } from './store-builder.js';
import { blobExists } from '../../src/store/blobs.js';
import { tempDir } from '../lab/tools.js';

const DAY = 24 * 3_600_000;

describe('gc and the leftovers of killed writes (filesystem)', () => {
  it('removes stale staging directories and clock probes, keeps fresh ones, foreign names and anything unsafe', async () => {
    const root = tempDir('regbucket-debris-');
    const canary = tempDir('regbucket-debris-canary-');
    writeFileSync(join(canary, 'keep'), 'outside the store');
    const s = filesystemStore(root);
    const img = await image(s.d, 'team/app', { tag: 'v1' });
    const old = new Date(Date.now() - 10 * DAY);
    const put = (name: string, make: (p: string) => void, when = old): string => {
      const p = join(root, name);
      make(p);
      lutimesSync(p, when, when); // not through a symlink
      return `/${name}`;
    };
    const stagedTree = (p: string): void => {
      mkdirSync(join(p, 'sha256', 'ab'), { recursive: true });
      writeFileSync(join(p, 'sha256', 'ab', 'link'), `sha256:${'a'.repeat(64)}`);
    };
    const staleDir = put(`.regbucket-staging-${randomUUID()}`, stagedTree);
    const staleClock = put(`.regbucket-staging-clock-${randomUUID()}`, (p) => writeFileSync(p, ''));
    const fresh = put(`.regbucket-staging-${randomUUID()}`, stagedTree, new Date());
    const withLink = put(`.regbucket-staging-${randomUUID()}`, (p) => {
      mkdirSync(p);
      symlinkSync(canary, join(p, 'escape'));
    });
    const linked = put(`.regbucket-staging-${randomUUID()}`, (p) => symlinkSync(canary, p));
    const foreign = put('.regbucket-staging-not-ours', (p) => writeFileSync(p, 'x'));
    // Shaped like the driver's names but no UUID it gives: 36 dashes, upper-case hex.
    const dashes = put(`.regbucket-staging-${'-'.repeat(36)}`, (p) => writeFileSync(p, 'x'));
    const upper = put(`.regbucket-staging-${randomUUID().toUpperCase()}`, (p) => writeFileSync(p, 'x'));
    const opts: GcOptions = { dryRun: true, deleteUntagged: false, minAgeMs: 0, uploadsOlderThanMs: 7 * DAY, concurrency: 4 };

    const plan = await runGc(s.d, opts);
    expect(plan.lists.writeDebris.map((x) => x.path).sort()).toEqual([staleClock, staleDir, withLink].sort());
    expect(plan.planned.writeDebris).toBe(3);
    expect(readdirSync(root).filter((n) => n.startsWith('.regbucket-staging-'))).toHaveLength(8);

    const run = await runGc(s.d, { ...opts, dryRun: false });
    expect(run.deleted?.writeDebris).toBe(2);
    expect(run.lists.writeDebris.map((x) => x.path).sort()).toEqual([staleClock, staleDir].sort());
    expect(run.warnings).toContainEqual(expect.objectContaining({ kind: 'left-in-place', path: withLink }));
    for (const gone of [staleDir, staleClock]) expect(existsSync(join(root, gone)), gone).toBe(false);
    for (const kept of [fresh, withLink, linked, foreign, dashes, upper]) expect(existsSync(join(root, kept)), kept).toBe(true);
    expect(readdirSync(canary)).toEqual(['keep']);
    expect(run.deleted?.blobs).toBe(0);
    expect(await blobExists(s.d, img.manifest.digest)).toBe(true);
    rmSync(root, { recursive: true, force: true });
    rmSync(canary, { recursive: true, force: true });
  });
});
