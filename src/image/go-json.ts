// JSON read the way Go's encoding/json reads it into structs (Go 1.19, what Debian builds the
// registry with; skopeo and containerd read alike). Written from Go's decode.go, fold.go and
// scanner.go, not translated. Where the result differs from JSON.parse:
// - keys match a struct field exactly first, else case-insensitively (ASCII letters, plus the
//   Kelvin sign U+212A for k and the long s U+017F for s): "LAYERS", "layer\u017f" fill `layers`;
// - every key is decoded in order and the last one matching a field wins, after folding;
//   decoding into a field that holds a value merges (a struct keeps fields the new object lacks,
//   a slice reuses its elements, a map keeps its keys);
// - invalid UTF-8 and lone surrogate escapes in strings become U+FFFD (one per bad byte);
// - `null` leaves strings, numbers and structs as they were, and makes slices, maps and
//   pointers nil;
// - a value of the wrong type (a string where a number belongs, 2.0 for an int, an object for a
//   string) fails the whole Unmarshal, even when a later duplicate key would have replaced it;
//   decoding goes on and the first such error is the one reported.
// Unknown keys are skipped (their values must still be valid JSON).

/** A parsed JSON value with every object entry kept, duplicates included, in order. */
export type GoValue =
  { t: 'obj'; entries: Array<[string, GoValue]> } | { t: 'arr'; items: GoValue[] } | { t: 'str'; v: string } | { t: 'num'; raw: string } | { t: 'bool'; v: boolean } | { t: 'null' };

/** Bytes that are not JSON (Go: SyntaxError). */
export class GoJsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** Go's scanner refuses nesting deeper than this. */
export const MAX_NESTING_DEPTH = 10000;

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

function hex4(b: Buffer, at: number): number {
  if (at + 4 > b.length) return -1;
  let n = 0;
  for (let i = at; i < at + 4; i++) {
    const c = b[i]!;
    const v = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
    if (v < 0) return -1;
    n = n * 16 + v;
  }
  return n;
}

/**
 * Go's utf8.DecodeRune: the code point at `at` and its length, or -1 with length 1 for an
 * invalid or short sequence (each bad byte then becomes one U+FFFD).
 */
export function decodeRune(b: Buffer, at: number): [number, number] {
  const c0 = b[at]!;
  if (c0 < 0x80) return [c0, 1];
  const cont = (i: number, lo = 0x80, hi = 0xbf): boolean => at + i < b.length && b[at + i]! >= lo && b[at + i]! <= hi;
  if (c0 >= 0xc2 && c0 <= 0xdf) return cont(1) ? [((c0 & 0x1f) << 6) | (b[at + 1]! & 0x3f), 2] : [-1, 1];
  if (c0 >= 0xe0 && c0 <= 0xef) {
    const lo = c0 === 0xe0 ? 0xa0 : 0x80;
    const hi = c0 === 0xed ? 0x9f : 0xbf; // no surrogates
    if (!cont(1, lo, hi) || !cont(2)) return [-1, 1];
    return [((c0 & 0x0f) << 12) | ((b[at + 1]! & 0x3f) << 6) | (b[at + 2]! & 0x3f), 3];
  }
  if (c0 >= 0xf0 && c0 <= 0xf4) {
    const lo = c0 === 0xf0 ? 0x90 : 0x80;
    const hi = c0 === 0xf4 ? 0x8f : 0xbf;
    if (!cont(1, lo, hi) || !cont(2) || !cont(3)) return [-1, 1];
    return [((c0 & 0x07) << 18) | ((b[at + 1]! & 0x3f) << 12) | ((b[at + 2]! & 0x3f) << 6) | (b[at + 3]! & 0x3f), 4];
  }
  return [-1, 1];
}

class Parser {
  i = 0;
  constructor(private readonly b: Buffer) {}

