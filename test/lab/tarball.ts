// Tar files built byte by byte, for archives no well-behaved tool would write (hostile names,
// links out of the archive, sizes that lie) and for docker-save layouts made by hand.
import { gzipSync } from 'node:zlib';

export interface RawEntry {
  name: string;
  data?: Buffer | string;
  type?: 'file' | 'dir' | 'symlink' | 'link' | 'fifo';
  linkname?: string;
  /** Size written in the header (default: the data's length). */
  size?: number;
  /** Put the name in a PAX header (NUL bytes, names over 100 bytes). */
  pax?: boolean;
}

const TYPE = { file: '0', link: '1', symlink: '2', fifo: '6', dir: '5' } as const;

function header(name: string, size: number, type: string, linkname = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write(type, 156);
  h.write(linkname.slice(0, 100), 157, 'utf8');
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

function pad(b: Buffer): Buffer {
  const rem = b.length % 512;
  return rem ? Buffer.concat([b, Buffer.alloc(512 - rem)]) : b;
}

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return Buffer.from(`${len}${body}`);
}

export function rawTar(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    const type = TYPE[e.type ?? 'file'];
    if (e.pax) {
      const rec = paxRecord('path', e.name);
      parts.push(header('PaxHeader', rec.length, 'x'), pad(rec));
    }
    parts.push(header(e.pax ? 'placeholder' : e.name, e.size ?? data.length, type, e.linkname), pad(data));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function gzip(b: Buffer): Buffer {
  return gzipSync(b, { level: 1 });
}
