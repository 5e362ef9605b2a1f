// S3 interop on a real S3 API (Swift): what regbucket writes into a bucket, the real registry
// (its s3 driver, rootdirectory = the store URL's prefix) serves and skopeo pulls, digest for
// digest; what the registry wrote there through skopeo, regbucket pulls, verifies and
// garbage-collects (orphan blobs and multipart uploads in flight) without breaking a tag.
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { makeLayout, refDigest } from '../lab/images.js';
import { startProxy } from '../lab/proxy.js';
import { startRegistry, type RunningRegistry } from '../lab/registry.js';
import { expectPulledBack, expectServed } from '../lab/served.js';
import { freshS3Store, type S3TestStore } from '../lab/swift.js';
import { skopeoCopy, tempDir, umociImage } from '../lab/tools.js';

const SLOW = 300_000;

function registryOn(s3: S3TestStore): Promise<RunningRegistry> {
  return startRegistry({ storage: { s3: { endpoint: s3.endpoint, bucket: s3.bucket, rootdirectory: `/${s3.prefix}`, ...s3.credentials } } });
}

function cli(s3: S3TestStore, args: string[]) {
  return regbucketOk([...s3.args, ...args], s3.env);
}

describe('S3 store written by regbucket, served by the real registry', () => {
  let s3: S3TestStore;
  let registry: RunningRegistry;

  beforeAll(async () => {
    s3 = await freshS3Store({ prefix: 'reg/store', tag: 'push' });
    registry = await registryOn(s3);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it(
    'serves an umoci image pushed by regbucket with the same manifest digest',
    async () => {
      const src = join(tempDir(), 'layout');
      await umociImage(src, 'v1', 3);
      const expected = refDigest(src, 'v1');
      const push = await cli(s3, ['--json', 'push', `oci:${src}:v1`, 'team/app:v1']);
      expect(push.json<{ images: { digest: string }[] }>().images[0]!.digest).toBe(expected);
      expect(push.stderr).toBe('');
      await expectServed(registry.host, 'team/app:v1', expected);
    },
    SLOW,
  );

  it(
    'serves a two-platform index, every child, to skopeo copy --all; a second push writes no blob',
    async () => {
      const src = join(tempDir(), 'layout');
      const { roots } = await makeLayout(src, [{ ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 2 }]);
      const first = await cli(s3, ['--json', 'push', `oci:${src}:multi`, 'team/multi:2']);
      expect(first.json<{ stats: { blobsUploaded: number } }>().stats.blobsUploaded).toBe(6);
      await expectServed(registry.host, 'team/multi:2', roots[0]!.digest, ['linux/amd64', 'linux/arm64']);
      // The second push through a counting proxy: reads only, not one write request.
      const proxy = await startProxy({ target: s3.endpoint });
      try {
        const again = await regbucketOk(['--store', s3.url, '--s3-endpoint', proxy.url, '--json', 'push', `oci:${src}:multi`, 'team/multi:2'], s3.env);
        expect(again.json<{ stats: { blobsUploaded: number; manifestsWritten: number } }>().stats).toMatchObject({ blobsUploaded: 0, manifestsWritten: 0 });
        const writes = Object.keys(proxy.counts()).filter((k) => !/^(GET|HEAD) /.test(k));
        expect(writes).toEqual([]);
        expect(proxy.total()).toBeGreaterThan(0);
      } finally {
        await proxy.stop();
      }
    },
    SLOW,
  );
});

describe('S3 store written by the real registry, read, verified and collected by regbucket', () => {
  let s3: S3TestStore;
  let registry: RunningRegistry | undefined;
  let roots: { digest: string }[];

  beforeAll(async () => {
    s3 = await freshS3Store({ prefix: 'registry', tag: 'pull' });
    registry = await registryOn(s3);
    const src = join(tempDir(), 'layout');
    ({ roots } = await makeLayout(src, [
      { ref: 'single', layers: 3 },
      { ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 2 },
    ]));
    await skopeoCopy(`oci:${src}:single`, `docker://${registry.host}/up/single:1`);
    await skopeoCopy(`oci:${src}:multi`, `docker://${registry.host}/up/multi:1`, ['--all']);
  }, SLOW);
  afterAll(async () => {
    await registry?.stop();
  });

  it(
    'pulls single and multi-arch images skopeo pushed into layouts skopeo accepts, same digests',
    async () => {
      await expectPulledBack((args) => cli(s3, args), roots);
    },
    SLOW,
  );

  it(
    'verifies clean (exit 0)',
    async () => {
      const r = await regbucket([...s3.args, '--json', 'verify'], s3.env);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.json<{ problems: number }>().problems).toBe(0);
    },
    SLOW,
  );

  it(
    'gc deletes an orphan blob and a multipart upload in flight; the registry still serves every tag',
    async () => {
      // An orphan blob, written where the registry keeps blobs; a multipart upload a client abandoned.
      const orphan = randomBytes(2048);
      const hex = createHash('sha256').update(orphan).digest('hex');
      const d = s3.driver();
      const orphanPath = `/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
      await d.putContent(orphanPath, orphan);
      const client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: s3.credentials.region, credentials: s3.credentials, requestChecksumCalculation: 'WHEN_REQUIRED' });
      try {
        const key = `${s3.prefix}/docker/registry/v2/repositories/up/single/_uploads/0f6e1c9e-1b0b-4c2e-9a57-3d1f2f0f4a11/data`;
        const mp = await client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: key }));
        // Swift rounds times up to the whole second: until then the orphan and the upload look
        // younger than --min-age 0 (a time in the future), and gc rightly keeps them.
        let latest = (await d.stat(orphanPath)).modTime.getTime();
        for await (const u of d.listMultipartUploads()) latest = Math.max(latest, u.initiated.getTime());
        await d.close();
        while (Date.now() <= latest) await new Promise((r) => setTimeout(r, 50));
        await registry!.stop();
        registry = undefined;

        const r = await cli(s3, ['--json', 'gc', '--min-age', '0', '--uploads-older-than', '0']);
        const rep = r.json<{ deleted: { blobs: number; multipartUploads: number }; lists: { blobs: { digest: string }[]; multipartUploads: { key: string; uploadId: string }[] } }>();
        expect(rep.lists.blobs.map((b) => b.digest)).toEqual([`sha256:${hex}`]);
        expect(rep.deleted.blobs).toBe(1);
        expect(rep.lists.multipartUploads).toEqual([
          expect.objectContaining({ key: `/docker/registry/v2/repositories/up/single/_uploads/0f6e1c9e-1b0b-4c2e-9a57-3d1f2f0f4a11/data`, uploadId: mp.UploadId }),
        ]);
        expect(rep.deleted.multipartUploads).toBe(1);
        const left = await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }));
        expect(left.Uploads ?? []).toEqual([]);
      } finally {
        client.destroy();
      }

      registry = await registryOn(s3);
      for (const [tag, root] of [
        ['up/single:1', roots[0]!],
        ['up/multi:1', roots[1]!],
      ] as const) {
        const out = join(tempDir(), 'after-gc');
        await skopeoCopy(`docker://${registry.host}/${tag}`, `oci:${out}:x`, ['--all']);
        expect(refDigest(out, 'x')).toBe(root.digest);
      }
      const v = await regbucket([...s3.args, 'verify'], s3.env);
      expect(v.code).toBe(0);
    },
    SLOW,
  );
});
