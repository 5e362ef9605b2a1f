// Every storage path regbucket uses is built here and nowhere else. Inputs are validated
// against the registry grammar first, so no name, tag, digest or upload id outside it can
// become a path. Layout: ../shared/docs/registry-layout.md (distribution's paths.go).
import { InvalidReferenceError } from '../errors.js';
import { hexOf, parseDigest, type Digest } from '../image/digest.js';
import { isRepoName, isStoredRepoName, isStoredTag, parseRepoName, parseTag } from '../image/reference.js';

export const ROOT = '/docker/registry/v2';
export const BLOBS = `${ROOT}/blobs/sha256`;
export const REPOSITORIES = `${ROOT}/repositories`;

const UUID_RE = /^[A-Za-z0-9_-]{1,128}$/;

function hex(d: Digest): string {
  return hexOf(parseDigest(d));
}

/**
 * A repository's directory. Names from the command line are checked against the grammar
 * before they get here (parseStoreRef); names read from the store may be any addressable
 * directory name (isStoredRepoName): the registry marks from those too.
 */
export function repoDir(repo: string): string {
  return `${REPOSITORIES}/${isStoredRepoName(repo) ? repo : parseRepoName(repo)}`;
}

/** The two-character shard a blob lives in. */
export function blobShardDir(shard: string): string {
  if (!/^[a-f0-9]{2}$/.test(shard)) throw new InvalidReferenceError(`invalid blob shard ${JSON.stringify(shard)}`);
  return `${BLOBS}/${shard}`;
}

export function blobDir(d: Digest): string {
  const h = hex(d);
  return `${BLOBS}/${h.slice(0, 2)}/${h}`;
}

export function blobDataPath(d: Digest): string {
  return `${blobDir(d)}/data`;
}

export function layersDir(repo: string): string {
  return `${repoDir(repo)}/_layers/sha256`;
}

export function layerLinkDir(repo: string, d: Digest): string {
  return `${layersDir(repo)}/${hex(d)}`;
}

export function layerLinkPath(repo: string, d: Digest): string {
  return `${layerLinkDir(repo, d)}/link`;
}

export function manifestsDir(repo: string): string {
  return `${repoDir(repo)}/_manifests`;
}

export function revisionsDir(repo: string): string {
  return `${manifestsDir(repo)}/revisions/sha256`;
}

export function revisionDir(repo: string, d: Digest): string {
  return `${revisionsDir(repo)}/${hex(d)}`;
}

export function revisionLinkPath(repo: string, d: Digest): string {
  return `${revisionDir(repo, d)}/link`;
}

export function tagsDir(repo: string): string {
  return `${manifestsDir(repo)}/tags`;
}

export function tagDir(repo: string, tag: string): string {
  return `${tagsDir(repo)}/${isStoredTag(tag) ? tag : parseTag(tag)}`;
}

export function tagCurrentLinkPath(repo: string, tag: string): string {
  return `${tagDir(repo, tag)}/current/link`;
}

export function tagIndexDir(repo: string, tag: string): string {
  return `${tagDir(repo, tag)}/index/sha256`;
}

export function tagIndexEntryDir(repo: string, tag: string, d: Digest): string {
  return `${tagIndexDir(repo, tag)}/${hex(d)}`;
}

export function tagIndexLinkPath(repo: string, tag: string, d: Digest): string {
  return `${tagIndexEntryDir(repo, tag, d)}/link`;
}

export function uploadsDir(repo: string): string {
  return `${repoDir(repo)}/_uploads`;
}

function uploadId(id: string): string {
  if (!UUID_RE.test(id)) throw new InvalidReferenceError(`invalid upload id ${JSON.stringify(id)}`);
  return id;
}

export function uploadDir(repo: string, id: string): string {
  return `${uploadsDir(repo)}/${uploadId(id)}`;
}

export function uploadDataPath(repo: string, id: string): string {
  return `${uploadDir(repo, id)}/data`;
}

export function uploadStartedAtPath(repo: string, id: string): string {
  return `${uploadDir(repo, id)}/startedat`;
}

/** Content of a link file: exactly `sha256:<hex>`, no newline. */
export function linkContent(d: Digest): string {
  return parseDigest(d);
}

/**
 * Splits a path below `repositories/` into the repository name and the section below it.
 * `unaddressable` is set when the name has components no driver path can hold (a key with a
 * space, say): nothing in it can be read, so nothing it might reference may be deleted.
 */
export function splitRepoPath(path: string): { name: string; section: string[]; unaddressable?: boolean } | undefined {
  const parts = path.slice(REPOSITORIES.length + 1).split('/');
  const at = parts.findIndex((p) => p.startsWith('_'));
  if (at <= 0) return undefined;
  const name = parts.slice(0, at).join('/');
  return { name, section: parts.slice(at), ...(isRepoName(name) || isStoredRepoName(name) ? {} : { unaddressable: true }) };
}
