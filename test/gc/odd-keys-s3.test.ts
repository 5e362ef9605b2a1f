// S3 keys below repositories/ that no driver path can hold (a space, a `+`): the
// driver's walks skip them, but the registry's gc walks them (and aborts on such a repository
// name or link). regbucket's gc asks its walk for them and deletes no blob while one is there.
// (Swift cannot even list a key with a control character: ListObjectsV2 answers 500, and the gc
// fails with one line, having deleted nothing.)
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { runGc } from '../../src/gc/run.js';
import { blobExists } from '../../src/store/blobs.js';
import { freshS3Store, type S3TestStore } from '../lab/swift.js';
import { image, orphan } from './store-builder.js';

async function putRaw(s3: S3TestStore, key: string, body: string): Promise<void> {
  const c = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: s3.credentials.region, credentials: s3.credentials, requestChecksumCalculation: 'WHEN_REQUIRED' });
  try {
    await c.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
  } finally {
    c.destroy();
  }
}

describe('gc on S3 with keys no driver path can hold', () => {
  it.each([
    ['a repository name with a space', (hex: string) => `docker/registry/v2/repositories/bad name/_manifests/revisions/sha256/${hex}/link`],
    ['a revision directory with a character outside the path set', (hex: string) => `docker/registry/v2/repositories/app/_manifests/revisions/sha256/${hex}+x/link`],
  ])('%s: no blob is deleted, and the gc says why', async (_name, key) => {
    const s3 = await freshS3Store({ tag: 'gcoddkeys' });
    const d = s3.driver();
    try {
      await image(d, 'app', { tag: 'v1' });
      const o = await orphan(d);
      await putRaw(s3, key(o.slice(7)), o);
      const r = await runGc(d, { dryRun: false, deleteUntagged: true, minAgeMs: 0, uploadsOlderThanMs: 7 * 24 * 3_600_000, concurrency: 4, now: Date.now() + 60_000 });
      expect(r.warnings).toContainEqual(expect.objectContaining({ kind: 'unaddressable-repository' }));
      expect(await blobExists(d, o)).toBe(true);
    } finally {
      await d.close();
    }
  });
});
