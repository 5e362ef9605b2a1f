// The S3 driver on a real S3 API (Swift, started once per run by test/lab/swift-setup.ts): the
// conformance suite with small multipart thresholds, with and without a key prefix.
import { freshS3Store } from '../lab/swift.js';
import { driverConformance } from './conformance.js';

const MiB = 1024 * 1024;
// Parts of 5 MiB (S3's minimum) and an 11 MiB object: three parts for uploads and copies.
// Listing pages and delete batches of 100 keys, so 250 files span several (Swift takes ~50 ms a PUT here).
const small = { partSize: 5 * MiB, multipartCopyThreshold: 1 * MiB, multipartCopyPartSize: 5 * MiB, pageSize: 100, deleteBatch: 100 };

driverConformance('s3 (prefix)', async () => {
  const s3 = await freshS3Store({ prefix: 'some/prefix', tag: 'conf' });
  return { driver: s3.driver(small), largeSize: 11 * MiB, manyFiles: 250 };
});

driverConformance('s3 (bucket root)', async () => {
  const s3 = await freshS3Store({ tag: 'confroot' });
  return { driver: s3.driver(small), largeSize: 11 * MiB, manyFiles: 250 };
});
