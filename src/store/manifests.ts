import { DigestMismatchError, NotFoundError, ReferenceUnknownError } from '../errors.js';
import type { StorageDriver } from '../drivers/driver.js';
import { sha256, type Digest } from '../image/digest.js';
import { parseManifest, requiredBlobs, type ParsedManifest } from '../image/manifest.js';
import { isBlobLinked, putBlobContent, readBlob } from './blobs.js';
import { readLink, writeLink } from './links.js';
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
export async function putManifest(d: StorageDriver, repo: string, bytes: Buffer, expected?: Digest): Promise<PutManifestResult> {
  const digest = sha256(bytes);
  if (expected && expected !== digest) throw new DigestMismatchError(expected, digest, `manifest for ${repo}`);
  const manifest = parseManifest(bytes, `manifest ${digest}`);
  await checkReferences(d, repo, digest, manifest);
  let writes = 0;
  if (await putBlobContent(d, digest, bytes)) writes++;
  if (await writeLink(d, revisionLinkPath(repo, digest), digest)) writes++;
  return { digest, manifest, writes };
}

/** What the registry checks on a manifest PUT: every referenced blob linked, every child a revision. */
export async function checkReferences(d: StorageDriver, repo: string, digest: Digest, m: ParsedManifest): Promise<void> {
  for (const b of requiredBlobs(m)) {
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
