// SIGINT or SIGTERM while a push is uploading a layer: the push removes its own upload directory
// under `_uploads/` before exiting, exits 130 (SIGINT) or 143 (SIGTERM) as documented (128 + the
// signal number, README "Exit codes"), leaves no problem for verify, and pushing again completes
// the image, which the real registry then serves.
import { spawn } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import type { Digest } from '../../src/image/digest.js';
import { BIN, regbucketOk } from '../lab/cli.js';
import { makeLayout } from '../lab/images.js';
import { tempDir } from '../lab/tools.js';
import { servedByRegistry, tagsComplete, uploadsLeft, verifyStore } from './harness.js';

/**
 * Starts a push and sends `signal` as soon as an upload directory appears. `caught` is false
 * when the push finished before any upload was seen (then nothing was interrupted).
 */
function pushAndSignal(store: string, src: string, dest: string, signal: NodeJS.Signals): Promise<{ caught: boolean; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '--store', store, 'push', src, dest], { env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let caught = false;
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const poll = setInterval(() => {
      let seen = false;
      try {
        seen = uploadsLeft(store).length > 0;
      } catch {
        // the tree is being written: look again
      }
      if (seen && !caught) {
        caught = true;
        clearInterval(poll);
        child.kill(signal);
      }
    }, 2);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(poll);
      resolve({ caught, code, stderr });
    });
  });
}

describe('a push interrupted by a signal (filesystem)', () => {
  let work: string;
  let layout: string;
  let digest: Digest;

  beforeAll(async () => {
    work = tempDir('regbucket-interrupt-');
    layout = join(work, 'layout');
    // Layers above 1 MiB go through an upload directory; 24 MiB takes a while to hash and write.
    const { roots } = await makeLayout(layout, [{ ref: 'big', layers: 3, layerSize: 24 * 1024 * 1024 }]);
    digest = roots[0]!.digest as Digest;
  }, 300_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    '%s: its upload directory is removed, exit %i, and pushing again completes the image',
    async (signal, want) => {
      // The signal goes out when the first upload directory appears; a push fast enough to finish
      // between two looks is tried again on a fresh store.
      let r: { caught: boolean; code: number | null; stderr: string } | undefined;
      let store = '';
      for (let attempt = 0; attempt < 5 && !r?.caught; attempt++) {
        store = join(work, `${signal}-${attempt}`);
        r = await pushAndSignal(store, `oci:${layout}:big`, 'app:big', signal);
        if (!r.caught) expect(r.code, r.stderr).toBe(0);
      }
      expect(r!.caught, 'no push was still uploading when looked at').toBe(true);
      expect(r!.code, r!.stderr).toBe(want);
      expect(r!.stderr).toContain(`regbucket: interrupted (${signal}): removing this run's unfinished uploads`);
      const left = uploadsLeft(store);
      const inside = (u: string): string => {
        try {
          return readdirSync(u).join(', ');
        } catch (err) {
          return (err as Error).message;
        }
      };
      expect(left, `left behind: ${left.map((u) => `${u} [${inside(u)}]`).join('; ')}`).toEqual([]);
      expect((await verifyStore(['--store', store])).problems).toEqual([]);
      await regbucketOk(['--store', store, 'push', `oci:${layout}:big`, 'app:big']);
      const tags = await tagsComplete(new FilesystemDriver(store));
      expect(tags.get('app:big')).toBe(digest);
      expect(uploadsLeft(store)).toEqual([]);
      const served = await servedByRegistry(store, tags.keys());
      expect(served.get('app:big')).toBe(digest);
    },
    300_000,
  );
});
