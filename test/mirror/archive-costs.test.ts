// Archives and layouts built to be expensive stay linear with bounded memory: PAX floods and
// long-name floods end at the per-archive budget, many entries are indexed once, a layout with
// thousands of referrers reads each manifest once, a docker-archive naming one config and layer
// many times hashes them once. Assertions are on counts and refusals, never on timings (the
// timings are in bench/RESULTS.md).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { DockerArchiveSource } from '../../src/image/docker-archive.js';
import type { Descriptor } from '../../src/image/manifest.js';
import { OciLayoutSource } from '../../src/image/oci-layout.js';
import { MAX_EXTENDED_BYTES, TarArchive } from '../../src/image/tar-archive.js';
import { makeLayout } from '../lab/images.js';
import { EOA, file, gnuLong, header, padded, paxRecord } from '../lab/tar-constructs.js';
import { tempDir } from '../lab/tools.js';

const dir = tempDir();

function save(name: string, bytes: Buffer): string {
  const f = join(dir, name);
  writeFileSync(f, bytes);
  return f;
}

describe('linear costs', () => {
  it('a gzip PAX flood (1 MiB headers of tiny records) is refused at the per-archive budget', async () => {
    const records = Buffer.concat(Array.from({ length: 170_000 }, (_, i) => paxRecord('a', String(i % 10))));
    const one = (i: number): Buffer => Buffer.concat([header({ name: 'p', type: 'x', size: records.length }), padded(records), file(`f${i}`, 'x')]);
    const f = save('pax-flood.tar.gz', gzipSync(Buffer.concat([...Array.from({ length: 40 }, (_, i) => one(i)), EOA])));
    await expect(TarArchive.open(f)).rejects.toThrow(/PAX records|PAX and GNU long-name headers/);
  });

  it('200k long names are refused once their bytes pass the budget, not kept', async () => {
    const name = (i: number): string => `${`${'n'.repeat(200)}/`.repeat(4)}${i}`;
    const parts: Buffer[] = [];
    for (let i = 0; i < 200_000 && parts.length * 512 < (MAX_EXTENDED_BYTES + (1 << 20)) * 2; i++) parts.push(gnuLong(name(i)), file(`s${i}`, ''));
    const f = save('long-names.tar.gz', gzipSync(Buffer.concat([...parts, EOA])));
    await expect(TarArchive.open(f)).rejects.toThrow(/PAX and GNU long-name headers/);
  });

  it('200k entries are indexed in one pass with bounded memory', async () => {
    const parts = Array.from({ length: 200_000 }, (_, i) => file(`d${i % 100}/f${i}`, ''));
    const f = save('many.tar.gz', gzipSync(Buffer.concat([...parts, EOA])));
    const before = process.memoryUsage().heapUsed;
    const a = await TarArchive.open(f);
    expect(a.members()).toHaveLength(200_000);
    // Generous: a few hundred bytes an entry; the old reader kept every name and more.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(400 * 1024 * 1024);
    a.close();
  }, 300_000);

  it('a layout with thousands of referrers reads each manifest once', async () => {
    const layout = join(dir, 'referrers');
    const { roots } = await makeLayout(layout, [{ ref: 'img', layers: 1, layerSize: 256 }]);
    const subject = roots[0]!;
    const index = JSON.parse((await import('node:fs')).readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    const { createHash } = await import('node:crypto');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
    const empty = Buffer.from('{}');
    const emptyDigest = `sha256:${createHash('sha256').update(empty).digest('hex')}`;
    writeFileSync(join(layout, 'blobs', 'sha256', emptyDigest.slice(7)), empty);
    for (let i = 0; i < 1500; i++) {
      const m = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          artifactType: 'application/x-test',
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyDigest, size: 2 },
          layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyDigest, size: 2 }],
          subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
          annotations: { n: String(i) },
        }),
      );
      const d = `sha256:${createHash('sha256').update(m).digest('hex')}`;
      writeFileSync(join(layout, 'blobs', 'sha256', d.slice(7)), m);
      index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d as Descriptor['digest'], size: m.length });
    }
    writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
    const src = new OciLayoutSource(layout);
    const reads = vi.spyOn(src, 'getManifest');
    const images = await src.images();
    expect(images).toHaveLength(1);
    for (const img of images) expect(await src.referrers(img.descriptor)).toHaveLength(1500);
    expect(reads.mock.calls.length).toBeLessThanOrEqual(index.manifests.length);
  }, 300_000);

  it('a docker-archive naming one config and one gzip layer in 200 entries hashes them once', async () => {
    const layer = gzipSync(Buffer.concat([file('x', 'y'), EOA]));
    const diff = `sha256:${(await import('node:crypto'))
      .createHash('sha256')
      .update(Buffer.concat([file('x', 'y'), EOA]))
      .digest('hex')}`;
    const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [diff] } }));
    const entries = Array.from({ length: 200 }, (_, i) => ({ Config: 'c.json', RepoTags: [`img:${i}`], Layers: ['l/layer.tar'] }));
    const f = save('repeated.tar', Buffer.concat([file('c.json', config), file('l/layer.tar', layer), file('manifest.json', JSON.stringify(entries)), EOA]));
    const opens = vi.spyOn(TarArchive.prototype, 'open');
    const src = new DockerArchiveSource(f);
    expect(await src.images()).toHaveLength(200);
    expect(opens.mock.calls.length).toBeLessThanOrEqual(3);
    opens.mockRestore();
    await src.close();
  });
});
