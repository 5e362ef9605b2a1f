// Go's encoding/json semantics, unit by unit (the corpus against the real registry is
// test/gc/decoder-corpus.test.ts).
import { describe, expect, it } from 'vitest';
import { foldMatches, goUnmarshal, items, MAX_NESTING_DEPTH, parseGoJson, T } from '../../src/image/go-json.js';
import { registryReading } from '../../src/image/registry-reading.js';

const D = (c: string): string => `sha256:${c.repeat(64)}`;
const S = T.struct('S', [
  ['digest', T.string],
  ['size', T.int64],
  [
    'layers',
    T.slice(
      T.struct('L', [
        ['digest', T.string],
        ['size', T.int64],
      ]),
    ),
  ],
  ['annotations', T.map(T.string)],
  ['subject', T.ptr(T.struct('P', [['digest', T.string]]))],
]);
const dec = (json: string | Buffer): { value: Record<string, unknown>; error?: Error } => {
  const r = goUnmarshal(parseGoJson(Buffer.isBuffer(json) ? json : Buffer.from(json)), S);
  return { value: r.value as Record<string, unknown>, error: r.error };
};

describe('Go JSON parsing', () => {
  it('decodes invalid UTF-8 and lone surrogates to U+FFFD, one per bad byte', () => {
    const v = parseGoJson(Buffer.concat([Buffer.from('"a'), Buffer.from([0xe2, 0x82]), Buffer.from('b\\ud800c\\ud83d\\ude00"')]));
    expect(v).toEqual({ t: 'str', v: 'a\ufffd\ufffdb\ufffdc\u{1f600}' });
    expect(parseGoJson(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]))).toEqual({ t: 'str', v: '\ufffd\ufffd\ufffd' });
  });
  it('refuses what Go refuses', () => {
    for (const bad of ['', '{', '{"a":1,}', '[1,]', '01', '1.', '"\\x"', '"\u0001"', '{"a" 1}', '{} x', 'nul', '\ufeff{}']) {
      expect(() => parseGoJson(Buffer.from(bad)), bad).toThrow();
    }
  });
  it('nests to Go`s limit without exhausting the stack', () => {
    expect(() => parseGoJson(Buffer.from('['.repeat(MAX_NESTING_DEPTH) + ']'.repeat(MAX_NESTING_DEPTH)))).not.toThrow();
    expect(() => parseGoJson(Buffer.from('['.repeat(MAX_NESTING_DEPTH + 1) + ']'.repeat(MAX_NESTING_DEPTH + 1)))).toThrow(/depth/);
  });
});

describe('Go struct decoding', () => {
  it('folds keys: ASCII case, Kelvin sign for k, long s for s; exact match first', () => {
    expect(foldMatches('layers', 'LAYERS')).toBe(true);
    expect(foldMatches('layers', 'layer\u017f')).toBe(true);
    expect(foldMatches('mediaType', 'MEDIATYPE')).toBe(true);
    expect(foldMatches('os.version', 'OS.Version')).toBe(true);
    expect(foldMatches('os.version', 'os_version')).toBe(false);
    expect(foldMatches('config', 'con\u212aig')).toBe(false);
    expect(foldMatches('subject', 'subje\u212at')).toBe(false);
    expect(dec(`{"Digest":"${D('a')}"}`).value.digest).toBe(D('a'));
    expect(dec(`{"digest":"${D('a')}","Digest":"${D('b')}"}`).value.digest).toBe(D('b'));
    expect(dec(`{"DIGEST":"${D('b')}","digest":"${D('a')}"}`).value.digest).toBe(D('a'));
  });
  it('merges duplicate keys into what the first decoded', () => {
    const v = dec(`{"layers":[{"digest":"${D('a')}","size":1},{"digest":"${D('b')}"}],"Layers":[{"size":2}]}`).value;
    expect(items(v.layers)).toEqual([{ digest: D('a'), size: 2 }]);
    // A later, longer array re-exposes old elements within capacity.
    const w = dec(`{"layers":[{"digest":"${D('a')}"},{"digest":"${D('b')}"}],"layers":[],"layers":[{"size":1},{"size":2}]}`).value;
    expect(items(w.layers)).toEqual([
      { digest: '', size: 1 },
      { digest: '', size: 2 },
    ]);
    const x = dec(`{"layers":[{"digest":"${D('a')}"},{"digest":"${D('b')}"}],"layers":[{"size":1}],"layers":[{"size":3},{"size":4}]}`).value;
    expect(items(x.layers)).toEqual([
      { digest: D('a'), size: 3 },
      { digest: D('b'), size: 4 },
    ]);
    const m = dec(`{"annotations":{"a":"1"},"annotations":{"b":"2"},"subject":{"digest":"${D('c')}"},"subject":{}}`).value;
    expect(Object.fromEntries(m.annotations as Map<string, string>)).toEqual({ a: '1', b: '2' });
    expect(m.subject).toEqual({ digest: D('c') });
  });
  it('null keeps strings and numbers, clears slices, maps and pointers', () => {
    const v = dec(`{"digest":"${D('a')}","digest":null,"size":3,"size":null,"layers":[{}],"layers":null,"subject":{},"subject":null}`).value;
    expect(v).toMatchObject({ digest: D('a'), size: 3, layers: null, subject: null });
  });
  it('reports the first type error and decodes the rest', () => {
    for (const [json, field] of [
      ['{"size":10240.0}', 'size'],
      ['{"size":"1"}', 'size'],
      ['{"size":1e3}', 'size'],
      ['{"size":9223372036854775808}', 'size'],
      ['{"digest":5}', 'digest'],
      ['{"layers":{}}', 'layers'],
      ['{"layers":[5]}', 'layers[0]'],
      ['{"annotations":{"a":1}}', 'annotations["a"]'],
      ['{"layers":5,"layers":[]}', 'layers'],
    ] as const) {
      const r = dec(json);
      expect(r.error?.message, json).toMatch(new RegExp(`^${field.replace(/[[\]"]/g, '\\$&')}: cannot unmarshal`));
    }
    expect(dec('{"size":-0,"layers":[],"x":[1e999]}').error).toBeUndefined();
    const r = dec(`{"size":"x","digest":"${D('a')}"}`);
    expect(r.value.digest).toBe(D('a'));
  });
});

describe('the registry`s reading of a manifest', () => {
  const cfg = `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"${D('c')}","size":2}`;
  it('chooses the kind as manifeststore.Get does', () => {
    expect(registryReading(Buffer.from(`{"schemaVersion":2,"manifests":[]}`))).toMatchObject({ ok: true, kind: 'index' });
    expect(registryReading(Buffer.from(`{"schemaVersion":2,"manifests":null,"config":${cfg}}`))).toMatchObject({ ok: true, kind: 'image' });
    expect(registryReading(Buffer.from(`{"SchemaVersion":2,"Manifests":[{"digest":"${D('a')}"}]}`))).toMatchObject({ ok: true, kind: 'index' });
    expect(registryReading(Buffer.from(`{"schemaVersion":2.0,"config":${cfg}}`))).toMatchObject({ ok: false });
    expect(registryReading(Buffer.from(`{"schemaVersion":2,"schemaversion":3,"config":${cfg}}`))).toMatchObject({ ok: false });
    expect(registryReading(Buffer.from(`{"schemaVersion":2,"manifests":[{"size":"1"}],"config":${cfg}}`))).toMatchObject({ ok: false });
    expect(registryReading(Buffer.from(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","manifests":[{"size":"1"}],"config":${cfg}}`))).toMatchObject({
      ok: true,
      putRefusal: expect.any(String),
    });
  });
});
