// ONE conformance suite for every StorageDriver (memory, filesystem, S3 on Swift): what the
// layout core and the commands rely on, checked the same way on each backend.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StorageDriver } from '../../src/drivers/driver.js';
import { InvalidPathError, PathNotFoundError } from '../../src/errors.js';

export interface DriverFixture {
  driver: StorageDriver;
  /**
   * Bytes for the "large" cases: above the driver's streaming part size and multipart copy
   * threshold (S3 tests configure small ones), so those paths run.
   */
  largeSize: number;
  /**
   * Files for the "more than one page / one delete batch" case (default 1,050: S3's pages and
   * batches hold 1,000; S3 tests set smaller pages and batches and fewer files).
   */
  manyFiles?: number;
  cleanup?: () => Promise<void>;
  /**
   * What the backend holds that the driver's own listings do not show as layout files: temp
   * files, staging directories (a filesystem root read directly). Checked empty after every case.
   */
  leftovers?: () => Promise<string[]>;
}

interface MultipartLister {
  listMultipartUploads(): AsyncIterable<{ key: string; uploadId: string }>;
}

function md5(b: Buffer | string): string {
  return createHash('md5').update(b).digest('hex');
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

async function walked(d: StorageDriver, path: string): Promise<string[]> {
  const out: string[] = [];
  for await (const f of d.walk(path)) out.push(f.path);
  return out.sort();
}

/** A stream of `total` bytes from `data` that fails after `failAfter` bytes (when given). */
function chunked(data: Buffer, chunk: number, failAfter?: number): Readable {
  let pos = 0;
  return new Readable({
    read() {
      if (failAfter !== undefined && pos >= failAfter) {
        this.destroy(new Error('source broke off'));
        return;
      }
      if (pos >= data.length) {
        this.push(null);
        return;
      }
      const end = Math.min(data.length, pos + chunk, failAfter ?? Infinity);
      this.push(data.subarray(pos, end));
      pos = end;
    },
  });
}

async function expectNotFound(p: Promise<unknown>): Promise<void> {
  await expect(p).rejects.toBeInstanceOf(PathNotFoundError);
}

async function noMultipartLeft(d: StorageDriver): Promise<void> {
  const m = d as Partial<MultipartLister>;
  if (typeof m.listMultipartUploads !== 'function') return;
  const left: string[] = [];
  for await (const u of m.listMultipartUploads()) left.push(u.key);
  expect(left).toEqual([]);
}

export function driverConformance(name: string, make: () => Promise<DriverFixture>): void {
  describe(`${name} driver conformance`, () => {
    let fx: DriverFixture;
    let d: StorageDriver;
    let seq = 0;
    /** A fresh directory per test, so tests never see each other's files. */
    const dir = (): string => `/t${++seq}`;

    beforeAll(async () => {
      fx = await make();
      d = fx.driver;
    });
    afterAll(async () => {
      await d?.close();
      await fx?.cleanup?.();
    });

    // distribution's suite: no case leaves anything behind, passed or failed — no file outside the
    // case's own directory, no temp file or staging directory, no multipart upload.
    afterEach(async () => {
      const outside = (await walked(d, '/')).filter((p) => !/^\/t\d+\//.test(p));
      expect(outside, "files outside the cases' directories").toEqual([]);
      expect((await fx.leftovers?.()) ?? [], 'temp files or staging directories').toEqual([]);
      await noMultipartLeft(d);
    });

    it('putContent/getContent round-trip bytes and strings; an overwrite replaces the whole content', async () => {
      const t = dir();
      const bin = randomBytes(3000);
      await d.putContent(`${t}/a/bin`, bin);
      await d.putContent(`${t}/a/str`, 'sha256:abc');
      expect(await d.getContent(`${t}/a/bin`)).toEqual(bin);
      expect((await d.getContent(`${t}/a/str`)).toString()).toBe('sha256:abc');
      await d.putContent(`${t}/a/str`, 'x');
      expect((await d.getContent(`${t}/a/str`)).toString()).toBe('x');
      await d.putContent(`${t}/a/empty`, Buffer.alloc(0));
      expect((await d.getContent(`${t}/a/empty`)).length).toBe(0);
    });

    it('overwrites are atomic: readers see the old content or the new, never a mix or nothing', async () => {
      const t = dir();
      const versions = [Buffer.alloc(200_000, 1), Buffer.alloc(150_000, 2), Buffer.alloc(250_000, 3)];
      await d.putContent(`${t}/link`, versions[0]!);
      const hashes = new Set(versions.map(sha));
      let writing = true;
      const writer = (async () => {
        for (let i = 1; i < 7; i++) await d.putContent(`${t}/link`, versions[i % 3]!);
        writing = false;
      })();
      let reads = 0;
      while (writing || reads < 3) {
        const got = await d.getContent(`${t}/link`);
        expect(hashes.has(sha(got))).toBe(true);
        reads++;
        // A driver may read synchronously (the filesystem's confined reads do): without a turn of
        // the event loop here the writer's I/O never completes and the loop never ends.
        await new Promise((r) => setImmediate(r));
      }
      await writer;
    });

    it('getContent of a missing path or a directory is PathNotFoundError', async () => {
      const t = dir();
      await d.putContent(`${t}/dir/file`, 'x');
      await expectNotFound(d.getContent(`${t}/nothing`));
      await expectNotFound(d.getContent(`${t}/dir`));
    });

    it('reader streams from an offset; at the end it is empty; missing is PathNotFoundError', async () => {
      const t = dir();
      const data = randomBytes(100_000);
      await d.putContent(`${t}/blob`, data);
      expect(await readAll(await d.reader(`${t}/blob`))).toEqual(data);
      expect(await readAll(await d.reader(`${t}/blob`, 12_345))).toEqual(data.subarray(12_345));
      expect((await readAll(await d.reader(`${t}/blob`, data.length))).length).toBe(0);
      await expectNotFound(d.reader(`${t}/missing`));
      await expectNotFound(d.reader(`${t}/missing`, 10));
    });

    it('putStream writes the whole stream and returns its length', async () => {
      const t = dir();
      const small = randomBytes(70_000);
      expect(await d.putStream(`${t}/s`, chunked(small, 8192))).toBe(small.length);
      expect(await d.getContent(`${t}/s`)).toEqual(small);
      expect(await d.putStream(`${t}/empty`, Readable.from([]))).toBe(0);
      expect((await d.getContent(`${t}/empty`)).length).toBe(0);
    });

    it('putStream of a large stream (multipart where the backend has it) round-trips', async () => {
      const t = dir();
      const big = randomBytes(fx.largeSize);
      expect(await d.putStream(`${t}/big`, chunked(big, 256 * 1024))).toBe(big.length);
      const st = await d.stat(`${t}/big`);
      expect(st.size).toBe(big.length);
      expect(sha(await readAll(await d.reader(`${t}/big`)))).toBe(sha(big));
      expect(sha(await readAll(await d.reader(`${t}/big`, big.length - 1000)))).toBe(sha(big.subarray(big.length - 1000)));
    });

    it('a putStream whose source fails leaves nothing at the path (small and large), and an old file intact', async () => {
      const t = dir();
      const data = randomBytes(fx.largeSize);
      await expect(d.putStream(`${t}/small`, chunked(data, 4096, 10_000))).rejects.toThrow(/source broke off/);
      await expect(d.putStream(`${t}/large`, chunked(data, 256 * 1024, fx.largeSize - 1000))).rejects.toThrow(/source broke off/);
      await expectNotFound(d.stat(`${t}/small`));
      await expectNotFound(d.stat(`${t}/large`));
      expect(await walked(d, t)).toEqual([]);
      await d.putContent(`${t}/kept`, 'old');
      await expect(d.putStream(`${t}/kept`, chunked(data, 4096, 5000))).rejects.toThrow(/source broke off/);
      expect((await d.getContent(`${t}/kept`)).toString()).toBe('old');
      expect(await walked(d, t)).toEqual([`${t}/kept`]);
      await noMultipartLeft(d);
    });

    it('stat: files have size and time, a prefix with children is a directory, missing is PathNotFoundError', async () => {
      const t = dir();
      const before = Date.now();
      await d.putContent(`${t}/x/y/file`, 'hello');
      const f = await d.stat(`${t}/x/y/file`);
      expect(f).toMatchObject({ path: `${t}/x/y/file`, size: 5, isDir: false });
      // S3 times have whole seconds; clocks of one machine.
      expect(Math.abs(f.modTime.getTime() - before)).toBeLessThan(120_000);
      expect(await d.stat(`${t}/x`)).toMatchObject({ path: `${t}/x`, isDir: true });
      expect(await d.stat(`${t}/x/y`)).toMatchObject({ path: `${t}/x/y`, isDir: true });
      expect((await d.stat('/')).isDir).toBe(true);
      await expectNotFound(d.stat(`${t}/x/y/nothing`));
      await expectNotFound(d.stat(`${t}/x/y/fil`));
      await expectNotFound(d.stat(`${t}/nothing`));
    });

    it('list: the direct children, full paths, sorted; a missing directory (or a file) is PathNotFoundError', async () => {
      const t = dir();
      for (const p of ['b/1', 'a', 'c/d/e', 'B', 'a-x', 'a.y', 'c/f', '_z']) await d.putContent(`${t}/${p}`, p);
      expect(await d.list(t)).toEqual([`${t}/B`, `${t}/_z`, `${t}/a`, `${t}/a-x`, `${t}/a.y`, `${t}/b`, `${t}/c`].sort());
      expect(await d.list(`${t}/c`)).toEqual([`${t}/c/d`, `${t}/c/f`]);
      expect(await d.list('/')).toContain(t);
      await expectNotFound(d.list(`${t}/nothing`));
      await expectNotFound(d.list(`${t}/a`));
    });

    it('walk: every file below a path, flat, with sizes; a missing path yields nothing', async () => {
      const t = dir();
      const files = ['r/a', 'r/b/c', 'r/b/d/e', 'r/b/d/f', 'r-sibling/x', 'rr/y'];
      for (const p of files) await d.putContent(`${t}/${p}`, `content of ${p}`);
      const got: Record<string, number> = {};
      for await (const f of d.walk(`${t}/r`)) {
        expect(f.isDir).toBe(false);
        got[f.path] = f.size;
      }
      expect(got).toEqual(Object.fromEntries(['r/a', 'r/b/c', 'r/b/d/e', 'r/b/d/f'].map((p) => [`${t}/${p}`, `content of ${p}`.length])));
      expect(await walked(d, t)).toEqual(files.map((p) => `${t}/${p}`).sort());
      expect(await walked(d, `${t}/nothing`)).toEqual([]);
      expect(await walked(d, `${t}/r/a`)).toEqual([]);
    });

    it('walk: an ETag, where the backend lists one, is the MD5 of a single-write file', async () => {
      const t = dir();
      await d.putContent(`${t}/link`, 'sha256:0123');
      for await (const f of d.walk(t)) if (f.etag !== undefined) expect(f.etag).toBe(md5('sha256:0123'));
    });

    it('walk: more files than one listing page', async () => {
      const t = dir();
      const n = fx.manyFiles ?? 1050;
      const paths = Array.from({ length: n }, (_, i) => `${t}/${String(i % 7)}/f${i}`);
      await inParallel(paths, 16, (p) => d.putContent(p, 'x'));
      expect(await walked(d, t)).toEqual([...paths].sort());
      // deleteFiles over more than one 1,000-key batch, with missing paths in it
      const cut = n - 30;
      await d.deleteFiles([...paths.slice(0, cut), `${t}/missing1`, `${t}/0/missing2`]);
      expect(await walked(d, t)).toEqual(paths.slice(cut).sort());
    });

    it('move: to a new path (parents made), overwriting a file; the source is gone; missing source is PathNotFoundError', async () => {
      const t = dir();
      await d.putContent(`${t}/up/data`, 'one');
      await d.move(`${t}/up/data`, `${t}/blobs/ab/abc/data`);
      expect((await d.getContent(`${t}/blobs/ab/abc/data`)).toString()).toBe('one');
      await expectNotFound(d.stat(`${t}/up/data`));
      await d.putContent(`${t}/up/data`, 'two!');
      await d.move(`${t}/up/data`, `${t}/blobs/ab/abc/data`);
      expect((await d.getContent(`${t}/blobs/ab/abc/data`)).toString()).toBe('two!');
      expect(await walked(d, t)).toEqual([`${t}/blobs/ab/abc/data`]);
      await expectNotFound(d.move(`${t}/up/data`, `${t}/elsewhere`));
    });

    it('move of a large file (multipart copy above the threshold where the backend has one)', async () => {
      const t = dir();
      const big = randomBytes(fx.largeSize);
      await d.putStream(`${t}/_uploads/u/data`, chunked(big, 1 << 20));
      await d.move(`${t}/_uploads/u/data`, `${t}/blobs/data`);
      expect((await d.stat(`${t}/blobs/data`)).size).toBe(big.length);
      expect(sha(await readAll(await d.reader(`${t}/blobs/data`)))).toBe(sha(big));
      expect(await walked(d, t)).toEqual([`${t}/blobs/data`]);
      await noMultipartLeft(d);
    });

    it('delete: a file; a directory recursively; siblings sharing a name prefix stay; missing is PathNotFoundError', async () => {
      const t = dir();
      for (const p of ['a/b', 'a/c/d', 'a/c/e', 'a-b', 'a.c', 'ab/x', 'file']) await d.putContent(`${t}/${p}`, 'x');
      await d.delete(`${t}/file`);
      await d.delete(`${t}/a`);
      expect(await walked(d, t)).toEqual([`${t}/a-b`, `${t}/a.c`, `${t}/ab/x`]);
      await expectNotFound(d.delete(`${t}/a`));
      await expectNotFound(d.delete(`${t}/file`));
      await expectNotFound(d.delete(`${t}/nothing/at/all`));
    });

    it('deleteFiles: deletes the files given, ignores missing ones', async () => {
      const t = dir();
      for (const p of ['1', '2', 'x/3', 'x/4']) await d.putContent(`${t}/${p}`, p);
      await d.deleteFiles([`${t}/1`, `${t}/x/3`, `${t}/nothing`, `${t}/x/nothing`]);
      expect(await walked(d, t)).toEqual([`${t}/2`, `${t}/x/4`]);
      await d.deleteFiles([]);
    });

    it('rejects paths outside the grammar in every operation (InvalidPathError), touching nothing', async () => {
      const bad = ['', 'relative', '/a/../b', '/..', '/a/./b', '/a//b', '/a/', '//', '/a\u0000b', '/a b', '/a/b\\c', '/é', '/a/%2e%2e', '/a\nb'];
      const ops: [string, (p: string) => Promise<unknown>][] = [
        ['getContent', (p) => d.getContent(p)],
        ['putContent', (p) => d.putContent(p, 'x')],
        ['reader', (p) => d.reader(p)],
        ['putStream', (p) => d.putStream(p, Readable.from([Buffer.from('x')]))],
        ['stat', (p) => d.stat(p)],
        ['list', (p) => d.list(p)],
        [
          'walk',
          async (p) => {
            for await (const _ of d.walk(p)) void _;
          },
        ],
        ['move from', (p) => d.move(p, '/ok')],
        ['move to', (p) => d.move('/ok', p)],
        ['delete', (p) => d.delete(p)],
        ['deleteFiles', (p) => d.deleteFiles(['/ok', p])],
      ];
      await d.putContent('/ok', 'kept');
      for (const p of bad) {
        for (const [op, f] of ops) {
          await expect(f(p), `${op}(${JSON.stringify(p)})`).rejects.toBeInstanceOf(InvalidPathError);
        }
      }
      expect((await d.getContent('/ok')).toString()).toBe('kept');
      await d.delete('/ok');
    });
  });
}

async function inParallel<T>(items: T[], n: number, f: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) await f(items[i++]!);
    }),
  );
}
