// Hostile archives (docker save and OCI archives): each gets a one-line error and exit 2, nothing
// appears at a final path of the store, nothing outside the archive is read, and a failed pull
// leaves nothing at its destination.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { dockerSave, type SavedImage } from '../lab/docker-save.js';
import { LayoutWriter, makeLayout, type Blob } from '../lab/images.js';
import { gzip, rawTar, type RawEntry } from '../lab/tarball.js';
import { filesUnder } from '../lab/files.js';
import { tempDir } from '../lab/tools.js';

let work: string;
let w: LayoutWriter;
let root: Blob;
let saved: SavedImage;

beforeAll(async () => {
  work = tempDir();
  w = new LayoutWriter(join(work, 'unused'));
  root = await w.image({ layers: 2, layerSize: 4096 });
  saved = dockerSave(w, root, { repoTags: ['hostile/img:1'] });
});

function archive(name: string, bytes: Buffer): string {
  const f = join(work, name);
  writeFileSync(f, bytes);
  return f;
}

/** The legacy archive with `edit` applied to its entries. */
function legacy(name: string, edit: (e: RawEntry[]) => RawEntry[]): string {
  return archive(name, rawTar(edit(saved.entries.map((e) => ({ ...e })))));
}

function setManifest(entries: RawEntry[], edit: (m: { Config: string; Layers: string[] }) => void): RawEntry[] {
  const m = entries.find((e) => e.name === 'manifest.json')!;
  const list = JSON.parse(String(m.data)) as { Config: string; Layers: string[] }[];
  edit(list[0]!);
  m.data = JSON.stringify(list);
  return entries;
}

async function expectRefused(source: string, message: RegExp): Promise<void> {
  const store = tempDir();
  const r = await regbucket(['--store', store, 'push', source, 'hostile/img:1']);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(filesUnder(store)).toEqual([]);
}

