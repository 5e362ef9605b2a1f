import { randomBytes } from 'node:crypto';
import { realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import { MemoryDriver } from '../../src/drivers/memory.js';
import { sha256 } from '../../src/image/digest.js';
import { UnsafePathError } from '../../src/errors.js';
import { putBlobContent } from '../../src/store/blobs.js';
import { BlobHasher } from '../../src/verify/hashing/blob-hasher.js';
import { eachLimit } from '../../src/util/each-limit.js';
import { HashPool } from '../../src/verify/hashing/thread-pool.js';
import { tempDir } from '../lab/tools.js';

const pool = new HashPool(2);
afterAll(() => pool.close());

/** Pieces of uneven sizes, so 1 MiB chunk boundaries fall inside them. */
function pieces(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = [1, 4093, 65536, 1 << 20, 777_777][i % 5]!;
    out.push(data.subarray(off, off + n));
    off += n;
  }
  return out;
}

describe('HashPool', () => {
  it('hashes files on worker threads, several at once, reporting every byte', async () => {
    const dir = tempDir();
    const datas = [0, 1, 1 << 20, (1 << 20) + 1, 5_000_000].map((n) => randomBytes(n));
    datas.forEach((b, i) => writeFileSync(join(dir, `f${i}`), b));
    let bytes = 0;
    const at = { root: realpathSync(dir), proc: process.platform === 'linux' };
    const results = await Promise.all(datas.map((_, i) => pool.hashFile(at, `/f${i}`, (n) => (bytes += n))));
    expect(results).toEqual(datas.map((b) => ({ digest: sha256(b), size: b.length })));
    expect(bytes).toBe(datas.reduce((s, b) => s + b.length, 0));
    expect(await pool.hashFile(at, '/absent')).toBeUndefined();
    symlinkSync('f1', join(dir, 'link'));
    await expect(pool.hashFile(at, '/link')).rejects.toBeInstanceOf(UnsafePathError);
  });

  it('hashes streams whose bytes are handed to the workers, with uneven pieces', async () => {
    const data = randomBytes(6_500_000);
    const r = await Promise.all([pool.hashStream(Readable.from(pieces(data))), pool.hashStream(Readable.from([])), pool.hashStream(Readable.from(pieces(data.subarray(0, 10))))]);
    expect(r).toEqual([
      { digest: sha256(data), size: data.length },
      { digest: sha256(Buffer.alloc(0)), size: 0 },
      { digest: sha256(data.subarray(0, 10)), size: 10 },
    ]);
  });

  it('a failing stream rejects and the pool goes on', async () => {
    const broken = new Readable({
      read() {
        this.destroy(new Error('connection reset'));
      },
    });
    await expect(pool.hashStream(broken)).rejects.toThrow('connection reset');
    expect(await pool.hashStream(Readable.from([Buffer.from('ok')]))).toEqual({ digest: sha256('ok'), size: 2 });
  });
});

describe('BlobHasher', () => {
  it('gives the same answers on a filesystem and, both ways, on a streamed store', async () => {
    const blobs = [randomBytes(3_000_000), Buffer.from('small')];
    const fs = new FilesystemDriver(tempDir());
    const mem = new MemoryDriver();
    for (const b of blobs) for (const d of [fs, mem]) await putBlobContent(d, sha256(b), b);
    await mem.putContent('/docker/registry/v2/blobs/sha256/aa/' + 'a'.repeat(64) + '/data', 'lies');
    const liar = `sha256:${'a'.repeat(64)}` as const;
    for (const [d, mode] of [
      [fs, 'main'],
      [mem, 'main'],
      [mem, 'workers'],
    ] as const) {
      const h = new BlobHasher(d, { threads: 2, streamHashing: mode });
      try {
        for (const b of blobs) expect(await h.hash(sha256(b))).toEqual({ digest: sha256(b), size: b.length });
        expect(await h.hash(sha256('absent'))).toBeUndefined();
        if (d === mem) expect(await h.hash(liar)).toEqual({ digest: sha256('lies'), size: 4 });
      } finally {
        await h.close();
      }
    }
  });
});

describe('eachLimit', () => {
  it('never runs more than the limit at once and throws the first error', async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    await eachLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 1));
      seen.push(n);
      running--;
    });
    expect(peak).toBe(3);
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    await expect(
      eachLimit([1, 2, 3], 2, async (n) => {
        if (n === 2) throw new Error('two');
      }),
    ).rejects.toThrow('two');
  });
});
