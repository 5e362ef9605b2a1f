// What regbucket writes, the real registry serves and skopeo pulls, digest for digest; what the
// registry wrote (through skopeo), regbucket reads.
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { digestOf, makeLayout, refDigest } from '../lab/images.js';
import { startRegistry, type RunningRegistry } from '../lab/registry.js';
import { skopeoCopy, skopeoInspectRaw, tempDir, umociImage } from '../lab/tools.js';
import { runOk } from '../lab/exec.js';
import { expectPulledBack, expectServed } from '../lab/served.js';

/** Every file below dir with its inode and mtime: a write of any kind changes this. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) visit(p);
      else {
        const st = statSync(p, { bigint: true });
        out.set(relative(dir, p), `${st.ino}:${st.mtimeNs}:${st.size}`);
      }
    }
  };
  visit(dir);
  return out;
}

describe('filesystem store written by regbucket, served by the real registry', () => {
  let store: string;
  let registry: RunningRegistry;

  beforeAll(async () => {
    store = tempDir();
    registry = await startRegistry({ storage: { filesystem: store } });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('serves an umoci image pushed by regbucket with the same manifest digest', async () => {
    const src = join(tempDir(), 'layout');
    await umociImage(src, 'v1', 3);
    const expected = refDigest(src, 'v1');
    const push = await regbucketOk(['--store', store, '--json', 'push', `oci:${src}:v1`, 'team/app:v1']);
    expect(push.json<{ images: { digest: string }[] }>().images[0]!.digest).toBe(expected);
    await expectServed(registry.host, 'team/app:v1', expected);
  });

  it('serves a two-platform index, every child, to skopeo copy --all', async () => {
    const src = join(tempDir(), 'layout');
    const { roots } = await makeLayout(src, [{ ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 2 }]);
    await regbucketOk(['--store', store, 'push', `oci:${src}:multi`, 'team/multi:2']);
    await expectServed(registry.host, 'team/multi:2', roots[0]!.digest, ['linux/amd64', 'linux/arm64']);
  });

  it('pushing the same image again writes nothing', async () => {
    const src = join(tempDir(), 'layout');
    await makeLayout(src, [{ ref: 'r', platforms: ['linux/amd64', 'linux/arm64'], layers: 2 }]);
    const first = await regbucketOk(['--store', store, '--json', 'push', `oci:${src}:r`, 'again/img:r']);
    expect(first.json<{ stats: { blobsUploaded: number } }>().stats.blobsUploaded).toBe(6);
    const before = snapshot(store);
    const second = await regbucketOk(['--store', store, '--json', 'push', `oci:${src}:r`, 'again/img:r']);
    expect(second.json<{ stats: { blobsUploaded: number; manifestsWritten: number } }>().stats).toMatchObject({ blobsUploaded: 0, manifestsWritten: 0 });
    expect(snapshot(store)).toEqual(before);
  });

  it('pushing into another repo links blobs instead of copying them', async () => {
    const src = join(tempDir(), 'layout');
    await makeLayout(src, [{ ref: 'r', layers: 2 }]);
    await regbucketOk(['--store', store, 'push', `oci:${src}:r`, 'mount/one:r']);
    const r = await regbucketOk(['--store', store, '--json', 'push', `oci:${src}:r`, 'mount/two:r']);
    expect(r.json<{ stats: { blobsUploaded: number; blobsSkipped: number } }>().stats).toMatchObject({ blobsUploaded: 0, blobsSkipped: 3 });
    const served = await skopeoInspectRaw(`docker://${registry.host}/mount/two:r`);
    expect(served.length).toBeGreaterThan(0);
    const out = join(tempDir(), 'out');
    await skopeoCopy(`docker://${registry.host}/mount/two:r`, `oci:${out}:r`);
  });

  it('refuses a source blob whose bytes do not match its digest: exit 2, nothing at a final path', async () => {
    const src = join(tempDir(), 'layout');
    const { writer } = await makeLayout(src, [{ ref: 'bad', layers: 1, layerSize: 4096 }]);
    const layer = [...writer.blobs.values()].find((b) => b.mediaType.includes('layer'))!;
    const file = join(src, 'blobs', 'sha256', layer.digest.slice(7));
    const bytes = readFileSync(file);
    bytes[100]! ^= 0xff;
    writeFileSync(file, bytes);
    const fresh = tempDir();
    const r = await regbucket(['--store', fresh, 'push', `oci:${src}:bad`, 'bad/img:1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(layer.digest);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const files = [...snapshot(fresh).keys()];
    expect(files.filter((f) => f.includes(layer.digest.slice(7)))).toEqual([]);
    expect(files.filter((f) => f.includes('/_uploads/') || f.includes('/_manifests/'))).toEqual([]);
  });
});

describe('filesystem store written by the real registry, read by regbucket', () => {
  let store: string;
  let registry: RunningRegistry;

  beforeAll(async () => {
    store = tempDir();
    registry = await startRegistry({ storage: { filesystem: store } });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('pulls single and multi-arch images skopeo pushed, into layouts skopeo and umoci accept', async () => {
    const src = join(tempDir(), 'layout');
    const { roots } = await makeLayout(src, [
      { ref: 'single', layers: 3 },
      { ref: 'multi', platforms: ['linux/amd64', 'linux/arm64', 'linux/arm/v7'], layers: 2 },
    ]);
    await skopeoCopy(`oci:${src}:single`, `docker://${registry.host}/up/single:1`);
    await skopeoCopy(`oci:${src}:multi`, `docker://${registry.host}/up/multi:1`, ['--all']);

    const out = await expectPulledBack((args) => regbucketOk(['--store', store, ...args]), roots);
    const bundle = join(tempDir(), 'bundle');
    await runOk('umoci', ['unpack', '--rootless', '--image', `${out}:single`, bundle]);
    expect(readdirSync(join(bundle, 'rootfs')).length).toBe(3);
  });

  it('keeps Docker media types and digests when pulling a Docker image into a layout', async () => {
    // skopeo 1.9 itself can only put Docker manifests into a layout by converting them (a new
    // digest); regbucket keeps the bytes, so a mirror through a layout keeps every digest.
    const src = join(tempDir(), 'layout');
    const { roots } = await makeLayout(src, [{ ref: 'd', platforms: ['linux/amd64', 'linux/arm64'], layers: 1, docker: true }]);
    await regbucketOk(['--store', store, 'push', `oci:${src}:d`, 'up/docker:1']);
    const served = await skopeoInspectRaw(`docker://${registry.host}/up/docker:1`);
    expect(digestOf(served)).toBe(roots[0]!.digest);
    const out = join(tempDir(), 'pulled');
    await regbucketOk(['--store', store, 'pull', 'up/docker:1', `oci:${out}:d`]);
    expect(refDigest(out, 'd')).toBe(roots[0]!.digest);
    const again = tempDir();
    await regbucketOk(['--store', again, 'push', `oci:${out}:d`, 'up/docker:1']);
    const r = await regbucketOk(['--store', again, '--json', 'pull', 'up/docker:1', `oci:${join(tempDir(), 'x')}`]);
    expect(r.json<{ images: { digest: string }[] }>().images.map((i) => i.digest)).toEqual([roots[0]!.digest]);
  });

  it('pulls by digest', async () => {
    const src = join(tempDir(), 'layout');
    const { roots } = await makeLayout(src, [{ ref: 'x', layers: 1 }]);
    await skopeoCopy(`oci:${src}:x`, `docker://${registry.host}/up/bydigest:x`);
    const out = join(tempDir(), 'pulled');
    await regbucketOk(['--store', store, 'pull', `up/bydigest@${roots[0]!.digest}`, `oci:${out}:named`]);
    expect(refDigest(out, 'named')).toBe(roots[0]!.digest);
  });
});