  fail(what: string): never {
    const c = this.b[this.i];
    const got = c === undefined ? 'end of input' : c >= 0x20 && c < 0x7f ? `character '${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
    throw new GoJsonSyntaxError(`invalid JSON at byte ${this.i}: ${got} ${what}`, this.i);
  }

  ws(): void {
    while (this.i < this.b.length && WS.has(this.b[this.i]!)) this.i++;
  }

  literal(word: string, v: GoValue): GoValue {
    for (let k = 0; k < word.length; k++) {
      if (this.b[this.i] !== word.charCodeAt(k)) this.fail(`in literal ${word}`);
      this.i++;
    }
    return v;
  }

  number(): GoValue {
    const b = this.b;
    const start = this.i;
    if (b[this.i] === 0x2d) this.i++;
    if (b[this.i] === 0x30) this.i++;
    else if (isDigit(b[this.i])) while (isDigit(b[this.i])) this.i++;
    else this.fail('in numeric literal');
    if (b[this.i] === 0x2e) {
      this.i++;
      if (!isDigit(b[this.i])) this.fail('after decimal point in numeric literal');
      while (isDigit(b[this.i])) this.i++;
    }
    if (b[this.i] === 0x65 || b[this.i] === 0x45) {
      this.i++;
      if (b[this.i] === 0x2b || b[this.i] === 0x2d) this.i++;
      if (!isDigit(b[this.i])) this.fail('in exponent of numeric literal');
      while (isDigit(b[this.i])) this.i++;
    }
    return { t: 'num', raw: b.toString('latin1', start, this.i) };
  }

  /** A string at `i` (on its opening quote), decoded as Go's unquote does. */
  string(): string {
    const b = this.b;
    this.i++;
    let out = '';
    let run = this.i; // start of a run of plain ASCII copied as is
    for (;;) {
      const c = b[this.i];
      if (c === undefined) this.fail('in string literal');
      if (c === 0x22) {
        out += b.toString('latin1', run, this.i);
        this.i++;
        return out;
      }
      if (c < 0x20) this.fail('in string literal');
      if (c < 0x80 && c !== 0x5c) {
        this.i++;
        continue;
      }
      out += b.toString('latin1', run, this.i);
      if (c === 0x5c) {
        const e = b[this.i + 1];
        const simple: Record<number, string> = { 0x22: '"', 0x5c: '\\', 0x2f: '/', 0x62: '\b', 0x66: '\f', 0x6e: '\n', 0x72: '\r', 0x74: '\t' };
        if (e !== undefined && simple[e] !== undefined) {
          out += simple[e];
          this.i += 2;
        } else if (e === 0x75) {
          const r = hex4(b, this.i + 2);
          if (r < 0) {
            this.i += 2;
            this.fail('in \\u hexadecimal character escape');
          }
          this.i += 6;
          if (r >= 0xd800 && r <= 0xdfff) {
            // A high surrogate followed by an escaped low one is one code point; anything else is U+FFFD.
            const r2 = b[this.i] === 0x5c && b[this.i + 1] === 0x75 ? hex4(b, this.i + 2) : -1;
            if (r < 0xdc00 && r2 >= 0xdc00 && r2 <= 0xdfff) {
              out += String.fromCharCode(r, r2);
              this.i += 6;
            } else out += '\ufffd';
          } else out += String.fromCharCode(r);
        } else {
          this.i++;
          this.fail('in string escape code');
        }
      } else {
        const [r, n] = decodeRune(b, this.i);
        out += r < 0 ? '\ufffd' : String.fromCodePoint(r);
        this.i += n;
      }
      run = this.i;
    }
  }

  /** The whole document, iteratively (nesting up to Go's limit must not exhaust the JS stack). */
  parse(): GoValue {
    type Frame = { v: Extract<GoValue, { t: 'obj' } | { t: 'arr' }>; key?: string };
    const stack: Frame[] = [];
    let result: GoValue | undefined;
    const b = this.b;
    for (;;) {
      // Read one value start.
      this.ws();
      let v: GoValue;
      const c = b[this.i];
      if (c === 0x7b || c === 0x5b) {
        if (stack.length >= MAX_NESTING_DEPTH) this.fail('exceeds the maximum nesting depth');
        this.i++;
        const frame: Frame = c === 0x7b ? { v: { t: 'obj', entries: [] } } : { v: { t: 'arr', items: [] } };
        this.ws();
        const close = c === 0x7b ? 0x7d : 0x5d;
        if (b[this.i] === close) {
          this.i++;
          v = frame.v;
        } else {
          stack.push(frame);
          if (frame.v.t === 'obj') frame.key = this.key();
          continue;
        }
      } else if (c === 0x22) v = { t: 'str', v: this.string() };
      else if (c === 0x74) v = this.literal('true', { t: 'bool', v: true });
      else if (c === 0x66) v = this.literal('false', { t: 'bool', v: false });
      else if (c === 0x6e) v = this.literal('null', { t: 'null' });
      else if (c === 0x2d || isDigit(c)) v = this.number();
      else this.fail('looking for beginning of value');
      // Attach v to its container, closing containers as they end.
      for (;;) {
        const top = stack[stack.length - 1];
        if (!top) {
          result = v;
          break;
        }
        if (top.v.t === 'obj') top.v.entries.push([top.key!, v]);
        else top.v.items.push(v);
        this.ws();
        const close = top.v.t === 'obj' ? 0x7d : 0x5d;
        if (b[this.i] === 0x2c) {
          this.i++;
          if (top.v.t === 'obj') top.key = this.key();
          break;
        }
        if (b[this.i] !== close) this.fail(top.v.t === 'obj' ? 'after object key:value pair' : 'after array element');
        this.i++;
        stack.pop();
        v = top.v;
      }
      if (result !== undefined) break;
    }
    this.ws();
    if (this.i < b.length) this.fail('after top-level value');
    return result;
  }

  key(): string {
    this.ws();
    if (this.b[this.i] !== 0x22) this.fail('looking for beginning of object key string');
    const k = this.string();
    this.ws();
    if (this.b[this.i] !== 0x3a) this.fail('after object key');
    this.i++;
    return k;
  }
}

/** Parses JSON bytes as Go's scanner and unquote do. Throws GoJsonSyntaxError. */
export function parseGoJson(bytes: Buffer): GoValue {
  return new Parser(bytes).parse();
}

// ---- struct decoding ----

/** The Go type a value is decoded into. */
export type GoType =
  | { k: 'string' }
  | { k: 'int'; bits: 8 | 64; unsigned?: boolean; name: string }
  | { k: 'bool' }
  | { k: 'struct'; name: string; fields: Array<[string, GoType]> }
  | { k: 'ptr'; elem: GoType }
  | { k: 'slice'; elem: GoType }
  | { k: 'map'; elem: GoType }
  /** interface{}: anything; numbers must fit a float64. */
  | { k: 'any' }
  /** []byte: a base64 string (or, as any slice, an array of small integers). */
  | { k: 'bytes' };

export const T = {
  string: { k: 'string' } as GoType,
  int: { k: 'int', bits: 64, name: 'int' } as GoType,
  int64: { k: 'int', bits: 64, name: 'int64' } as GoType,
  bool: { k: 'bool' } as GoType,
  any: { k: 'any' } as GoType,
  bytes: { k: 'bytes' } as GoType,
  struct: (name: string, fields: Array<[string, GoType]>): GoType => ({ k: 'struct', name, fields }),
  ptr: (elem: GoType): GoType => ({ k: 'ptr', elem }),
  slice: (elem: GoType): GoType => ({ k: 'slice', elem }),
  map: (elem: GoType): GoType => ({ k: 'map', elem }),
};

/** A Go slice: a backing array (its capacity) and a length. Unmarshal reuses both. */
export interface GoSlice {
  backing: unknown[];
  len: number;
}

/** Decoded values: structs are plain objects keyed by JSON field name; nil is null. */
export type Decoded = unknown;

const KELVIN = 0x212a;
const LONG_S = 0x17f;

/**
 * Whether JSON key `key` names field `name` without an exact match (Go 1.19 fold.go, for the
 * ASCII field names manifests use): same length in runes, ASCII letters equal ignoring case,
 * other ASCII exactly, and U+212A / U+017F standing for k / s.
 */
export function foldMatches(name: string, key: string): boolean {
  const k = [...key];
  if (k.length !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    const s = name.charCodeAt(i);
    const t = k[i]!.codePointAt(0)!;
    if (s === t) continue;
    const sl = s | 0x20;
    const isLetter = sl >= 0x61 && sl <= 0x7a;
    if (!isLetter) return false;
    if (t < 0x80) {
      if ((t | 0x20) !== sl) return false;
    } else if (!((sl === 0x6b && t === KELVIN) || (sl === 0x73 && t === LONG_S))) return false;
  }
  return true;
}

/** Go's int64 parse (strconv.ParseInt base 10): digits only, in range. */
function parseGoInt(raw: string, bits: 8 | 64, unsigned: boolean): number | undefined {
  if (!/^-?[0-9]+$/.test(raw)) return undefined;
  const n = BigInt(raw);
  const [lo, hi] = unsigned ? [0n, (1n << BigInt(bits)) - 1n] : [-(1n << BigInt(bits - 1)), (1n << BigInt(bits - 1)) - 1n];
  return n < lo || n > hi ? undefined : Number(n);
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function kindName(v: GoValue): string {
  return { obj: 'object', arr: 'array', str: 'string', num: 'number', bool: 'bool', null: 'null' }[v.t];
}

function typeName(t: GoType): string {
  switch (t.k) {
    case 'string':
      return 'string';
    case 'int':
      return t.name;
    case 'bool':
      return 'bool';
    case 'struct':
      return t.name;
    case 'ptr':
      return `*${typeName(t.elem)}`;
    case 'slice':
      return `[]${typeName(t.elem)}`;
    case 'map':
      return `map[string]${typeName(t.elem)}`;
    case 'any':
      return 'interface {}';
    case 'bytes':
      return '[]uint8';
  }
}

/** Go: UnmarshalTypeError, with the path of the field as our one-line message names it. */
export class GoTypeError extends Error {
  constructor(
    readonly field: string,
    readonly value: string,
    readonly goType: string,
  ) {
    super(`${field || 'the document'}: cannot unmarshal ${value} into Go value of type ${goType}`);
  }
}

/** The zero value of a Go type. */
export function zero(t: GoType): Decoded {
  switch (t.k) {
    case 'string':
      return '';
    case 'int':
      return 0;
    case 'bool':
      return false;
    case 'struct':
      return Object.fromEntries(t.fields.map(([n, ft]) => [n, zero(ft)]));
    default:
      return null;
  }
}

class Decoder {
  error: GoTypeError | undefined;

  save(path: string, v: GoValue, t: GoType, detail?: string): void {
    this.error ??= new GoTypeError(path, detail ?? kindName(v), typeName(t));
  }

  /** Go: decode `v` into a value currently holding `cur`; returns the new value. */
  value(v: GoValue, t: GoType, cur: Decoded, path: string): Decoded {
    if (v.t === 'null') {
      // Pointers, slices, maps and interfaces become nil; anything else is left alone.
      return t.k === 'ptr' || t.k === 'slice' || t.k === 'map' || t.k === 'any' || t.k === 'bytes' ? null : cur;
    }
    switch (t.k) {
      case 'ptr':
        return this.value(v, t.elem, cur ?? zero(t.elem), path);
      case 'string':
        if (v.t === 'str') return v.v;
        this.save(path, v, t);
        return cur;
      case 'bool':
        if (v.t === 'bool') return v.v;
        this.save(path, v, t);
        return cur;
      case 'int': {
        if (v.t !== 'num') {
          this.save(path, v, t);
          return cur;
        }
        const n = parseGoInt(v.raw, t.bits, t.unsigned ?? false);
        if (n === undefined) {
          this.save(path, v, t, `number ${v.raw}`);
          return cur;
        }
        return n;
      }
      case 'any':
        this.checkFloats(v, path);
        return v;
      case 'bytes':
        if (v.t === 'str') {
          const s = v.v.replace(/[\r\n]/g, '');
          if (!BASE64_RE.test(s)) this.error ??= new GoTypeError(path, 'a string that is not base64', '[]uint8');
          return v.v;
        }
        if (v.t === 'arr') return this.slice(v, { k: 'int', bits: 8, unsigned: true, name: 'uint8' }, null, path);
        this.save(path, v, t);
        return cur;
      case 'slice':
        if (v.t !== 'arr') {
          this.save(path, v, t);
          return cur;
        }
        return this.slice(v, t.elem, cur as GoSlice | null, path);
      case 'map': {
        if (v.t !== 'obj') {
          this.save(path, v, t);
          return cur;
        }
        const m = (cur as Map<string, Decoded> | null) ?? new Map<string, Decoded>();
        for (const [k, x] of v.entries) m.set(k, this.value(x, t.elem, zero(t.elem), `${path}[${JSON.stringify(k)}]`));
        return m;
      }
      case 'struct': {
        if (v.t !== 'obj') {
          this.save(path, v, t);
          return cur;
        }
        const s = cur as Record<string, Decoded>;
        for (const [k, x] of v.entries) {
          const f = t.fields.find(([n]) => n === k) ?? t.fields.find(([n]) => foldMatches(n, k));
          if (!f) continue; // unknown field: skipped
          s[f[0]] = this.value(x, f[1], s[f[0]], path ? `${path}.${f[0]}` : f[0]);
        }
        return s;
      }
    }
  }

  /** Go's array decode into a slice: elements reused in place, capacity grown by half. */
  slice(v: Extract<GoValue, { t: 'arr' }>, elem: GoType, cur: GoSlice | null, path: string): GoSlice {
    let s: GoSlice = cur ?? { backing: [], len: 0 };
    let i = 0;
    for (const x of v.items) {
      if (i >= s.backing.length) {
        const cap = Math.max(4, s.backing.length + Math.floor(s.backing.length / 2));
        const backing = s.backing.slice(0, s.len);
        while (backing.length < cap) backing.push(zero(elem));
        s = { backing, len: s.len };
      }
      if (i >= s.len) s.len = i + 1;
      s.backing[i] = this.value(x, elem, s.backing[i], `${path}[${i}]`);
      i++;
    }
    if (i < s.len) s.len = i;
    if (i === 0) s = { backing: [], len: 0 };
    return s;
  }

  /** Numbers decoded into interface{} become float64: one out of its range fails. */
  checkFloats(v: GoValue, path: string): void {
    const todo: GoValue[] = [v];
    while (todo.length > 0) {
      const x = todo.pop()!;
      if (x.t === 'num' && !Number.isFinite(Number(x.raw))) {
        this.error ??= new GoTypeError(path, `number ${x.raw}`, 'float64');
        return;
      } else if (x.t === 'obj') for (const [, y] of x.entries) todo.push(y);
      else if (x.t === 'arr') todo.push(...x.items);
    }
  }
}

/** Unmarshal into a fresh value of type `t`: the decoded value, and Go's first type error. */
export function goUnmarshal(v: GoValue, t: GoType): { value: Decoded; error?: GoTypeError } {
  const d = new Decoder();
  const value = d.value(v, t, zero(t), '');
  return { value, error: d.error };
}

/** A decoded slice as an array (nil and empty alike). */
export function items<E>(s: unknown): E[] {
  const g = s as GoSlice | null;
  return g ? (g.backing.slice(0, g.len) as E[]) : [];
}
