import { createHash, randomUUID } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import { onInterrupt } from '../util/interrupt.js';
import { isNotFound, NotFoundError } from '../errors.js';
import type { FileInfo, StorageDriver } from '../drivers/driver.js';
import { DigestingStream, hexOf, isDigest, parseDigest, type Algorithm, type AnyDigest, type Digest } from '../image/digest.js';
import type { BlobDescriptor } from '../image/manifest.js';
import { storageNow } from './clock.js';
import { waitForNotices } from './deletion-notices.js';
import { MalformedLinkError, readLink, writeLink } from './links.js';
import { blobDataPath, layerLinkPath, linkContent, uploadDataPath, uploadDir, uploadStartedAtPath } from './paths.js';
import { ignoreNotFound, orIfNotFound } from '../util/not-found.js';

export interface BlobUploadResult {
  /** True when bytes were uploaded; false when the store had the blob already (only linked). */
  uploaded: boolean;
  bytes: number;
  /** Set when the store had a damaged copy that the upload replaced. */
  replaced?: 'wrong-size' | 'corrupt';
}

/**
 * The blob's data file, or undefined when there is none. A directory at the data path (on S3, a
 * `data/` "folder" marker object a console made, or keys below `data/`) is not a blob: the
 * registry cannot serve it either.
 */
export async function statBlob(d: StorageDriver, digest: Digest): Promise<FileInfo | undefined> {
  const st = await orIfNotFound(() => (d.statFile ?? d.stat).call(d, blobDataPath(digest)), undefined);
  return st?.isDir ? undefined : st;
}

export async function blobExists(d: StorageDriver, digest: Digest): Promise<boolean> {
  return (await statBlob(d, digest)) !== undefined;
}

/**
 * The sha256 digest the repository's link for `digest` names, as registry 2.8.2 resolves it
 * (linkedblobstore.go Stat): a sha256 link must hold its own digest; an alias link
 * (`_layers/sha512/<hex>/link`) holds the sha256 digest the blob is stored under. Undefined when
 * there is no such link, or it holds something else (a malformed link, an alias linked to itself).
 */
export async function linkedBlob(d: StorageDriver, repo: string, digest: AnyDigest): Promise<Digest | undefined> {
  let linked: Digest | undefined;
  try {
    linked = await readLink(d, layerLinkPath(repo, digest));
  } catch (err) {
    if (err instanceof MalformedLinkError) return undefined;
    throw err;
  }
  return isDigest(digest) && linked !== digest ? undefined : linked;
}

/** What the registry checks before serving a blob from a repo: the repo's layer link and the data. */
export async function isBlobLinked(d: StorageDriver, repo: string, digest: AnyDigest): Promise<boolean> {
  const target = isDigest(digest) ? ((await readLink(d, layerLinkPath(repo, digest))) === digest ? digest : undefined) : await linkedBlob(d, repo, digest);
  return target !== undefined && (await blobExists(d, target));
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

/** A blob older than this gets its time refreshed when a write reuses it (see checkExisting). */
export const CLAIM_AFTER_MS = 60_000;

/** What a write found in the store for a blob it is about to reference. */
export type ExistingBlob = 'absent' | 'intact' | 'wrong-size' | 'corrupt';

export interface BlobWriteOptions {
  /** Re-hash a blob the store has already and replace it if its bytes do not match (push --repair). */
  rehash?: boolean;
}

/** sha256 (or `algorithm`) of a stored blob, streamed. */
export async function hashStoredBlob(d: StorageDriver, digest: Digest, algorithm: Algorithm = 'sha256'): Promise<AnyDigest | undefined> {
  const src = await orIfNotFound(() => d.reader(blobDataPath(digest)), undefined);
  if (!src) return undefined;
  const h = createHash(algorithm);
  for await (const chunk of src) h.update(chunk as Buffer);
  return `${algorithm}:${h.digest('hex')}` as AnyDigest;
}

/**
 * The store's copy of a blob about to gain a reference from the caller: absent, intact (the
 * size the descriptor gives; with `rehash`, also the bytes), or damaged. A damaged copy is
 * re-written from the source like an absent one: "the file exists" is not "the blob is there".
 * A gc running meanwhile may have planned to delete an intact copy (old and unreferenced when it
 * looked); it checks each blob's age (by the storage's clock) right before deleting it, so an old
 * blob's time is refreshed first (a filesystem: utimes; S3: a server-side copy onto itself): the
 * gc keeps it, or deleted it already and this answers 'absent' (write it again). Blobs younger
 * than a minute are left as they are (a repeated push writes nothing), which is why gc
 * --min-age below a minute is not safe with pushes running.
 */
export async function checkExisting(d: StorageDriver, digest: Digest, size: number, opts: BlobWriteOptions = {}): Promise<ExistingBlob> {
  const st = await statBlob(d, digest);
  if (!st) return 'absent';
  if (size >= 0 && st.size !== size) return 'wrong-size';
  if (opts.rehash) {
    const actual = await hashStoredBlob(d, digest);
    if (actual === undefined) return 'absent';
    if (actual !== digest) return 'corrupt';
  }
  if (!d.touch || (await storageNow(d)) - st.modTime.getTime() < CLAIM_AFTER_MS) return 'intact';
  const touch = d.touch.bind(d);
  if ((await orIfNotFound(() => touch(blobDataPath(digest)), 'absent')) === 'absent') return 'absent';
  if (!d.prefersFlatListing) return 'intact';
  // S3: a gc may have read the old time just before the touch and be about to delete the blob;
  // once no gc notice names it, the blob is either still there (and kept) or gone (store/deletion-notices.ts).
  await waitForNotices(d, hexOf(parseDigest(digest)));
  return (await statBlob(d, digest)) ? 'intact' : 'absent';
}

/**
 * Blobs up to this size are read whole into memory, checked, and written to `blobs/` in one
 * atomic put (what the registry does for manifests): three storage round trips instead of an
 * upload directory's eight or more. Memory: this times the copy's concurrency, at most.
 */
export const SMALL_BLOB_BYTES = 1024 * 1024;

/** The bytes of a source stream, checked against the descriptor (size bounded as they flow). */
async function readChecked(source: Readable, desc: Pick<BlobDescriptor, 'digest' | 'size'>, where: string): Promise<{ data: Buffer; stored: Digest }> {
  const hasher = new DigestingStream({ digest: desc.digest, size: desc.size, where });
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    hasher.on('data', (c: Buffer) => chunks.push(c));
    hasher.on('end', resolve);
    hasher.on('error', reject);
  });
  pipeline(source, hasher, () => {});
  await done;
  hasher.check(desc.digest, desc.size, where);
  return { data: Buffer.concat(chunks), stored: hasher.digest() };
}

