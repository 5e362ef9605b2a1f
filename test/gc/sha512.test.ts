// A layer pushed to registry 2.8.2 by its sha512 digest: the registry hashes it again, stores the
// data under its sha256 path and links both digests in the repository (`_layers/sha512/<hex>/link`
// holds the sha256 one), and serves the image. Its own garbage-collect marks the sha512 digest and
// would delete the sha256 blob, breaking the image. regbucket's gc keeps every blob the repository
// links (it does not read the alias links yet): the image is still served after it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { regbucket } from '../lab/cli.js';
import { registryGarbageCollect, startRegistry } from '../lab/registry.js';
import { hash, pushBlob, sha512Image } from '../lab/sha512.js';
import { skopeoCopy, tempDir } from '../lab/tools.js';

describe('a layer pushed by its sha512 digest (registry 2.8.2, filesystem)', () => {
  it('is served by the registry, and regbucket gc keeps its blob (the registry gc would not)', async () => {
    const store = tempDir('regbucket-sha512-');
    const reg = await startRegistry({ storage: { filesystem: store } });
    const layer = Buffer.from(`sha512 layer ${Math.random()}`.repeat(100));
    const { config, manifest, l512, l256 } = sha512Image(layer);
    let configPath: string;
    try {
      configPath = reg.configPath;
      await pushBlob(reg.host, 's5', layer, l512);
      await pushBlob(reg.host, 's5', config, hash('sha256', config));
      const put = await fetch(`http://${reg.host}/v2/s5/manifests/v1`, { method: 'PUT', body: new Uint8Array(manifest), headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
      expect(put.status, await put.text()).toBe(201);
      expect((await fetch(`http://${reg.host}/v2/s5/blobs/${l512}`)).status).toBe(200);
    } finally {
      await reg.stop();
    }
    const v2 = join(store, 'docker/registry/v2');
    const data = join(v2, 'blobs/sha256', l256.slice(7, 9), l256.slice(7), 'data');
    expect(existsSync(data)).toBe(true);
    expect(readFileSync(join(v2, 'repositories/s5/_layers/sha512', l512.slice(7), 'link'), 'utf8')).toBe(l256);

    // The registry's own gc would delete the layer it serves.
    const dry = await registryGarbageCollect(configPath, ['--dry-run']);
    expect(dry.stdout + dry.stderr).toContain(`blob eligible for deletion: ${l256}`);

    const gc = await regbucket(['--store', store, 'gc', '--delete-untagged', '--min-age', '0']);
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.stdout + gc.stderr).toContain('not a sha256 digest');
    expect(existsSync(data)).toBe(true);

    const again = await startRegistry({ storage: { filesystem: store } });
    try {
      await skopeoCopy(`docker://${again.host}/s5:v1`, `oci:${join(tempDir('regbucket-sha512-out-'), 'oci')}`);
    } finally {
      await again.stop();
    }
  }, 300_000);
});
