// Hostile OCI layouts and references: each gets a one-line error and exit 2, nothing appears at
// a final path of the store, and nothing outside the layout is read.
import { mkdirSync, readFileSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { regbucket } from '../lab/cli.js';
import { digestOf, makeLayout, type Blob } from '../lab/images.js';
import { filesUnder } from '../lab/files.js';
import { tempDir } from '../lab/tools.js';

async function expectRefused(args: string[], store: string, message: RegExp): Promise<void> {
  const r = await regbucket(['--store', store, ...args]);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  const visible = filesUnder(store).filter((f) => !f.includes('/_uploads/'));
  expect(visible).toEqual([]);
  expect(filesUnder(store).filter((f) => f.includes('/_uploads/'))).toEqual([]);
}

async function layout(): Promise<{ dir: string; root: Blob; blobs: Blob[] }> {
  const dir = join(tempDir(), 'layout');
  const { roots, writer } = await makeLayout(dir, [{ ref: 'x', layers: 2, layerSize: 2048 }]);
  return { dir, root: roots[0]!, blobs: [...writer.blobs.values()] };
}

function blobFile(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digest.slice(7));
}

/** Rewrites the image manifest through `edit`, and index.json to point at the new manifest. */
function rewriteManifest(dir: string, root: Blob, edit: (m: Record<string, unknown>) => unknown, raw?: Buffer): void {
  const bytes = raw ?? Buffer.from(JSON.stringify(edit(JSON.parse(root.bytes.toString()))));
  const d = digestOf(bytes);
  writeFileSync(blobFile(dir, d), bytes);
  const idx = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  idx.manifests[0].digest = d;
  idx.manifests[0].size = bytes.length;
  writeFileSync(join(dir, 'index.json'), JSON.stringify(idx));
}

describe('hostile OCI layouts', () => {
  it('refuses a blob that is a symlink to a file outside the layout, even one with the right bytes', async () => {
    const { dir, blobs } = await layout();
    const layer = blobs.find((b) => b.mediaType.includes('layer'))!;
    const outside = join(tempDir(), 'outside.bin');
    writeFileSync(outside, layer.bytes);
    unlinkSync(blobFile(dir, layer.digest));
    symlinkSync(outside, blobFile(dir, layer.digest));
    await expectRefused(['push', `oci:${dir}:x`, 'h/img:1'], tempDir(), /symlink/);
  });

  it('refuses a layout whose blobs directory is a symlink', async () => {
    const { dir } = await layout();
    const elsewhere = join(tempDir(), 'blobs');
    renameSync(join(dir, 'blobs'), elsewhere);
    symlinkSync(elsewhere, join(dir, 'blobs'));
    await expectRefused(['push', `oci:${dir}:x`, 'h/img:1'], tempDir(), /symbolic link: refusing to read it/);
  });

  it('refuses traversal in a descriptor digest', async () => {
    const { dir } = await layout();
    const idx = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
    idx.manifests[0].digest = 'sha256:../../../../etc/passwd';
    writeFileSync(join(dir, 'index.json'), JSON.stringify(idx));
    await expectRefused(['push', `oci:${dir}:x`, 'h/img:1'], tempDir(), /not a sha256 digest/);
  });

  it('refuses digests of another algorithm and malformed ones', async () => {
    // sha512 is an algorithm the registry takes (test/verify/sha512.test.ts): refused here only because the layout lacks the blob.
    const cases: [string, RegExp][] = [
      [`sha512:${'a'.repeat(128)}`, /blob sha512:a{128} is missing from the OCI layout/],
      [`md5:${'a'.repeat(32)}`, /not a sha256, sha384 or sha512 digest/],
      ['sha256:abc', /not a sha256, sha384 or sha512 digest/],
      [`sha256:${'A'.repeat(64)}`, /not a sha256, sha384 or sha512 digest/],
    ];
    for (const [bad, refusal] of cases) {
      const { dir, root } = await layout();
      rewriteManifest(dir, root, (m) => {
        (m.layers as { digest: string }[])[0]!.digest = bad;
        return m;
      });
      await expectRefused(['push', `oci:${dir}:x`, 'h/img:1'], tempDir(), refusal);
    }
  });

  it('refuses a manifest with an unknown media type', async () => {
    const { dir, root } = await layout();
    rewriteManifest(dir, root, (m) => ({ ...m, mediaType: 'application/x-evil' }));
    await expectRefused(['push', `oci:${dir}:x`, 'h/img:1'], tempDir(), /unknown media type/);
  });

  it('refuses sizes that lie, smaller and larger', async () => {
    for (const delta of [-1, 1]) {
      const { dir, root } = await layout();
      rewriteManifest(dir, root, (m) => {
        const l = (m.layers as { size: number }[])[0]!;
        l.size += delta;
        return m;
      });
      await expectRefused(['push', `oci:${dir}:x`, 'h/img:1'], tempDir(), /size mismatch/);
    }
  });

  it('refuses a manifest over 4 MiB without reading it into the store', async () => {
    const { dir, root } = await layout();
    const huge = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', pad: 'x'.repeat(5 * 1024 * 1024) }));
    rewriteManifest(dir, root, () => null, huge);
    await expectRefused(['push', `oci:${dir}:x`, 'h/img:1'], tempDir(), /too large|refused|more than the \d+ such a file can be/);
  });

  it('refuses manifests that are not JSON or not objects', async () => {
    for (const raw of ['{"schemaVersion":2,', '[1,2,3]', 'null', '{"schemaVersion":3}']) {
      const { dir, root } = await layout();
      rewriteManifest(dir, root, () => null, Buffer.from(raw));
      await expectRefused(['push', `oci:${dir}:x`, 'h/img:1'], tempDir(), /JSON|schemaVersion|object/);
    }
  });

  it('refuses an incomplete layout, naming the missing blob', async () => {
    const { dir, blobs } = await layout();
    const layer = blobs.find((b) => b.mediaType.includes('layer'))!;
    unlinkSync(blobFile(dir, layer.digest));
    await expectRefused(['push', `oci:${dir}:x`, 'h/img:1'], tempDir(), new RegExp(layer.digest));
  });

  it('refuses a directory that is not a layout, and an unknown image name', async () => {
    const empty = tempDir();
    mkdirSync(join(empty, 'x'));
    await expectRefused(['push', `oci:${empty}`, 'h/img:1'], tempDir(), /not an OCI image layout/);
    const { dir } = await layout();
    await expectRefused(['push', `oci:${dir}:nope`, 'h/img:1'], tempDir(), /no image named "nope"/);
  });
});

describe('hostile references', () => {
  const bad = ['../x', 'A/B', '/abs/path', 'repo:tag:x', `r:${'t'.repeat(129)}`, `r@sha256:${'a'.repeat(63)}`, 'a'.repeat(256)];
  it.each(bad)('push destination %j: exit 2, nothing written', async (ref) => {
    const { dir } = await layout();
    await expectRefused(['push', `oci:${dir}:x`, ref], tempDir(), /invalid|digest|repository name|characters/);
  });

  it('refuses unknown transports and store URLs', async () => {
    const { dir } = await layout();
    await expectRefused(['push', `nope:${dir}`, 'h/img:1'], tempDir(), /unsupported image location/);
    const r = await regbucket(['--store', 'gs://bucket', 'push', `oci:${dir}:x`, 'h/img:1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/gs:\/\/bucket/);
  });

  it('requires a store', async () => {
    const { dir } = await layout();
    const r = await regbucket(['push', `oci:${dir}:x`, 'h/img:1'], { REGBUCKET_STORE: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--store/);
  });
});
