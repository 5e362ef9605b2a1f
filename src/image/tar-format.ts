// The tar header format as Go's archive/tar (Go 1.19, what skopeo 1.9 is built with) reads it:
// block checksums, the ustar/GNU/star/v7 magics, octal and base-256 numbers, PAX records and
// the merging of PAX values into the next header. Pure functions over bytes; the walk over an
// archive is in tar-archive.ts. Where Go fails the whole archive (ErrHeader), these throw a
// TarFormatError; the caller turns it into a one-line refusal naming the archive.

export class TarFormatError extends Error {}

/** Go's maxSpecialFileSize: a PAX or GNU long-name record of more than this fails the archive. */
export const MAX_SPECIAL_FILE = 1 << 20;

export type Typeflag = string;

export interface RawHeader {
  typeflag: Typeflag;
  /** Name and link name as raw bytes (latin1 strings), prefix already joined as Go does. */
  name: string;
  linkname: string;
  size: bigint;
  mode: bigint;
}

const ZERO = Buffer.alloc(512);

export function isZeroBlock(b: Buffer): boolean {
  return b.equals(ZERO);
}

/** Go's parser.parseString: the bytes up to the first NUL. */
export function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.toString('latin1', 0, end < 0 ? b.length : end);
}

/** strconv.ParseUint(s, 8, 64). */
function parseUint8(s: string): bigint {
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError('invalid octal number in a tar header');
  const v = BigInt(`0o${s}`);
  if (v >= 1n << 64n) throw new TarFormatError('octal number out of range in a tar header');
  return v;
}

/** Go's parser.parseOctal: trim spaces and NULs on both sides, cut at a NUL, parse as uint64, then int64. */
function parseOctal(b: Buffer): bigint {
  let s = 0;
  let e = b.length;
  while (s < e && (b[s] === 0x20 || b[s] === 0)) s++;
  while (e > s && (b[e - 1] === 0x20 || b[e - 1] === 0)) e--;
  if (s === e) return 0n;
  return BigInt.asIntN(64, parseUint8(cString(b.subarray(s, e))));
}

/** Go's parser.parseNumeric: base-256 (two's complement, high bit set) or octal. */
export function parseNumeric(b: Buffer): bigint {
  if (b.length > 0 && b[0]! & 0x80) {
    const inv = b[0]! & 0x40 ? 0xff : 0;
    let x = 0n;
    for (let i = 0; i < b.length; i++) {
      let c = b[i]! ^ inv;
      if (i === 0) c &= 0x7f;
      if (x >> 56n > 0n) throw new TarFormatError('base-256 number overflows in a tar header');
      x = (x << 8n) | BigInt(c);
    }
    if (x >> 63n > 0n) throw new TarFormatError('base-256 number overflows in a tar header');
    return inv ? -x - 1n : x;
  }
  return parseOctal(b);
}

/** strconv.ParseInt(s, 10, 64). */
export function parseGoInt(s: string): bigint {
  if (!/^[+-]?[0-9]+$/.test(s)) throw new TarFormatError(`invalid number ${JSON.stringify(s.slice(0, 40))} in a PAX record`);
  const v = BigInt(s);
  if (v < -(1n << 63n) || v >= 1n << 63n) throw new TarFormatError('number out of range in a PAX record');
  return v;
}

/** Go's parsePAXTime: seconds[.digits]. */
function checkPaxTime(s: string): void {
  const dot = s.indexOf('.');
  parseGoInt(dot < 0 ? s : s.slice(0, dot));
  if (dot >= 0 && !/^[0-9]*$/.test(s.slice(dot + 1))) throw new TarFormatError('invalid time in a PAX record');
}

type Format = 'unknown' | 'v7' | 'ustar' | 'gnu' | 'star';

function checksumFormat(b: Buffer): Format {
  let want: bigint;
  try {
    want = parseOctal(b.subarray(148, 156));
  } catch {
    return 'unknown';
  }
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i]!;
    unsigned += c;
    signed += (c << 24) >> 24;
  }
  if (want !== BigInt(unsigned) && want !== BigInt(signed)) return 'unknown';
  const magic = b.toString('latin1', 257, 263);
  const version = b.toString('latin1', 263, 265);
  const trailer = b.toString('latin1', 508, 512);
  if (magic === 'ustar\0' && trailer === 'tar\0') return 'star';
  if (magic === 'ustar\0') return 'ustar';
  if (magic === 'ustar ' && version === ' \0') return 'gnu';
  return 'v7';
}

function isAscii(s: string): boolean {
  // eslint-disable-next-line no-control-regex -- the range starts at NUL on purpose
  return /^[\x00-\x7f]*$/.test(s);
}

