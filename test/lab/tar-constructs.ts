// Tar archives block by block, with the constructs where readers disagree (consecutive and global
// PAX headers, GNU long names beside PAX paths, links that carry a size, base-256 numbers, members
// after the end-of-archive blocks, missing padding, trailing bytes): for Go-semantics tests and
// the differential fuzz against skopeo.

export interface HeaderSpec {
  name: string;
  /** Type flag character ('0' file, '1' link, '2' symlink, '5' dir, 'x', 'g', 'L', 'K', ...). */
  type?: string;
  size?: number;
  /** Size field written in base-256 (GNU), as Go writes sizes of 8 GiB and more. */
  base256Size?: boolean;
  linkname?: string;
  mode?: number;
  /** ustar prefix field (the name is then `${prefix}/${name}`). */
  prefix?: string;
  format?: 'ustar' | 'gnu' | 'v7';
}

export function header(s: HeaderSpec): Buffer {
  const h = Buffer.alloc(512);
  h.write(s.name.slice(0, 100), 0, 'latin1');
  h.write(`${(s.mode ?? 0o644).toString(8).padStart(7, '0')}\0`, 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  const size = s.size ?? 0;
  if (s.base256Size) {
    h[124] = 0x80;
    let v = BigInt(size);
    for (let i = 135; i > 124; i--) {
      h[i] = Number(v & 0xffn);
      v >>= 8n;
    }
  } else h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write(s.type ?? '0', 156, 'latin1');
  h.write((s.linkname ?? '').slice(0, 100), 157, 'latin1');
  const format = s.format ?? 'ustar';
  if (format === 'ustar') {
    h.write('ustar\0', 257);
    h.write('00', 263);
    if (s.prefix) h.write(s.prefix, 345, 'latin1');
  } else if (format === 'gnu') {
    h.write('ustar ', 257);
    h.write(' \0', 263);
  }
  h.write('        ', 148);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

export function padded(data: Buffer): Buffer {
  const rem = data.length % 512;
  return rem ? Buffer.concat([data, Buffer.alloc(512 - rem)]) : data;
}

export function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  const blen = Buffer.byteLength(body);
  let len = blen + 1;
  while (String(len).length + blen !== len) len = String(len).length + blen;
  return Buffer.from(`${len}${body}`);
}

/** A PAX extended header ('x', or 'g' for global) with its records. */
export function pax(records: [string, string][], type: 'x' | 'g' = 'x', name = 'PaxHeaders/x'): Buffer {
  const data = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
  return Buffer.concat([header({ name, type, size: data.length }), padded(data)]);
}

/** A GNU long name ('L') or long link ('K') record. */
export function gnuLong(value: string, type: 'L' | 'K' = 'L'): Buffer {
  const data = Buffer.from(`${value}\0`);
  return Buffer.concat([header({ name: '././@LongLink', type, size: data.length, format: 'gnu' }), padded(data)]);
}

/** A regular file member (header + padded data). */
export function file(name: string, data: Buffer | string, extra: Partial<HeaderSpec> = {}): Buffer {
  const d = Buffer.from(data);
  return Buffer.concat([header({ name, size: d.length, ...extra }), padded(d)]);
}

export const EOA = Buffer.alloc(1024);