/**
 * The registry's blob upload: bytes go to the repo's private `_uploads/<uuid>/data` (with
 * `startedat`), are hashed and counted as they flow, and only a blob whose digest and size check
 * out is moved to `blobs/` (over a damaged copy, if there was one). Then the repo's layer link is
 * written and the upload dir removed, also on failure. Small blobs skip the upload directory:
 * checked in memory, then put in place in one atomic write. An intact blob already in the store
 * is never read from the source again: it is linked (cross-repo mount).
 *
 * A blob named by a sha384 or sha512 digest is stored as registry 2.8.2 stores it
 * (blobwriter.go validateBlob, linkedblobstore.go linkBlob): checked against that digest, filed
 * under its sha256 digest, and linked in the repo by both (the alias link holds the sha256 one).
 */
export async function uploadBlob(
  d: StorageDriver,
  repo: string,
  desc: Pick<BlobDescriptor, 'digest' | 'size'>,
  open: () => Promise<Readable>,
  where = 'source',
  opts: BlobWriteOptions = {},
): Promise<BlobUploadResult> {
  const alias = isDigest(desc.digest) ? undefined : desc.digest;
  // An alias is known by the repo's link only; --repair re-reads it from the source.
  const known = alias ? (opts.rehash ? undefined : await linkedBlob(d, repo, alias)) : (desc.digest as Digest);
  const existing = known ? await checkExisting(d, known, desc.size, opts) : 'absent';
  if (existing === 'intact') {
    await linkBlob(d, repo, known!);
    return { uploaded: false, bytes: 0 };
  }
  let bytes: number;
  let stored: Digest;
  if (desc.size >= 0 && desc.size <= SMALL_BLOB_BYTES) {
    const checked = await readChecked(await open(), desc, where);
    stored = checked.stored;
    await d.putContent(blobDataPath(stored), checked.data);
    bytes = checked.data.length;
  } else ({ bytes, stored } = await uploadThroughDir(d, repo, desc, open, where));
  // A blob that was absent cannot have had a valid link to check: write it without reading it.
  if (existing === 'absent' && !alias) await d.putContent(layerLinkPath(repo, stored), linkContent(stored));
  else await linkBlob(d, repo, stored);
  if (alias) await writeLink(d, layerLinkPath(repo, alias), stored);
  return existing === 'absent' ? { uploaded: true, bytes } : { uploaded: true, bytes, replaced: existing };
}

/** Upload to the repo's private `_uploads/<uuid>/`, check, move into place; the dir removed after. */
async function uploadThroughDir(
  d: StorageDriver,
  repo: string,
  desc: Pick<BlobDescriptor, 'digest' | 'size'>,
  open: () => Promise<Readable>,
  where: string,
): Promise<{ bytes: number; stored: Digest }> {
  const id = randomUUID();
  const dir = uploadDir(repo, id);
  // Interrupted (Ctrl-C), the run removes its own upload before it exits.
  const untrack = onInterrupt(() => d.delete(dir));
  try {
    await d.putContent(uploadStartedAtPath(repo, id), rfc3339Now());
    const source = await open();
    const hasher = new DigestingStream({ digest: desc.digest, size: desc.size, where });
    // pipeline() destroys both streams on an error in either; putStream sees it through hasher.
    pipeline(source, hasher, () => {});
    const bytes = await d.putStream(uploadDataPath(repo, id), hasher);
    hasher.check(desc.digest, desc.size, where);
    // Content-addressed: if another writer got there first the bytes are identical, and a
    // damaged copy is what this replaces; so the move never needs to look first.
    const stored = hasher.digest();
    await d.move(uploadDataPath(repo, id), blobDataPath(stored));
    return { bytes, stored };
  } finally {
    // Where directories are only key prefixes (S3), the two files are the whole directory: one
    // batch delete instead of a listing of the prefix and then the delete.
    // Untracked only once removed: a signal arriving during this removal has the interrupt
    // steps wait for it (a second delete of the same directory), instead of exiting under it.
    const gone = d.prefersFlatListing ? d.deleteFiles([uploadStartedAtPath(repo, id), uploadDataPath(repo, id)]) : d.delete(dir);
    await ignoreNotFound(() => gone).finally(untrack);
  }
}

/** Small content stored by digest directly (the registry's blobStore.Put, used for manifests). */
export async function putBlobContent(d: StorageDriver, digest: Digest, bytes: Buffer, opts: BlobWriteOptions = {}): Promise<boolean> {
  if ((await checkExisting(d, digest, bytes.length, opts)) === 'intact') return false;
  await d.putContent(blobDataPath(digest), bytes);
  return true;
}
