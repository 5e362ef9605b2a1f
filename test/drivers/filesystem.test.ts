import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidPathError, PathNotFoundError, RegbucketError, UnsafePathError } from '../../src/errors.js';
import { byPath } from '../../src/util/compare.js';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import { tempDir } from '../lab/tools.js';
import { driverConformance } from './conformance.js';

/** Temp files (`<name>.<uuid>.tmp`) and staging directories (`.regbucket-staging-*`) anywhere below the root. */
function leftovers(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((rel) => {
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    return name.endsWith('.tmp') || name.startsWith('.regbucket-staging-');
  });
}

driverConformance('filesystem', async () => {
  const root = tempDir('regbucket-fsdriver-');
  return {
    driver: new FilesystemDriver(root),
    largeSize: 3 * 1024 * 1024,
    leftovers: async () => leftovers(root),
    cleanup: async () => rmSync(root, { recursive: true, force: true }),
  };
});

describe('filesystem listTree', () => {
  const tree = async (d: FilesystemDriver, path: string, between?: (dir: string) => void): Promise<Map<string, unknown>> => {
    const seen = new Map<string, unknown>();
    for await (const l of d.listTree(path)) {
      seen.set(l.dir, 'error' in l ? l.error : [...l.entries].sort(byPath));
      between?.(l.dir);
    }
    return seen;
  };

  it('lists every directory once with its entry types; symlinks and FIFOs are entries, never entered or opened', async () => {
    const root = tempDir('regbucket-fstree-');
    const outside = tempDir('regbucket-fstree-out-');
    try {
      mkdirSync(`${root}/t/a/b`, { recursive: true });
      mkdirSync(`${outside}/secret`);
      writeFileSync(`${root}/t/a/f`, 'x');
      symlinkSync(outside, `${root}/t/a/out`);
      execFileSync('mkfifo', [`${root}/t/a/b/pipe`]);
      const seen = await tree(new FilesystemDriver(root), '/t');
      expect([...seen.keys()].sort()).toEqual(['/t', '/t/a', '/t/a/b']);
      expect(seen.get('/t/a')).toEqual([
        { path: '/t/a/b', type: 'dir' },
        { path: '/t/a/f', type: 'file' },
        { path: '/t/a/out', type: 'symlink' },
      ]);
      expect(seen.get('/t/a/b')).toEqual([{ path: '/t/a/b/pipe', type: 'other' }]);
    } finally {
      rmSync(root, { recursive: true, force: true });
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('a directory replaced by a symlink after its parent was listed is refused (UnsafePathError), not followed; a name outside the grammar is InvalidPathError', async () => {
    const root = tempDir('regbucket-fstree-');
    const outside = tempDir('regbucket-fstree-out-');
    try {
      mkdirSync(`${root}/t/a`, { recursive: true });
      mkdirSync(`${root}/t/odd name`);
      mkdirSync(`${outside}/secret`);
      const seen = await tree(new FilesystemDriver(root), '/t', (dir) => {
        if (dir !== '/t') return;
        rmSync(`${root}/t/a`, { recursive: true });
        symlinkSync(outside, `${root}/t/a`);
      });
      expect([...seen.keys()].sort()).toEqual(['/t', '/t/a', '/t/odd name']);
      expect(seen.get('/t/a')).toBeInstanceOf(UnsafePathError);
      expect((seen.get('/t/a') as UnsafePathError).path).toBe('/t/a');
      expect(seen.get('/t/odd name')).toBeInstanceOf(InvalidPathError);
    } finally {
      rmSync(root, { recursive: true, force: true });
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('a missing directory is PathNotFoundError', async () => {
    const root = tempDir('regbucket-fstree-');
    try {
      const seen = await tree(new FilesystemDriver(root), '/none');
      expect(seen.get('/none')).toBeInstanceOf(PathNotFoundError);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

/** Exchanges two paths as fast as it can (renameat2 RENAME_EXCHANGE); prints "go" after the first exchange. */
const SWAPPER = `
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b = sys.argv[1].encode(), sys.argv[2].encode()
first = True
while True:
    if libc.renameat2(-100, a, -100, b, 2) == 0 and first:
        print("go", flush=True)
        first = False
`;

describe('filesystem delete', () => {
  it('a directory swapped for a symlink while its tree is deleted is never followed out of the store (30 deletes against a swapping process)', async () => {
    const root = tempDir('regbucket-fsdelete-');
    const outside = tempDir('regbucket-fsdelete-out-');
    const d = new FilesystemDriver(root);
    let refused = 0;
    try {
      for (let i = 0; i < 30; i++) {
        mkdirSync(`${root}/d/a/sub`, { recursive: true });
        writeFileSync(`${root}/d/a/sub/victim`, 'inside');
        mkdirSync(`${outside}/t`, { recursive: true });
        writeFileSync(`${outside}/t/victim`, 'outside');
        symlinkSync(`${outside}/t`, `${root}/swap`);
        const swapper = spawn('python3', ['-c', SWAPPER, `${root}/d/a/sub`, `${root}/swap`], { stdio: ['ignore', 'pipe', 'inherit'] });
        await new Promise<void>((resolve, reject) => {
          swapper.stdout.once('data', () => resolve());
          swapper.once('error', reject);
          swapper.once('exit', (c) => reject(new Error(`the swapper exited (${c}) before swapping: python3 is installed by scripts/install-test-deps.sh`)));
        });
        try {
          await d.delete('/d');
        } catch (err) {
          expect(err).toBeInstanceOf(RegbucketError);
          refused++;
        }
        swapper.kill('SIGKILL');
        await new Promise((resolve) => swapper.once('exit', resolve));
        expect(readdirSync(`${outside}/t`), `delete ${i}`).toEqual(['victim']);
        rmSync(`${root}/d`, { recursive: true, force: true });
        rmSync(`${root}/swap`, { recursive: true, force: true });
      }
      console.log(`[fs delete race] 30 deletes against a swapper: ${refused} refused, nothing outside the store removed`);
    } finally {
      rmSync(root, { recursive: true, force: true });
      rmSync(outside, { recursive: true, force: true });
    }
  }, 300_000);
});
