// The two ways an archive is indexed agree: reading only the headers of an uncompressed tar, and
// tar-stream's pass over a gzip-compressed one; on archives GNU tar writes in its three formats
// (long names through GNU records or PAX headers, ustar prefixes, links, sizes over 8 GiB aside).
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TarArchive } from '../../src/image/tar-archive.js';
import { runOk } from '../lab/exec.js';
import { gzip } from '../lab/tarball.js';
import { tempDir } from '../lab/tools.js';

function tree(): string {
  const root = join(tempDir(), 'tree');
  const deep = join(root, 'd'.repeat(90), 'e'.repeat(90));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(root, 'small.json'), '{"a":1}');
  writeFileSync(join(root, 'empty'), '');
  writeFileSync(join(deep, `${'long-name-'.repeat(15)}.bin`), randomBytes(70_000));
  writeFileSync(join(root, 'exactly-512'), randomBytes(512));
  symlinkSync('small.json', join(root, 'link-to-small'));
  return root;
}

async function bytesOf(a: TarArchive, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await a.open(a.file(name))) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('tar index', () => {
  for (const format of ['gnu', 'pax', 'ustar']) {
    it(`headers-only index of a GNU tar --format=${format} matches the gzip pass and the files`, async () => {
      const root = tree();
      const file = join(tempDir(), `t.${format}.tar`);
      // ustar cannot hold the 150-character file name: that format gets the other members.
      const args = format === 'ustar' ? ['small.json', 'empty', 'exactly-512', 'link-to-small'] : ['.'];
      await runOk('tar', ['-C', root, `--format=${format}`, '-cf', file, ...args]);
      writeFileSync(`${file}.gz`, gzip(readFileSync(file)));
      const plain = await TarArchive.open(file);
      const gz = await TarArchive.open(`${file}.gz`);
      expect(plain.gzip).toBe(false);
      expect(gz.gzip).toBe(true);
      const shape = (a: TarArchive) => a.members().map(({ name, type, offset, size, target }) => ({ name, type, offset, size, target }));
      expect(shape(plain)).toEqual(shape(gz));
      expect(plain.members().length).toBe(format === 'ustar' ? 4 : 7);
      for (const a of [plain, gz]) {
        expect((await bytesOf(a, 'small.json')).toString()).toBe('{"a":1}');
        expect(await bytesOf(a, 'link-to-small')).toEqual(Buffer.from('{"a":1}'));
        expect(await bytesOf(a, 'exactly-512')).toEqual(readFileSync(join(root, 'exactly-512')));
        expect(await bytesOf(a, 'empty')).toEqual(Buffer.alloc(0));
        if (format !== 'ustar') {
          const long = join('d'.repeat(90), 'e'.repeat(90), `${'long-name-'.repeat(15)}.bin`);
          expect(await bytesOf(a, long)).toEqual(readFileSync(join(root, long)));
        }
        a.close();
      }
    });
  }

  it('the gzip cursor serves blobs asked for out of order and together', async () => {
    const root = join(tempDir(), 'many');
    mkdirSync(root);
    const files = Array.from({ length: 12 }, (_, i) => ({ name: `f${i}`, data: randomBytes(1_000_000 + i) }));
    for (const f of files) writeFileSync(join(root, f.name), f.data);
    const file = join(tempDir(), 'many.tar');
    await runOk('tar', ['-C', root, '-cf', file, ...files.map((f) => f.name)]);
    writeFileSync(`${file}.gz`, gzip(readFileSync(file)));
    const a = await TarArchive.open(`${file}.gz`);
    const order = [7, 2, 11, 0, 5, 9, 1, 3, 10, 4, 8, 6];
    const got = await Promise.all(order.map((i) => bytesOf(a, files[i]!.name)));
    order.forEach((i, k) => expect(got[k]!.equals(files[i]!.data)).toBe(true));
    a.close();
  });
});
