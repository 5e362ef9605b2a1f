import { basename } from '../drivers/driver.js';
import { isNotFound, NotFoundError } from '../errors.js';
import type { StorageDriver } from '../drivers/driver.js';
import type { Digest } from '../image/digest.js';
import { isTag } from '../image/reference.js';
import { MalformedLinkError, readLink, writeLink } from './links.js';
import { tagNotFound } from './suggest.js';
import { revisionLinkPath, tagCurrentLinkPath, tagDir, tagIndexLinkPath, tagsDir } from './paths.js';
import { orIfNotFound } from '../util/not-found.js';

/** Tags of a repository, sorted: every directory under `_manifests/tags/`, as the registry lists them. */
export async function listTags(d: StorageDriver, repo: string): Promise<string[]> {
  return (await orIfNotFound(() => d.list(tagsDir(repo)), [])).map(basename).filter(isTag);
}

export async function resolveTag(d: StorageDriver, repo: string, tag: string): Promise<Digest> {
  const digest = await readLink(d, tagCurrentLinkPath(repo, tag));
  if (!digest) throw await tagNotFound(d, repo, tag);
  return digest;
}

/**
 * The registry's tag write (manifest PUT by tag): the manifest must be a revision of the repo;
 * the tag's history entry is written first, then `current` (last writer wins).
 * A tag that does not exist yet gets `current` first: any file under `tags/<tag>/` lists the
 * tag, so a write cut short between the two links (kill -9, a storage error) must leave a tag
 * that resolves (only its history entry missing), never one that is listed but answers 404.
 * Returns the number of files written.
 */
export async function tagManifest(d: StorageDriver, repo: string, tag: string, digest: Digest): Promise<number> {
  if ((await readLink(d, revisionLinkPath(repo, digest))) !== digest) {
    throw new NotFoundError(`manifest ${digest} is not in repository ${repo}: push it before tagging`);
  }
  const current = tagCurrentLinkPath(repo, tag);
  const isNew =
    (await readLink(d, current).catch((err: unknown) => {
      if (err instanceof MalformedLinkError) return undefined; // no tag a client can resolve either
      throw err;
    })) === undefined;
  const links = isNew ? [current, tagIndexLinkPath(repo, tag, digest)] : [tagIndexLinkPath(repo, tag, digest), current];
  let writes = 0;
  for (const path of links) if (await writeLink(d, path, digest)) writes++;
  return writes;
}

/** The registry's tag deletion: the whole tag directory goes, history included. */
export async function untag(d: StorageDriver, repo: string, tag: string): Promise<void> {
  try {
    await d.delete(tagDir(repo, tag));
  } catch (err) {
    if (isNotFound(err)) throw new NotFoundError(`tag ${repo}:${tag} does not exist`);
    throw err;
  }
}
