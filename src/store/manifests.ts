import { DigestMismatchError, NotFoundError, ReferenceUnknownError } from '../errors.js';
import type { StorageDriver } from '../drivers/driver.js';
import { sha256, type AnyDigest, type Digest } from '../image/digest.js';
import { parseManifest, requiredBlobs, type Descriptor, type ParsedManifest } from '../image/manifest.js';
import { isBlobLinked, linkedBlob, putBlobContent, readBlob, statBlob, type BlobWriteOptions } from './blobs.js';
import { MalformedLinkError, readLink, writeLink } from './links.js';
import { revisionLinkPath } from './paths.js';
import { executeDelete, planDelete } from './removal.js';

export interface PutManifestResult {
  digest: Digest;
  manifest: ParsedManifest;
  /** Files written (blob data, revision link): 0 when the repo had this manifest already. */
  writes: number;
}

export async function hasRevision(d: StorageDriver, repo: string, digest: Digest): Promise<boolean> {
  return (await readLink(d, revisionLinkPath(repo, digest))) === digest;
}

/**
 * The registry's manifest PUT by digest: checks what it references is in the repo (config and
 * layers linked, index children present as revisions), stores the bytes as a blob, writes the
 * revision link. Tagging is a separate step (tags.ts).
 */
export interface PutManifestOptions extends BlobWriteOptions {
  /** Blobs this process has just written or checked and linked in the repo: not looked up again. */
  linked?: ReadonlySet<AnyDigest>;
}

export async function putManifest(d: StorageDriver, repo: string, bytes: Buffer, expected?: Digest, opts: PutManifestOptions = {}): Promise<PutManifestResult> {
  const digest = sha256(bytes);
  if (expected && expected !== digest) throw new DigestMismatchError(expected, digest, `manifest for ${repo}`);
  const manifest = parseManifest(bytes, `manifest ${digest}`);
  await checkReferences(d, repo, digest, manifest, opts.linked);
  let writes = 0;
  // A revision link whose manifest blob is missing or damaged gets the blob back here.
  if (await putBlobContent(d, digest, bytes, opts)) writes++;
  if (await writeLink(d, revisionLinkPath(repo, digest), digest)) writes++;
  return { digest, manifest, writes };
}

/** What the registry checks on a manifest PUT: every referenced blob linked, every child a revision. */
export async function checkReferences(d: StorageDriver, repo: string, digest: Digest, m: ParsedManifest, linked?: ReadonlySet<AnyDigest>): Promise<void> {
  for (const b of requiredBlobs(m)) {
    if (linked?.has(b.digest)) continue;
    if (!(await isBlobLinked(d, repo, b.digest))) {
      throw new ReferenceUnknownError(`manifest ${digest} references blob ${b.digest}, which repository ${repo} does not have: push the blob first`);
    }
  }
  for (const c of m.manifests) {
    if (!(await hasRevision(d, repo, c.digest))) {
      throw new ReferenceUnknownError(`index ${digest} references manifest ${c.digest}, which repository ${repo} does not have: push the child manifests first`);
    }
  }
}

/** A link's digest; undefined when it is missing or malformed (a write puts it right). */
async function readLinkLenient(d: StorageDriver, path: string): Promise<Digest | undefined> {
  try {
    return await readLink(d, path);
  } catch (err) {
    if (err instanceof MalformedLinkError) return undefined;
    throw err;
  }
}

/**
 * True when the repo has this manifest as a revision with its blob in place (the descriptor's
 * size), and, for an image manifest, every blob it needs linked with the size it gives: what a
 * write may skip. An index's children are the caller's to check, one by one.
 */
export async function hasIntactManifest(d: StorageDriver, repo: string, desc: Pick<Descriptor, 'digest' | 'size'>, m: ParsedManifest): Promise<boolean> {
  if ((await readLinkLenient(d, revisionLinkPath(repo, desc.digest))) !== desc.digest) return false;
  if ((await statBlob(d, desc.digest))?.size !== desc.size) return false;
  for (const b of requiredBlobs(m)) {
    const target = await linkedBlob(d, repo, b.digest);
    if (!target) return false;
    const st = await statBlob(d, target);
    if (!st || (b.size >= 0 && st.size !== b.size)) return false;
  }
  return true;
}

/** Raw manifest bytes of a revision in a repo. */
export async function getManifest(d: StorageDriver, repo: string, digest: Digest): Promise<Buffer> {
  if (!(await hasRevision(d, repo, digest))) throw new NotFoundError(`manifest ${digest} is not in repository ${repo}`);
  return readBlob(d, digest);
}

export interface DeleteManifestResult {
  digest: Digest;
  untagged: string[];
}

/**
 * The registry's DELETE of a manifest by digest: removes the revision link and every tag whose
 * current link names the manifest (removal.ts, without refusing: the registry does not).
 */
export async function deleteManifest(d: StorageDriver, repo: string, digest: Digest, dryRun = false): Promise<DeleteManifestResult> {
  const plan = await planDelete(d, [{ repo, digest }], { force: true, concurrency: 8 });
  if (!dryRun) await executeDelete(d, plan);
  return { digest, untagged: plan.manifests[0]!.untag };
}
