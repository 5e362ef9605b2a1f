import { randomUUID } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import { isNotFound, NotFoundError } from '../errors.js';
import type { FileInfo, StorageDriver } from '../drivers/driver.js';
import { DigestingStream, type Digest } from '../image/digest.js';
import type { Descriptor } from '../image/manifest.js';
import { storageNow } from './clock.js';
import { readLink, writeLink } from './links.js';
import { blobDataPath, layerLinkPath, uploadDataPath, uploadDir, uploadStartedAtPath } from './paths.js';

export interface BlobUploadResult {
  /** True when bytes were uploaded; false when the store had the blob already (only linked). */
  uploaded: boolean;
  bytes: number;
}

/**
 * The blob's data file, or undefined when there is none. A directory at the data path (on S3, a
 * `data/` "folder" marker object a console made, or keys below `data/`) is not a blob: the
 * registry cannot serve it either.
 */
export async function statBlob(d: StorageDriver, digest: Digest): Promise<FileInfo | undefined> {
  try {
    const st = await d.stat(blobDataPath(digest));
    return st.isDir ? undefined : st;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function blobExists(d: StorageDriver, digest: Digest): Promise<boolean> {
  return (await statBlob(d, digest)) !== undefined;
}

/** What the registry checks before serving a blob from a repo: the repo's layer link and the data. */
export async function isBlobLinked(d: StorageDriver, repo: string, digest: Digest): Promise<boolean> {
  const linked = await readLink(d, layerLinkPath(repo, digest));
  return linked === digest && (await blobExists(d, digest));
}

export async function linkBlob(d: StorageDriver, repo: string, digest: Digest): Promise<boolean> {
  return writeLink(d, layerLinkPath(repo, digest), digest);
}

export async function openBlob(d: StorageDriver, digest: Digest, offset = 0): Promise<Readable> {
  try {
    return await d.reader(blobDataPath(digest), offset);
  } catch (err) {
    if (isNotFound(err)) throw new NotFoundError(`blob ${digest} is not in the store (${blobDataPath(digest)})`);
    throw err;
  }
}

export async function readBlob(d: StorageDriver, digest: Digest): Promise<Buffer> {
  try {
    return await d.getContent(blobDataPath(digest));
  } catch (err) {
    if (isNotFound(err)) throw new NotFoundError(`blob ${digest} is not in the store (${blobDataPath(digest)})`);
    throw err;
  }
}

function rfc3339Now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A blob older than this gets its time refreshed when a write reuses it (see claimExisting). */
export const CLAIM_AFTER_MS = 60_000;

/**
 * True when the blob is in the store, about to gain a reference from the caller. A gc running
 * meanwhile may have planned to delete it (old and unreferenced when it looked); it checks each
 * blob's age (by the storage's clock) right before deleting it, so an old blob's time is
 * refreshed first (a filesystem: utimes; S3: a server-side copy onto itself):
 * the gc keeps it, or deleted it already and this answers false (write it again). Blobs younger
 * than a minute are left as they are (a repeated push writes nothing), which is why gc
 * --min-age below a minute is not safe with pushes running.
 */
async function claimExisting(d: StorageDriver, digest: Digest): Promise<boolean> {
  const st = await statBlob(d, digest);
  if (!st) return false;
  if (!d.touch || (await storageNow(d)) - st.modTime.getTime() < CLAIM_AFTER_MS) return true;
  try {
    await d.touch(blobDataPath(digest));
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/**
 * The registry's blob upload: bytes go to the repo's private `_uploads/<uuid>/data` (with
 * `startedat`), are hashed and counted as they flow, and only a blob whose digest and size check
 * out is moved to `blobs/`. Then the repo's layer link is written and the upload dir removed,
 * also on failure. A blob already in the store is never read from the source again: it is
 * linked (cross-repo mount).
 */
export async function uploadBlob(
  d: StorageDriver,
  repo: string,
  desc: Pick<Descriptor, 'digest' | 'size'>,
  open: () => Promise<Readable>,
  where = 'source',
): Promise<BlobUploadResult> {
  if (await claimExisting(d, desc.digest)) {
    await linkBlob(d, repo, desc.digest);
    return { uploaded: false, bytes: 0 };
  }
  const id = randomUUID();
  const dir = uploadDir(repo, id);
  try {
    await d.putContent(uploadStartedAtPath(repo, id), rfc3339Now());
    const source = await open();
    const hasher = new DigestingStream({ digest: desc.digest, size: desc.size, where });
    // pipeline() destroys both streams on an error in either; putStream sees it through hasher.
    pipeline(source, hasher, () => {});
    const bytes = await d.putStream(uploadDataPath(repo, id), hasher);
    hasher.check(desc.digest, desc.size, where);
    // Content-addressed: if another writer got there first the bytes are identical.
    if (!(await claimExisting(d, desc.digest))) await d.move(uploadDataPath(repo, id), blobDataPath(desc.digest));
    await linkBlob(d, repo, desc.digest);
    return { uploaded: true, bytes };
  } finally {
    await d.delete(dir).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }
}

/** Small content stored by digest directly (the registry's blobStore.Put, used for manifests). */
export async function putBlobContent(d: StorageDriver, digest: Digest, bytes: Buffer): Promise<boolean> {
  if (await claimExisting(d, digest)) return false;
  await d.putContent(blobDataPath(digest), bytes);
  return true;
}
