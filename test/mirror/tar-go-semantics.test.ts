// The tar reader against Go's archive/tar semantics, construct by construct, plain and gzip
// (the same bytes must read the same either way): what Go reads, regbucket reads; what Go or
// skopeo's unpacking could read otherwise, regbucket refuses with one line.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { TarArchive, UNPACKED_LINKS } from '../../src/image/tar-archive.js';
import { EOA, file, gnuLong, header, pax, padded } from '../lab/tar-constructs.js';
import { tempDir } from '../lab/tools.js';

const dir = tempDir();
let n = 0;

async function open(bytes: Buffer, gzip: boolean): Promise<TarArchive> {
  const f = join(dir, `a${n++}.tar${gzip ? '.gz' : ''}`);
  writeFileSync(f, gzip ? gzipSync(bytes) : bytes);
  return TarArchive.open(f, { hashWhenGzip: true });
}

async function contents(a: TarArchive, name: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of await a.open(a.file(name, 'entry', UNPACKED_LINKS))) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

/** Both encodings read `expect` (name -> content; null: no such file) and list exactly `members`. */
async function reads(bytes: Buffer, expected: Record<string, string | null>, members?: string[]): Promise<void> {
  for (const gzip of [false, true]) {
    const a = await open(bytes, gzip);
    try {
      for (const [name, want] of Object.entries(expected)) {
        if (want === null) expect(a.lookup(name), `${name} (gzip ${gzip})`).toBeUndefined();
        else expect(await contents(a, name), `${name} (gzip ${gzip})`).toBe(want);
      }
      if (members) expect(a.members().map((m) => m.name)).toEqual(members);
    } finally {
      a.close();
    }
  }
}

async function refused(bytes: Buffer, why: RegExp, gzipToo = true): Promise<void> {
  for (const gzip of gzipToo ? [false, true] : [false]) {
    const err = await open(bytes, gzip).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err, `gzip ${gzip}`).toBeDefined();
    expect(err!.message, `gzip ${gzip}`).toMatch(why);
    expect(err!.message).not.toContain('\n');
    expect((err as { exitCode?: number }).exitCode).toBe(2);
  }
}

