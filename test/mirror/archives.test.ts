// Archives in and out: docker save output (both generations) and OCI archives, pushed into a store
// served by the real registry and pulled back into archives that skopeo reads.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { dockerSave, dockerSaveTar } from '../lab/docker-save.js';
import { makeLayerTar, makeLayout, LayoutWriter } from '../lab/images.js';
import { startRegistry, type RunningRegistry } from '../lab/registry.js';
import { gzip, rawTar } from '../lab/tarball.js';
import { skopeo, skopeoCopy, skopeoInspectRaw, tempDir } from '../lab/tools.js';

interface Manifest {
  config: { digest: string };
  layers: { digest: string; mediaType: string }[];
}

async function rawManifest(ref: string): Promise<Manifest> {
  return JSON.parse((await skopeoInspectRaw(ref)).toString()) as Manifest;
}

async function diffIdsOf(ref: string): Promise<string[]> {
  const flags = ref.startsWith('docker://') ? ['--tls-verify=false'] : [];
  return (JSON.parse(await skopeo(['inspect', ...flags, '--config', '--raw', ref])) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
}

function refDigest(dir: string, ref: string): string {
  const idx = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const m = idx.manifests.find((e) => e.annotations?.['org.opencontainers.image.ref.name'] === ref);
  if (!m) throw new Error(`no ${ref} in ${dir}`);
  return m.digest;
}

describe('archives pushed into a store the real registry serves', () => {
  let store: string;
  let registry: RunningRegistry;
  let work: string;

  beforeAll(async () => {
    store = tempDir();
    work = tempDir();
    registry = await startRegistry({ storage: { filesystem: store } });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('a docker-archive written by skopeo, pushed by regbucket, pulled by skopeo: same config digest and diff_ids', async () => {
    const src = join(work, 'skopeo-src');
    await makeLayout(src, [{ ref: 'v1', layers: 3, layerSize: 50_000 }]);
    const archive = join(work, 'skopeo.tar');
    await skopeo(['copy', `oci:${src}:v1`, `docker-archive:${archive}:example.com/team/app:v1`]);
    const want = await rawManifest(`docker-archive:${archive}`);
    const wantIds = await diffIdsOf(`docker-archive:${archive}`);

    const r = await regbucketOk(['--store', store, '--json', 'push', `docker-archive:${archive}`, 'team/app']);
    expect(r.json<{ images: { tag: string }[] }>().images.map((i) => i.tag)).toEqual(['v1']);
    const served = await rawManifest(`docker://${registry.host}/team/app:v1`);
    expect(served.config.digest).toBe(want.config.digest);
    expect(await diffIdsOf(`docker://${registry.host}/team/app:v1`)).toEqual(wantIds);
    // skopeo writes uncompressed layers: they are stored as they are, digest = diff_id.
    expect(served.layers.map((l) => l.digest)).toEqual(wantIds);
    expect(served.layers.every((l) => l.mediaType === 'application/vnd.docker.image.rootfs.diff.tar')).toBe(true);
    const out = join(work, 'skopeo-pulled');
    await skopeoCopy(`docker://${registry.host}/team/app:v1`, `oci:${out}:v1`);
  });

  it('pull into a docker-archive that skopeo reads: same config digest and diff_ids, gzip layers kept as stored', async () => {
    const src = join(work, 'pull-src');
    const { roots, writer } = await makeLayout(src, [{ ref: 'v2', layers: 2, layerSize: 30_000 }]);
    await regbucketOk(['--store', store, 'push', `oci:${src}:v2`, 'team/pull:v2']);
    const m = JSON.parse(roots[0]!.bytes.toString()) as Manifest;
    const cfg = JSON.parse(writer.blobs.get(m.config.digest)!.bytes.toString()) as { rootfs: { diff_ids: string[] } };

    const archive = join(work, 'pulled.tar');
    await regbucketOk(['--store', store, 'pull', 'team/pull:v2', `docker-archive:${archive}`]);
    const seen = await rawManifest(`docker-archive:${archive}`);
    expect(seen.config.digest).toBe(m.config.digest);
    expect(await diffIdsOf(`docker-archive:${archive}`)).toEqual(cfg.rootfs.diff_ids);
    const oci = join(work, 'pulled-oci');
    await skopeo(['copy', `docker-archive:${archive}:team/pull:v2`, `oci:${oci}:x`]);
    expect(await diffIdsOf(`oci:${oci}:x`)).toEqual(cfg.rootfs.diff_ids);

    // Read back by regbucket: the OCI side of the archive keeps the manifest digest.
    const again = await regbucketOk(['--store', store, '--json', 'push', `docker-archive:${archive}:team/pull:v2`, 'team/pull:back']);
    expect(again.json<{ images: { digest: string }[] }>().images[0]!.digest).toBe(roots[0]!.digest);
  });

  it('oci-archive round trip both ways with skopeo', async () => {
    const src = join(work, 'oa-src');
    const { roots } = await makeLayout(src, [{ ref: 'v3', layers: 2 }]);
    const a = join(work, 'skopeo.oci.tar');
    await skopeo(['copy', `oci:${src}:v3`, `oci-archive:${a}:v3`]);
    const pushed = await regbucketOk(['--store', store, '--json', 'push', `oci-archive:${a}`, 'team/oa']);
    expect(pushed.json<{ images: { tag: string; digest: string }[] }>().images).toMatchObject([{ tag: 'v3', digest: roots[0]!.digest }]);
    expect((await skopeoInspectRaw(`docker://${registry.host}/team/oa:v3`)).length).toBe(roots[0]!.size);

    const b = join(work, 'regbucket.oci.tar');
    await regbucketOk(['--store', store, 'pull', 'team/oa:v3', `oci-archive:${b}:copy`]);
    const out = join(work, 'oa-out');
    await skopeo(['copy', `oci-archive:${b}:copy`, `oci:${out}:back`]);
    expect(refDigest(out, 'back')).toBe(roots[0]!.digest);
    expect(readdirSync(work).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a gzip-compressed oci-archive is read too', async () => {
    const src = join(work, 'gz-src');
    const { roots } = await makeLayout(src, [{ ref: 'gz', layers: 4, layerSize: 20_000 }]);
    const a = join(work, 'gz.oci.tar');
    await skopeo(['copy', `oci:${src}:gz`, `oci-archive:${a}:gz`]);
    writeFileSync(`${a}.gz`, gzip(readFileSync(a)));
    const r = await regbucketOk(['--store', tempDir(), '--json', 'push', `oci-archive:${a}.gz:gz`, 'team/gz:1']);
    expect(r.json<{ images: { digest: string }[]; stats: { blobsUploaded: number } }>()).toMatchObject({ images: [{ digest: roots[0]!.digest }], stats: { blobsUploaded: 5 } });
  });

  for (const gzipLayers of [false, true]) {
    it(`a legacy docker save archive (${gzipLayers ? 'gzip' : 'uncompressed'} layers), also gzip-compressed as a whole`, async () => {
      const w = new LayoutWriter(join(work, 'unused'));
      const root = await w.image({ layers: 2, layerSize: 10_000 });
      const saved = dockerSave(w, root, { gzipLayers, repoTags: ['example.com/legacy:v1', 'example.com/legacy:latest'] });
      for (const [i, bytes] of [rawTar(saved.entries), gzip(rawTar(saved.entries))].entries()) {
        const f = join(work, `legacy-${gzipLayers}-${i}.tar`);
        writeFileSync(f, bytes);
        const s = tempDir();
        const r = await regbucketOk(['--store', s, '--json', 'push', `docker-archive:${f}`, 'legacy']);
        const images = r.json<{ images: { tag: string; digest: string }[] }>().images;
        expect(images.map((x) => x.tag).sort()).toEqual(['latest', 'v1']);
        const reg = await startRegistry({ storage: { filesystem: s } });
        try {
          const served = await rawManifest(`docker://${reg.host}/legacy:v1`);
          expect(served.config.digest).toBe(saved.config.digest);
          expect(served.layers.map((l) => l.digest)).toEqual(saved.layerDigests);
          expect(await diffIdsOf(`docker://${reg.host}/legacy:v1`)).toEqual(saved.diffIds);
        } finally {
          await reg.stop();
        }
      }
    });
  }

  it('a newer-Docker archive: its OCI manifest when index.json is sound, manifest.json when index.json has a null entry', async () => {
    const w = new LayoutWriter(join(work, 'unused2'));
    const root = await w.image({ layers: 2, layerSize: 8_000 });
    const sound = dockerSave(w, root, { oci: true, repoTags: ['docker.io/library/newer:1'] });
    const f1 = join(work, 'newer-sound.tar');
    writeFileSync(f1, rawTar(sound.entries));
    const s = tempDir();
    const r1 = await regbucketOk(['--store', s, '--json', 'push', `docker-archive:${f1}:newer:1`, 'newer:a']);
    expect(r1.json<{ images: { digest: string }[] }>().images[0]!.digest).toBe(sound.manifestDigest);

    for (const oddity of ['null-entry', 'null-manifests', 'missing'] as const) {
      const f = join(work, `newer-${oddity}.tar`);
      writeFileSync(f, dockerSaveTar(w, root, { oci: true, indexOddity: oddity, repoTags: ['docker.io/library/newer:1'] }));
      const r = await regbucketOk(['--store', s, '--json', 'push', `docker-archive:${f}:@0`, `newer:${oddity}`]);
      const d = r.json<{ images: { digest: string }[] }>().images[0]!.digest;
      expect(d).not.toBe(sound.manifestDigest);
      const reg = await startRegistry({ storage: { filesystem: s } });
      try {
        const served = await rawManifest(`docker://${reg.host}/newer:${oddity}`);
        expect(served.config.digest).toBe(sound.config.digest);
        expect(await diffIdsOf(`docker://${reg.host}/newer:${oddity}`)).toEqual(sound.diffIds);
      } finally {
        await reg.stop();
      }
    }
  });

  it('picks an image of a docker-archive by RepoTags name or position, and says what it holds otherwise', async () => {
    const w = new LayoutWriter(join(work, 'unused3'));
    const a = await w.image({ layers: 1 });
    const b = await w.image({ layers: 1 });
    const ea = dockerSave(w, a, { repoTags: ['one:1'] });
    const eb = dockerSave(w, b, { repoTags: ['two:2'] });
    const manifest = (e: typeof ea): unknown => JSON.parse(String(e.entries.find((x) => x.name === 'manifest.json')!.data))[0];
    const entries = [...ea.entries, ...eb.entries].filter((x) => x.name !== 'manifest.json' && !x.name.startsWith('layer'));
    // Distinct layer directories for the two images.
    const layers = [
      ...ea.entries.filter((x) => x.name.startsWith('layer')).map((x) => ({ ...x, name: `a-${x.name}` })),
      ...eb.entries.filter((x) => x.name.startsWith('layer')).map((x) => ({ ...x, name: `b-${x.name}` })),
    ];
    const ma = manifest(ea) as { Layers: string[] };
    const mb = manifest(eb) as { Layers: string[] };
    ma.Layers = ma.Layers.map((l) => `a-${l}`);
    mb.Layers = mb.Layers.map((l) => `b-${l}`);
    const f = join(work, 'two.tar');
    writeFileSync(f, rawTar([...entries, ...layers, { name: 'manifest.json', data: JSON.stringify([ma, mb]) }]));
    const s = tempDir();
    const byName = await regbucketOk(['--store', s, '--json', 'push', `docker-archive:${f}:docker.io/library/two:2`, 'pick:name']);
    const byPos = await regbucketOk(['--store', s, '--json', 'push', `docker-archive:${f}:@1`, 'pick:pos']);
    expect(byName.json<{ images: { digest: string }[] }>().images[0]!.digest).toBe(byPos.json<{ images: { digest: string }[] }>().images[0]!.digest);
    const miss = await regbucket(['--store', s, 'push', `docker-archive:${f}:three:3`, 'pick:x']);
    expect(miss.code).toBe(2);
    expect(miss.stderr).toMatch(/no image named "three:3".*one:1, two:2/);
    const far = await regbucket(['--store', s, 'push', `docker-archive:${f}:@2`, 'pick:x']);
    expect(far.code).toBe(2);
    expect(far.stderr).toMatch(/@0 to @1/);
    const both = await regbucket(['--store', s, 'push', `docker-archive:${f}`, 'pick:x']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/holds 2 images/);
  }, 240_000);

  it('air gap: several images pulled into one layout and one archive (each blob once), then every named image pushed back', async () => {
    const src = join(work, 'gap-src');
    const shared = await makeLayerTar(20_000);
    const { roots } = await makeLayout(src, [
      { ref: 'a', layers: 1, sharedLayers: [shared] },
      { ref: 'b', layers: 1, sharedLayers: [shared] },
      { ref: 'm', platforms: ['linux/amd64', 'linux/arm64'], layers: 1 },
    ]);
    const s = tempDir();
    await regbucketOk(['--store', s, 'push', `oci:${src}:a`, 'gap/one:1']);
    await regbucketOk(['--store', s, 'push', `oci:${src}:b`, 'gap/two:2']);
    await regbucketOk(['--store', s, 'push', `oci:${src}:m`, 'gap/multi:3']);

    const layout = join(work, 'bundle');
    const bundle = join(work, 'bundle.tar');
    const refs = ['gap/one:1', 'gap/two:2', 'gap/multi:3'];
    const l = await regbucketOk(['--store', s, '--json', 'pull', ...refs, `oci:${layout}`]);
    const a = await regbucketOk(['--store', s, '--json', 'pull', ...refs, `oci-archive:${bundle}`]);
    for (const r of [l, a]) {
      const j = r.json<{ images: { name: string; digest: string }[]; stats: { blobsUploaded: number } }>();
      expect(j.images.map((i) => i.name)).toEqual(refs);
      // one: config + shared + own layer; two: config + own layer (shared once); multi: 2 x (config + layer)
      expect(j.stats.blobsUploaded).toBe(3 + 2 + 4);
    }
    expect(readdirSync(join(layout, 'blobs', 'sha256'))).toHaveLength(9 + 5);
    expect(refDigest(layout, 'gap/multi:3')).toBe(roots[2]!.digest);

    for (const source of [`oci:${layout}`, `oci-archive:${bundle}`]) {
      const other = tempDir();
      const r = await regbucketOk(['--store', other, '--json', 'push', source]);
      expect(r.json<{ images: { repo: string; tag: string; digest: string }[] }>().images).toEqual([
        expect.objectContaining({ repo: 'gap/one', tag: '1', digest: roots[0]!.digest }),
        expect.objectContaining({ repo: 'gap/two', tag: '2', digest: roots[1]!.digest }),
        expect.objectContaining({ repo: 'gap/multi', tag: '3', digest: roots[2]!.digest }),
      ]);
      const reg = await startRegistry({ storage: { filesystem: other } });
      try {
        const out = join(tempDir(), 'o');
        await skopeoCopy(`docker://${reg.host}/gap/multi:3`, `oci:${out}:x`, ['--all']);
        expect(refDigest(out, 'x')).toBe(roots[2]!.digest);
      } finally {
        await reg.stop();
      }
    }
    // Into one repository: each image under its tag.
    const one = tempDir();
    const r = await regbucketOk(['--store', one, '--json', 'push', `oci-archive:${bundle}`, 'mirror']);
    expect(r.json<{ images: { repo: string; tag: string }[] }>().images.map((i) => `${i.repo}:${i.tag}`)).toEqual(['mirror:1', 'mirror:2', 'mirror:3']);
  });

  it('referrers (a signature under its sha256-<hex> fallback tag) travel through a bundle and back', async () => {
    const src = join(work, 'ref-src');
    const w = new LayoutWriter(src);
    const root = await w.image({ ref: 'v1', layers: 1 });
    const sig = w.referrer(root);
    const fallback = w.add(
      'application/vnd.oci.image.index.v1+json',
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [w.desc(sig)] })),
    );
    const fallbackTag = `sha256-${root.digest.slice(7)}`;
    w.entries.push({ ...w.desc(fallback), annotations: { 'org.opencontainers.image.ref.name': fallbackTag } });
    w.write();
    const s = tempDir();
    await regbucketOk(['--store', s, 'push', `oci:${src}`, 'ref/img']);
    const revision = (store: string, repo: string, d: string): string => join(store, 'docker/registry/v2/repositories', repo, '_manifests/revisions/sha256', d.slice(7), 'link');
    expect(readFileSync(revision(s, 'ref/img', sig.digest), 'utf8')).toBe(sig.digest);
    for (const dest of [`oci-archive:${join(work, 'ref.tar')}`, `oci:${join(work, 'ref-layout')}`]) {
      await regbucketOk(['--store', s, 'pull', 'ref/img:v1', dest]);
      const back = tempDir();
      const r = await regbucketOk(['--store', back, '--json', 'push', dest, 'ref/back:v1']);
      expect(r.json<{ images: { digest: string }[] }>().images.map((i) => i.digest)).toEqual([root.digest]);
      expect(readFileSync(revision(back, 'ref/back', sig.digest), 'utf8')).toBe(sig.digest);
    }
  });

  it('several images into one docker-archive: skopeo reads each by name', async () => {
    const src = join(work, 'multi-da');
    await makeLayout(src, [
      { ref: 'x', layers: 1 },
      { ref: 'y', layers: 2 },
    ]);
    const s = tempDir();
    await regbucketOk(['--store', s, 'push', `oci:${src}:x`, 'da/x:1']);
    await regbucketOk(['--store', s, 'push', `oci:${src}:y`, 'da/y:2']);
    const f = join(work, 'two-images.tar');
    await regbucketOk(['--store', s, 'pull', 'da/x:1', 'da/y:2', `docker-archive:${f}`]);
    for (const [name, layers] of [
      ['da/x:1', 1],
      ['da/y:2', 2],
    ] as const) {
      expect((await diffIdsOf(`docker-archive:${f}:${name}`)).length).toBe(layers);
    }
    const back = await regbucketOk(['--store', tempDir(), '--json', 'push', `docker-archive:${f}`]);
    expect(back.json<{ images: { repo: string; tag: string }[] }>().images.map((i) => `${i.repo}:${i.tag}`)).toEqual(['da/x:1', 'da/y:2']);
  });

  it('a multi-arch image into a docker-archive: exit 2 without --platform, nothing written; one platform with it', async () => {
    const src = join(work, 'ma-src');
    await makeLayout(src, [{ ref: 'm', platforms: ['linux/amd64', 'linux/arm64'], layers: 1 }]);
    const s = tempDir();
    await regbucketOk(['--store', s, 'push', `oci:${src}:m`, 'ma/img:1']);
    const dir = tempDir();
    const f = join(dir, 'ma.tar');
    const r = await regbucket(['--store', s, 'pull', 'ma/img:1', `docker-archive:${f}`]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/one platform.*linux\/amd64, linux\/arm64.*--platform/);
    expect(readdirSync(dir)).toEqual([]);
    await regbucketOk(['--store', s, 'pull', '--platform', 'linux/arm64', 'ma/img:1', `docker-archive:${f}:renamed/img:9`]);
    const cfg = JSON.parse(await skopeo(['inspect', '--config', '--raw', `docker-archive:${f}:renamed/img:9`])) as { architecture: string };
    expect(cfg.architecture).toBe('arm64');
    expect(readdirSync(dir)).toEqual(['ma.tar']);
  });
});