describe('hostile docker save archives', () => {
  it('the unmodified archive is accepted (the cases below fail for their own reason)', async () => {
    await regbucketOk(['--store', tempDir(), 'push', `docker-archive:${legacy('ok.tar', (e) => e)}`, 'hostile/img:1']);
  });

  it('refuses an entry whose name climbs out with ../', async () => {
    const f = legacy('dotdot.tar', (e) => [...e, { name: 'layer0/../../evil', data: 'x' }]);
    await expectRefused(`docker-archive:${f}`, /entry "layer0\/..\/..\/evil" climbs out of the archive/);
  });

  it('refuses an absolute entry name', async () => {
    await expectRefused(`docker-archive:${legacy('abs.tar', (e) => [{ name: '/tmp/evil', data: 'x' }, ...e])}`, /entry "\/tmp\/evil" has an absolute name/);
  });

  it('refuses a layer that is a symlink to a file outside, even one holding the right bytes, without reading it', async () => {
    const outside = join(tempDir(), 'layer.tar');
    const bytes = saved.entries.find((e) => e.name === 'layer0/layer.tar')!.data as Buffer;
    writeFileSync(outside, bytes);
    for (const target of [outside, '../../../../../../../../..' + outside]) {
      const f = legacy('symlink-out.tar', (e) => e.map((x) => (x.name === 'layer0/layer.tar' ? { name: x.name, type: 'symlink' as const, linkname: target } : x)));
      await expectRefused(`docker-archive:${f}`, /link "layer0\/layer.tar" points (at the absolute path|outside the archive)/);
    }
  });

  it('refuses hard links out of the archive', async () => {
    const f = legacy('hardlink.tar', (e) => [...e, { name: 'x', type: 'link', linkname: '/etc/passwd' }]);
    await expectRefused(`docker-archive:${f}`, /link "x" points at the absolute path "\/etc\/passwd"/);
    const g = legacy('hardlink2.tar', (e) => [...e, { name: 'x', type: 'link', linkname: '../outside' }]);
    await expectRefused(`docker-archive:${g}`, /link "x" points outside the archive/);
  });

  it('links as skopeo reads them: one symlink followed to a config; a layer through a symlink, two symlinks in a row, loops and hard links refused', async () => {
    const cfg = saved.entries.find((x) => x.name.endsWith('.json') && x.name !== 'manifest.json')!.name;
    const links: RawEntry[] = [
      { name: 'cfg-link', type: 'symlink', linkname: cfg },
      { name: 'cfg-link2', type: 'symlink', linkname: 'cfg-link' },
      { name: 'layer1/alias.tar', type: 'symlink', linkname: 'layer.tar' },
      { name: 'hard.tar', type: 'link', linkname: 'layer1/layer.tar' },
      { name: 'a', type: 'symlink', linkname: 'b' },
      { name: 'b', type: 'symlink', linkname: 'a' },
    ];
    const one = legacy('link-cfg.tar', (e) => setManifest([...e, ...links], (m) => (m.Config = 'cfg-link')));
    await regbucketOk(['--store', tempDir(), 'push', `docker-archive:${one}`, 'hostile/img:1']);
    const two = legacy('link-two.tar', (e) => setManifest([...e, ...links], (m) => (m.Config = 'cfg-link2')));
    await expectRefused(`docker-archive:${two}`, /more than 1 symlink in a row \(skopeo follows one\)/);
    const loop = legacy('loop.tar', (e) => setManifest([...e, ...links], (m) => (m.Config = 'a')));
    await expectRefused(`docker-archive:${loop}`, /symlink in a row/);
    // skopeo sizes a layer by its symlink's header (0) and fails; it reads a hard link's own empty data.
    const sym = legacy('link-layer.tar', (e) => setManifest([...e, ...links], (m) => (m.Layers[1] = 'layer1/alias.tar')));
    await expectRefused(`docker-archive:${sym}`, /is a symlink: skopeo takes its size from the link/);
    const hard = legacy('link-hard.tar', (e) => setManifest([...e, ...links], (m) => (m.Layers[1] = 'hard.tar')));
    await expectRefused(`docker-archive:${hard}`, /is a hard link/);
  }, 300_000);

  it('refuses a name with a NUL byte and a very long name', async () => {
    await expectRefused(`docker-archive:${legacy('nul.tar', (e) => [...e, { name: 'bad\0name', data: 'x', pax: true }])}`, /NUL byte/);
    await expectRefused(`docker-archive:${legacy('long.tar', (e) => [...e, { name: 'a/'.repeat(4000), data: 'x', pax: true }])}`, /longer than 1024/);
  });

  it('refuses devices and fifos', async () => {
    await expectRefused(`docker-archive:${legacy('fifo.tar', (e) => [...e, { name: 'p', type: 'fifo' }])}`, /entry "p" is a fifo/);
  });

  it('refuses a truncated tar, a truncated gzip, a header whose size lies, and bytes that are no tar', async () => {
    const full = readFileSync(legacy('full.tar', (e) => e));
    await expectRefused(`docker-archive:${archive('cut.tar', full.subarray(0, 3000))}`, /truncated|size lies/);
    const gz = gzip(full);
    await expectRefused(`docker-archive:${archive('cut.tar.gz', gz.subarray(0, gz.length - 200))}`, /gzip stream is corrupt or truncated|truncated/);
    const lying = legacy('lying.tar', (e) => e.map((x) => (x.name === 'layer0/layer.tar' ? { ...x, size: 1 << 30 } : x)));
    await expectRefused(`docker-archive:${lying}`, /claims 1073741824 bytes but the file ends first/);
    await expectRefused(`docker-archive:${archive('noise.tar', Buffer.alloc(4096, 7))}`, /invalid tar header/);
    await expectRefused(`docker-archive:${archive('empty.tar', Buffer.alloc(0))}`, /the file is empty/);
  });

  it('refuses a manifest.json naming a missing layer or a path outside the archive', async () => {
    await expectRefused(`docker-archive:${legacy('missing.tar', (e) => setManifest(e, (m) => (m.Layers[1] = 'nothere/layer.tar')))}`, /layer named in manifest.json, "nothere\/layer.tar" is missing/);
    await expectRefused(
      `docker-archive:${legacy('trav.tar', (e) => setManifest(e, (m) => (m.Layers[0] = '../../../../etc/passwd')))}`,
      /names layer "..\/..\/..\/..\/etc\/passwd", a path outside the archive/,
    );
    await expectRefused(`docker-archive:${legacy('travcfg.tar', (e) => setManifest(e, (m) => (m.Config = '/etc/passwd')))}`, /names config "\/etc\/passwd", a path outside the archive/);
    await expectRefused(`docker-archive:${legacy('fewer.tar', (e) => setManifest(e, (m) => m.Layers.pop()))}`, /lists 1 layers but its config has 2 diff_ids/);
    await expectRefused(`docker-archive:${legacy('nomanifest.tar', (e) => e.filter((x) => x.name !== 'manifest.json'))}`, /no manifest.json/);
  });

  it('a layer whose bytes do not match its diff_id: exit 2, the bad blob and no manifest or tag in the store', async () => {
    const f = legacy('corrupt.tar', (e) =>
      e.map((x) => {
        if (x.name !== 'layer1/layer.tar') return x;
        const b = Buffer.from(x.data as Buffer);
        b[700]! ^= 0xff;
        return { ...x, data: b };
      }),
    );
    const store = tempDir();
    const r = await regbucket(['--store', store, 'push', `docker-archive:${f}`, 'hostile/img:1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(saved.diffIds[1]!);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const files = filesUnder(store);
    expect(files.filter((p) => p.includes(saved.diffIds[1]!.slice(7)) || p.includes('/_manifests/') || p.includes('/_uploads/'))).toEqual([]);
  });
});

describe('hostile OCI archives', () => {
  let layoutEntries: RawEntry[];
  let layer: Blob;

  beforeAll(async () => {
    const dir = join(work, 'layout');
    const { writer } = await makeLayout(dir, [{ ref: 'x', layers: 2, layerSize: 2048 }]);
    layer = [...writer.blobs.values()].find((b) => b.mediaType.includes('layer'))!;
    layoutEntries = [
      { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
      { name: 'index.json', data: readFileSync(join(dir, 'index.json')) },
      ...[...writer.blobs.values()].map((b) => ({ name: `blobs/sha256/${b.digest.slice(7)}`, data: b.bytes })),
    ];
  });

  function oci(name: string, edit: (e: RawEntry[]) => RawEntry[]): string {
    return archive(name, rawTar(edit(layoutEntries.map((e) => ({ ...e })))));
  }

  it('the unmodified archive is accepted', async () => {
    await regbucketOk(['--store', tempDir(), 'push', `oci-archive:${oci('ok.oci.tar', (e) => e)}`, 'hostile/img:1']);
  });

  it('refuses a blob that is a symlink out of the archive', async () => {
    const outside = join(tempDir(), 'blob');
    writeFileSync(outside, layer.bytes);
    const f = oci('oci-symlink.tar', (e) => e.map((x) => (x.name.endsWith(layer.digest.slice(7)) ? { name: x.name, type: 'symlink' as const, linkname: outside } : x)));
    await expectRefused(`oci-archive:${f}`, /points at the absolute path/);
  });

  it('refuses a blob missing from the archive, and a descriptor size that lies, before writing anything', async () => {
    await expectRefused(`oci-archive:${oci('oci-missing.tar', (e) => e.filter((x) => !x.name.endsWith(layer.digest.slice(7))))}`, /blob sha256:[0-9a-f]{64} is missing from the OCI archive/);
    const f = oci('oci-size.tar', (e) =>
      e.map((x) => {
        if (!x.name.endsWith(layer.digest.slice(7))) return x;
        return { ...x, data: Buffer.concat([x.data as Buffer, Buffer.from('more')]) };
      }),
    );
    await expectRefused(`oci-archive:${f}`, /size mismatch for sha256:[0-9a-f]{64}/);
    await expectRefused(`oci-archive:${oci('oci-noindex.tar', (e) => e.filter((x) => x.name !== 'index.json'))}`, /not an OCI archive \(no index.json/);
  });

  it('a failed pull leaves nothing at the destination and no temp file', async () => {
    const store = tempDir();
    const src = join(work, 'multi');
    await makeLayout(src, [{ ref: 'm', platforms: ['linux/amd64', 'linux/arm64'] }]);
    await regbucketOk(['--store', store, 'push', `oci:${src}:m`, 'hostile/multi:1']);
    const dest = tempDir();
    const r = await regbucket(['--store', store, 'pull', 'hostile/multi:1', `docker-archive:${join(dest, 'x.tar')}`]);
    expect(r.code).toBe(2);
    const missingDir = await regbucket(['--store', store, 'pull', 'hostile/multi:1', `oci-archive:${join(dest, 'no', 'x.tar')}`]);
    expect(missingDir.code).toBe(2);
    expect(missingDir.stderr).toMatch(/directory .* does not exist/);
    expect(readdirSync(dest)).toEqual([]);
  });
});