describe('tar reader: Go archive/tar semantics', () => {
  it('consecutive PAX headers: the last replaces the earlier one whole (not merged)', async () => {
    await reads(Buffer.concat([pax([['path', 'decoy']]), pax([['path', 'real']]), file('ustar-name', 'A'), EOA]), { real: 'A', decoy: null, 'ustar-name': null });
    // The second header has no path: the member keeps its ustar name, not the first header's path.
    await reads(Buffer.concat([pax([['path', 'paxname']]), pax([['mtime', '1']]), file('ustar-name', 'B'), EOA]), { 'ustar-name': 'B', paxname: null });
  });

  it('a GNU long name wins over a PAX path, in either order; an empty PAX value keeps the header field', async () => {
    await reads(Buffer.concat([gnuLong('gnu-name'), pax([['path', 'pax-name']]), file('x', 'C'), EOA]), { 'gnu-name': 'C', 'pax-name': null });
    await reads(Buffer.concat([pax([['path', 'pax-name']]), gnuLong('gnu-name'), file('x', 'C'), EOA]), { 'gnu-name': 'C', 'pax-name': null });
    await reads(Buffer.concat([pax([['path', '']]), file('kept', 'D'), EOA]), { kept: 'D' });
    await reads(Buffer.concat([pax([['size', '3']]), header({ name: 'sized', size: 99 }), padded(Buffer.from('abc')), file('next', 'E'), EOA]), { sized: 'abc', next: 'E' });
  });

  it('a global header is a member of its own (named by its path record), applies to nothing and drops pending headers', async () => {
    const bytes = Buffer.concat([pax([['path', 'decoy']]), pax([['path', 'global-name']], 'g'), file('after', 'F'), EOA]);
    await reads(bytes, { after: 'F', decoy: null }, ['global-name', 'after']);
    const clash = Buffer.concat([pax([['path', 'manifest.json']], 'g'), file('manifest.json', '[]'), EOA]);
    await refused(clash, /"manifest.json" appears twice/);
  });

  it('links and directories carry no data, whatever their size field says', async () => {
    const bytes = Buffer.concat([file('target', 'T'), header({ name: 'sym', type: '2', linkname: 'target', size: 1024 }), header({ name: 'dir/', type: '5', size: 512 }), file('dir/after', 'G'), EOA]);
    await reads(bytes, { sym: 'T', 'dir/after': 'G' });
  });

  it('ustar prefixes, base-256 sizes, v7 and GNU headers', async () => {
    await reads(
      Buffer.concat([file('name', 'H', { prefix: 'pre/fix' }), file('big', 'I'.repeat(700), { base256Size: true }), file('v7', 'J', { format: 'v7' }), file('gnu', 'K', { format: 'gnu' }), EOA]),
      {
        'pre/fix/name': 'H',
        big: 'I'.repeat(700),
        v7: 'J',
        gnu: 'K',
      },
    );
  });

  it('the end of the archive: members after the two zero blocks are not read; no end blocks, or padding cut short, is a normal end', async () => {
    await reads(Buffer.concat([file('a', 'L'), EOA, file('hidden', 'M'), EOA, Buffer.from('trailing junk')]), { a: 'L', hidden: null });
    await reads(Buffer.concat([file('a', 'L')]), { a: 'L' });
    await reads(Buffer.concat([file('a', 'L'), file('b', 'N').subarray(0, 513)]), { a: 'L', b: 'N' });
    await refused(Buffer.concat([file('a', 'L'), Buffer.alloc(512), file('b', 'N'), EOA]), /zero block .* followed by a header/);
    await refused(Buffer.concat([file('a', 'L'), header({ name: 'b', size: 1000 }), Buffer.from('short')]), /truncated|ends first/);
  });

  it('gzip: concatenated members are one stream; data after the last member is refused, zeros included', async () => {
    const tar = Buffer.concat([file('a', 'O'), file('b', 'P'), EOA]);
    const f = join(dir, 'multi.tar.gz');
    writeFileSync(f, Buffer.concat([gzipSync(tar.subarray(0, 700)), gzipSync(tar.subarray(700))]));
    const a = await TarArchive.open(f);
    expect(await contents(a, 'b')).toBe('P');
    a.close();
    for (const tail of [Buffer.from('garbage'), Buffer.alloc(64), Buffer.from([0x1f, 0x8b])]) {
      const g = join(dir, `tail${n++}.tar.gz`);
      writeFileSync(g, Buffer.concat([gzipSync(tar), tail]));
      await expect(TarArchive.open(g)).rejects.toThrow(/gzip/);
    }
  });

  it('refuses what another reader could read differently', async () => {
    await refused(Buffer.concat([file('a', '1'), file('a', '2'), EOA]), /"a" appears twice/);
    await refused(Buffer.concat([file('a', '1'), file('a/b', '2'), EOA]), /lies under "a", which is a file/);
    await refused(Buffer.concat([file('a/b', '1'), file('a', '2'), EOA]), /other entries lie under it/);
    await refused(Buffer.concat([file('f', 'x', { mode: 0o40755 }), EOA]), /mode bits/);
    await refused(Buffer.concat([header({ name: 'legacy/', type: '\0', size: 0 }), EOA]), /no type flag and a trailing slash/);
    await refused(Buffer.concat([header({ name: 'sparse', type: 'S', size: 0 }), EOA]), /sparse/);
    await refused(
      Buffer.concat([
        pax([
          ['GNU.sparse.major', '1'],
          ['GNU.sparse.minor', '0'],
        ]),
        file('s', 'x'),
        EOA,
      ]),
      /sparse/,
    );
    await refused(Buffer.concat([pax([['SCHILY.xattr.user.a', 'b']]), file('s', 'x'), EOA]), /extended attributes/);
    await refused(Buffer.concat([file('blobs/.wh.x', 'x'), EOA]), /whiteout/);
    await refused(Buffer.concat([header({ name: 'c', type: '7', size: 0 }), EOA]), /tar type "7"/);
  });

  it('refuses what Go refuses', async () => {
    await refused(Buffer.concat([pax([['mtime', 'yesterday']]), file('a', 'x'), EOA]), /invalid number/);
    await refused(Buffer.concat([pax([['size', '-1']]), file('a', 'x'), EOA]), /negative size/);
    const badPax = Buffer.from('9 path=a\n\0\0\0');
    await refused(Buffer.concat([header({ name: 'p', type: 'x', size: badPax.length }), padded(badPax), file('a', 'x'), EOA]), /malformed PAX record/);
    const h = header({ name: 'a', size: 1 });
    h.write('12x', 124);
    await refused(Buffer.concat([h, padded(Buffer.from('x')), EOA]), /invalid tar header|octal/);
    await refused(Buffer.concat([header({ name: 'big', type: 'x', size: (1 << 20) + 1 }), EOA]), /more than 1 MiB/, false);
  });
});
