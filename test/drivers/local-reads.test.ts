// Local stores are read on the main thread or by worker threads (when the disk is slow): both
// give the same answers, missing files and directories are "not found", other failures errors.
import { execFileSync } from 'node:child_process';
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import { PathNotFoundError, StorageError, UnsafePathError } from '../../src/errors.js';
import { LocalPool } from '../../src/drivers/local-reads/thread-pool.js';
import { localReads, type LocalReadMode } from '../../src/drivers/local-reads/decorator.js';
import { runGc } from '../../src/gc/run.js';
import { tempDir } from '../lab/tools.js';
import { filesystemStore, image, index, orphan } from '../gc/store-builder.js';

const dir = tempDir('regbucket-local-');
mkdirSync(join(dir, 'sub', 'inner'), { recursive: true });
writeFileSync(join(dir, 'small'), 'hello');
writeFileSync(join(dir, 'big'), Buffer.alloc(100));
writeFileSync(join(dir, 'sub', 'a'), 'a');

mkdirSync(join(dir, 'outside'));
writeFileSync(join(dir, 'outside', 'secret'), 'secret');
symlinkSync('../outside/secret', join(dir, 'sub', 'link'));
symlinkSync('../outside', join(dir, 'sub', 'dirlink'));
execFileSync('mkfifo', [join(dir, 'sub', 'fifo')]);

const pool = new LocalPool(2, 50, { root: realpathSync(dir), proc: process.platform === 'linux' });
afterAll(() => pool.close());

describe('local read threads', () => {
  it('read, stat and list in batches; missing is not an error; too big is said', async () => {
    const calls = await Promise.all([
      pool.call('read', '/small'),
      pool.call('read', '/big'),
      pool.call('read', '/nope'),
      pool.call('read', '/sub'), // a directory: not a file
      pool.call('stat', '/small'),
      pool.call('stat', '/sub'),
      pool.call('stat', '/nope'),
      pool.call('names', '/sub'),
      pool.call('names', '/small'), // a file: no names
      pool.call('names', '/nope'),
    ]);
    expect(calls[0]).toEqual(Buffer.from('hello'));
    expect(calls.slice(1, 4)).toEqual(['too-big', 'missing', 'missing']);
    expect(calls[4]).toMatchObject({ isDir: false, size: 5 });
    expect(calls[5]).toMatchObject({ isDir: true });
    expect(calls[6]).toBeUndefined();
    expect((calls[7] as string[]).sort()).toEqual(['a', 'dirlink', 'fifo', 'inner', 'link']);
    expect(calls.slice(8)).toEqual([undefined, undefined]);
  });

  it('a failure other than not-found is a StorageError naming the path', async () => {
    const long = '/' + 'x'.repeat(300); // ENAMETOOLONG
    await expect(pool.call('read', long)).rejects.toBeInstanceOf(StorageError);
    await expect(pool.call('stat', long)).rejects.toThrow(/x{300}/);
  });

  it('a symlink on any component or a FIFO is refused, never followed or opened', async () => {
    for (const op of ['read', 'stat', 'names'] as const) {
      for (const p of ['/sub/link', '/sub/dirlink/secret', '/sub/fifo']) {
        const err = await pool.call(op, p).catch((e: unknown) => e);
        if (op === 'names' && p === '/sub/fifo') continue; // not a directory either way
        expect(err, `${op} ${p}`).toBeInstanceOf(UnsafePathError);
        expect((err as UnsafePathError).path).toBe(p.startsWith('/sub/dirlink') ? '/sub/dirlink' : p);
      }
    }
  });

  it.each<LocalReadMode>(['main', 'threads'])('the driver view (%s) keeps the driver contract', async (mode) => {
    const { d, release } = localReads(new FilesystemDriver(dir), mode, 2);
    try {
      expect(await d.getContent('/small')).toEqual(Buffer.from('hello'));
      await expect(d.getContent('/nope')).rejects.toBeInstanceOf(PathNotFoundError);
      expect(await d.list('/sub')).toEqual(['/sub/a', '/sub/dirlink', '/sub/fifo', '/sub/inner', '/sub/link']);
      await expect(d.list('/nope')).rejects.toBeInstanceOf(PathNotFoundError);
      expect(await d.stat('/small')).toMatchObject({ path: '/small', size: 5, isDir: false });
      await expect(d.stat('/nope')).rejects.toBeInstanceOf(PathNotFoundError);
      await expect(d.stat('/../etc')).rejects.toThrow(/invalid path/);
    } finally {
      await release();
    }
  });
});

describe('gc on a local store', () => {
  it('plans the same with reads on the main thread and on read threads', async () => {
    const s = filesystemStore();
    await image(s.d, 'a', { tag: 'v1' });
    await image(s.d, 'a', { tag: 'v1' });
    await index(s.d, 'm', [await image(s.d, 'm'), await image(s.d, 'm')], 'x');
    await orphan(s.d);
    const opts = { dryRun: true, deleteUntagged: true, minAgeMs: 0, uploadsOlderThanMs: 1e12, concurrency: 4, now: Date.now() + 1000 };
    const main = await runGc(s.d, { ...opts, localReads: 'main' });
    const threads = await runGc(s.d, { ...opts, localReads: 'threads' });
    expect({ ...threads, seconds: 0 }).toEqual({ ...main, seconds: 0 });
    expect(main.planned).toMatchObject({ blobs: 4, manifests: 1 });
  });
});