/** Go's Reader.readHeader for one non-zero block: throws where Go answers ErrHeader. */
export function parseHeader(b: Buffer): RawHeader {
  const format = checksumFormat(b);
  if (format === 'unknown') throw new TarFormatError('invalid tar header (bad checksum or not a tar file)');
  const typeflag = String.fromCharCode(b[156]!);
  let name = cString(b.subarray(0, 100));
  const linkname = cString(b.subarray(157, 257));
  // Every numeric field Go parses must parse, or the archive fails.
  const size = parseNumeric(b.subarray(124, 136));
  const mode = parseNumeric(b.subarray(100, 108));
  parseNumeric(b.subarray(108, 116));
  parseNumeric(b.subarray(116, 124));
  parseNumeric(b.subarray(136, 148));
  if (format !== 'v7') {
    parseNumeric(b.subarray(329, 337));
    parseNumeric(b.subarray(337, 345));
    let prefix = '';
    if (format === 'ustar') prefix = cString(b.subarray(345, 500));
    else if (format === 'star') {
      prefix = cString(b.subarray(345, 476));
      parseNumeric(b.subarray(476, 488));
      parseNumeric(b.subarray(488, 500));
    } else {
      // GNU: atime and ctime that do not parse mean a pre-Go1.8 writer put a prefix there.
      try {
        if (b[345] !== 0) parseNumeric(b.subarray(345, 357));
        if (b[357] !== 0) parseNumeric(b.subarray(357, 369));
      } catch {
        const p = cString(b.subarray(345, 500));
        if (isAscii(p)) prefix = p;
      }
    }
    if (prefix.length > 0) name = `${prefix}/${name}`;
  }
  return { typeflag, name, linkname, size, mode };
}

/** Header-only types carry no data, whatever their size field says (Go's isHeaderOnlyType). */
export function isHeaderOnly(typeflag: Typeflag): boolean {
  return typeflag.length === 1 && '123456'.includes(typeflag);
}

/**
 * Go's parsePAX: a sequence of "%d key=value\n" records filling the record exactly. Later records
 * of one key replace earlier ones. Records Go would use in ways we do not reproduce (sparse
 * files, extended attributes) are reported in `unsupported`.
 */
export function parsePax(data: Buffer): { records: Map<string, string>; unsupported?: string } {
  const records = new Map<string, string>();
  let unsupported: string | undefined;
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) throw new TarFormatError('malformed PAX record');
    const n = Number(parseGoInt(data.toString('latin1', i, sp)));
    if (n < 5 || n > data.length - i) throw new TarFormatError('malformed PAX record');
    const end = i + n;
    if (end - (sp + 1) <= 0 || data[end - 1] !== 0x0a) throw new TarFormatError('malformed PAX record');
    const eq = data.indexOf(0x3d, sp + 1);
    if (eq < 0 || eq >= end - 1) throw new TarFormatError('malformed PAX record');
    const key = data.toString('latin1', sp + 1, eq);
    const value = data.toString('latin1', eq + 1, end - 1);
    if (key === '') throw new TarFormatError('malformed PAX record (empty key)');
    const nulInValue = key === 'path' || key === 'linkpath' || key === 'uname' || key === 'gname';
    if ((nulInValue ? value : key).includes('\0')) throw new TarFormatError('malformed PAX record (NUL byte)');
    if (key.startsWith('GNU.sparse.')) unsupported ??= 'a GNU sparse file';
    else if (key.startsWith('SCHILY.xattr.') || key.startsWith('LIBARCHIVE.xattr.')) unsupported ??= 'extended attributes';
    records.set(key, value);
    i = end;
  }
  return { records, unsupported };
}

/** Go's mergePAX into a regular header: empty values keep the header's; bad numbers fail the archive. */
export function mergePax(h: RawHeader, records: Map<string, string> | undefined): void {
  if (!records) return;
  for (const [k, v] of records) {
    if (v === '') continue;
    switch (k) {
      case 'path':
        h.name = v;
        break;
      case 'linkpath':
        h.linkname = v;
        break;
      case 'uid':
      case 'gid':
        parseGoInt(v);
        break;
      case 'atime':
      case 'mtime':
      case 'ctime':
        checkPaxTime(v);
        break;
      case 'size':
        h.size = parseGoInt(v);
        break;
    }
  }
}

const S_IFMT_BITS = 0xfffff000;
/** The file type bits of a header's mode as Go's FileInfo reads them (uint32 of the mode, minus 07777). */
export function modeTypeBits(mode: bigint): number {
  return Number(BigInt.asUintN(32, mode)) & S_IFMT_BITS;
}
