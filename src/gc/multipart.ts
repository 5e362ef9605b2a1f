// S3 multipart uploads in flight under the store's prefix. The registry starts one for every
// blob upload (`_uploads/<id>/data`) and never aborts those a client abandons: buckets collect
// their parts forever unless a lifecycle rule aborts them. Backends without multipart uploads
// (filesystem, memory) do not have the capability (drivers/driver.ts).
import { hasMultipartUploads as hasMultipart, type StorageDriver } from '../drivers/driver.js';
import { ROOT } from '../store/paths.js';
import type { MultipartUpload } from './store-scan.js';

/** Every multipart upload in flight, or undefined when the backend has none. */
export async function multipartUploads(d: StorageDriver): Promise<MultipartUpload[] | undefined> {
  if (!hasMultipart(d)) return undefined;
  const out: MultipartUpload[] = [];
  // Only the registry's own: a bucket without a prefix may hold other applications' uploads.
  for await (const u of d.listMultipartUploads(ROOT)) out.push({ key: u.key, uploadId: u.uploadId, initiated: u.initiated.getTime() });
  return out;
}

/** The abort for a plan's multipart uploads, when the backend has them. */
export function multipartAborter(d: StorageDriver): ((u: MultipartUpload) => Promise<void>) | undefined {
  return hasMultipart(d) ? (u) => d.abortMultipartUpload(u.key, u.uploadId) : undefined;
}
