import { createHash } from 'node:crypto';
import { RegbucketError } from '../errors.js';
import type { StorageDriver } from '../drivers/driver.js';
import { isDigest, type Digest } from '../image/digest.js';
import { linkContent, tagCurrentLinkPath } from './paths.js';
import { orIfNotFound } from '../util/not-found.js';

/** A link file whose content is not exactly `sha256:<64 lowercase hex>`. */
export class MalformedLinkError extends RegbucketError {
  constructor(
    readonly path: string,
    readonly content: string,
  ) {
    super(`malformed link ${path}: content ${JSON.stringify(content.slice(0, 80))} is not sha256:<64 hex>; run regbucket verify --fix`);
  }
}

/** Reads a link; undefined if it does not exist. Strict: the registry fails on anything else. */
export async function readLink(d: StorageDriver, path: string): Promise<Digest | undefined> {
  const buf = await orIfNotFound(() => d.getContent(path), undefined);
  if (!buf) return undefined;
  const s = buf.toString('latin1');
  if (!isDigest(s)) throw new MalformedLinkError(path, s);
  return s;
}

/**
 * Writes a link unless it already holds exactly this digest (a read is cheaper than a rewrite
 * on every backend, and it keeps repeated pushes write-free). Last writer wins.
 */
export async function writeLink(d: StorageDriver, path: string, digest: Digest): Promise<boolean> {
  try {
    if ((await readLink(d, path)) === digest) return false;
  } catch (err) {
    if (!(err instanceof MalformedLinkError)) throw err;
  }
  await d.putContent(path, linkContent(digest));
  return true;
}

/**
 * The ETag S3 lists for a link holding exactly `content` (a single-PUT object's ETag is the MD5
 * of its bytes): a listed link whose ETag matches needs no read.
 */
export function linkEtag(content: string): string {
  return createHash('md5').update(content).digest('hex');
}

/** What a tag's current link names now, for a re-check before a deletion: `malformed` when its content is not a digest link. */
export async function readTagCurrent(d: StorageDriver, repo: string, tag: string): Promise<Digest | undefined | 'malformed'> {
  try {
    return await readLink(d, tagCurrentLinkPath(repo, tag));
  } catch (err) {
    if (err instanceof MalformedLinkError) return 'malformed';
    throw err;
  }
}
