// Mirroring into S3 (Swift's S3 API): push docker:// into a bucket the real registry then serves,
// copy filesystem -> S3 -> filesystem moving only the blobs each destination lacks.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucketOk } from '../lab/cli.js';
import { digestOf, makeLayerTar, makeLayout } from '../lab/images.js';
import { startRegistry, type RunningRegistry } from '../lab/registry.js';
import { freshS3Store, type S3TestStore } from '../lab/swift.js';
import { skopeoInspectRaw, tempDir } from '../lab/tools.js';
import { seedRegistry } from './seed.js';

interface Stats {
  stats: { blobsUploaded: number; blobsSkipped: number; manifestsWritten: number };
  images: { digest: string }[];
}

describe('mirroring into an S3 store', () => {
  const stops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const s of stops) await s();
  });

  async function serveS3(s3: S3TestStore): Promise<RunningRegistry> {
    const r = await startRegistry({ storage: { s3: { endpoint: s3.endpoint, bucket: s3.bucket, rootdirectory: s3.prefix ? `/${s3.prefix}` : undefined, ...s3.credentials } } });
    stops.push(() => r.stop());
    return r;
  }

  let source: RunningRegistry;
  let digests: Map<string, string>;
  beforeAll(async () => {
    source = await startRegistry({ storage: { filesystem: tempDir() } });
    stops.push(() => source.stop());
    ({ digests } = await seedRegistry(source.host, {
      'lib/single:v1': { layers: 2 },
      'lib/multi:v1': { platforms: ['linux/amd64', 'linux/arm64'], layers: 2 },
    }));
  });

  it('push docker:// into a bucket: the registry serving it gives the same digests', async () => {
    const s3 = await freshS3Store({ prefix: 'mirror', tag: 'mirrorpush' });
    for (const name of digests.keys()) {
      const r = await regbucketOk([...s3.args, '--json', 'push', '--src-tls-verify=false', `docker://${source.host}/${name}`, name], s3.env);
      expect(r.json<Stats>().images[0]!.digest).toBe(digests.get(name));
    }
    const served = await serveS3(s3);
    for (const [name, digest] of digests) expect(digestOf(await skopeoInspectRaw(`docker://${served.host}/${name}`))).toBe(digest);
  });

  it('copy filesystem -> S3 -> filesystem moves only missing blobs', async () => {
    const fs = tempDir();
    const layout = join(tempDir(), 'layout');
    const shared = [await makeLayerTar(2048)];
    const { roots } = await makeLayout(layout, [
      { ref: 'v1', layers: 1, sharedLayers: shared },
      { ref: 'v2', layers: 1, sharedLayers: shared },
    ]);
    await regbucketOk(['--store', fs, 'push', `oci:${layout}:v1`, 'app:v1']);
    await regbucketOk(['--store', fs, 'push', `oci:${layout}:v2`, 'app:v2']);
    const s3 = await freshS3Store({ tag: 'mirrorcopy' });
    const endpoint = ['--s3-endpoint', s3.endpoint];

    // v1: shared layer, own layer, config.
    const first = await regbucketOk(['--store', fs, ...endpoint, '--json', 'copy', 'app:v1', '--to', s3.url], s3.env);
    expect(first.json<Stats>().stats).toMatchObject({ blobsUploaded: 3, blobsSkipped: 0, manifestsWritten: 1 });
    // The whole repository: only v2's own layer and config move; the shared layer is linked.
    const all = await regbucketOk(['--store', fs, ...endpoint, '--json', 'copy', '--all-tags', 'app', '--to', s3.url], s3.env);
    expect(all.json<Stats>().stats).toMatchObject({ blobsUploaded: 2, blobsSkipped: 1, manifestsWritten: 1 });
    const again = await regbucketOk(['--store', fs, ...endpoint, '--json', 'copy', '--all-tags', 'app', '--to', s3.url], s3.env);
    expect(again.json<Stats>().stats).toMatchObject({ blobsUploaded: 0, manifestsWritten: 0 });

    const served = await serveS3(s3);
    expect(digestOf(await skopeoInspectRaw(`docker://${served.host}/app:v1`))).toBe(roots[0]!.digest);
    expect(digestOf(await skopeoInspectRaw(`docker://${served.host}/app:v2`))).toBe(roots[1]!.digest);

    // And back out of the bucket into a new directory store, under another name.
    const back = tempDir();
    const out = await regbucketOk([...s3.args, '--json', 'copy', 'app:v2', '--to', back, 'copies/app:v2'], s3.env);
    expect(out.json<Stats>().stats).toMatchObject({ blobsUploaded: 3, manifestsWritten: 1 });
    const local = await startRegistry({ storage: { filesystem: back } });
    stops.push(() => local.stop());
    expect(digestOf(await skopeoInspectRaw(`docker://${local.host}/copies/app:v2`))).toBe(roots[1]!.digest);
  });
});
