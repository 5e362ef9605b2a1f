// Manifests with fields of the wrong JSON type (the registry's Go decoder fails on them and it
// answers 500 for the tag): refused on the way in with exit 2 and one line naming the manifest
// and the field, nothing written; reported by verify when already stored (exit 3).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { filesUnder } from '../lab/files.js';
import { digestOf, makeLayout, type Blob } from '../lab/images.js';
import { tempDir } from '../lab/tools.js';
import { linkRevision, tag, writeBlob } from '../gc/raw-store.js';

const VARIANTS: Array<[string, (json: string) => string, RegExp]> = [
  ['size 10240.0', (j) => j.replace(/("layers":\[\{[^}]*"size":)(\d+)/, '$1$2.0'), /layers\[0\]\.size: cannot unmarshal number \d+\.0 into Go value of type int64/],
  ['schemaVersion 2.0', (j) => j.replace('"schemaVersion":2', '"schemaVersion":2.0'), /schemaVersion: cannot unmarshal number 2\.0/],
  ['a non-string annotation', (j) => j.replace(/\}$/, ',"annotations":{"a":1}}'), /annotations\["a"\]: cannot unmarshal number into Go value of type string/],
  ['a type error in a key a later duplicate replaces', (j) => j.replace('"layers":', '"LAYERS":5,"layers":'), /layers: cannot unmarshal number into Go value of type \[\]Descriptor/],
  ['layers of strings', (j) => j.replace(/"layers":\[.*\]/, '"layers":["x"]'), /layers\[0\]: cannot unmarshal string into Go value of type Descriptor/],
];

async function layout(): Promise<{ dir: string; root: Blob }> {
  const dir = join(tempDir(), 'layout');
  const { roots } = await makeLayout(dir, [{ ref: 'x', layers: 1, layerSize: 512 }]);
  return { dir, root: roots[0]! };
}

/** Replaces the layout's image manifest with `bytes`. */
function replaceManifest(dir: string, bytes: Buffer): string {
  const d = digestOf(bytes);
  writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), bytes);
  const idx = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  idx.manifests[0].digest = d;
  idx.manifests[0].size = bytes.length;
  writeFileSync(join(dir, 'index.json'), JSON.stringify(idx));
  return d;
}

describe('manifests with fields of the wrong type', () => {
  it.each(VARIANTS)('push refuses %s: exit 2, one line naming the field, nothing written', async (_name, edit, field) => {
    const { dir, root } = await layout();
    const text = edit(root.bytes.toString());
    expect(text).not.toBe(root.bytes.toString());
    const d = replaceManifest(dir, Buffer.from(text));
    const store = tempDir();
    const r = await regbucket(['--store', store, 'push', `oci:${dir}:x`, 'h/img:1']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(d);
    expect(r.stderr).toMatch(field);
    expect(filesUnder(store).filter((f) => !f.includes('/_uploads/'))).toEqual([]);
  });

  it('verify reports one already stored (exit 3, naming the field); tag refuses it (exit 2)', async () => {
    const { dir, root } = await layout();
    const store = tempDir();
    await regbucketOk(['--store', store, 'push', `oci:${dir}:x`, 'h/img:1']);
    const bad = Buffer.from(VARIANTS[0]![1](root.bytes.toString()));
    const d = writeBlob(store, bad);
    linkRevision(store, 'h/img', d);
    tag(store, 'h/img', 'bad', d);
    const v = await regbucket(['--store', store, '--json', 'verify', '--no-hash']);
    expect(v.code, v.stderr).toBe(3);
    expect(v.stdout).toContain('bad-manifest');
    expect(v.stdout).toMatch(/layers\[0\]\.size/);
    const t = await regbucket(['--store', store, 'tag', `h/img@${d}`, 'again']);
    expect(t.code, t.stderr).toBe(2);
    expect(t.stderr).toMatch(/layers\[0\]\.size/);
  });
});
