import { InvalidReferenceError } from '../errors.js';
import { isDigest, parseDigest, type Digest } from './digest.js';

// The registry's grammar (distribution/reference): a name is path components joined by "/",
// each [a-z0-9]+ with single separators ".", "_", "__" or runs of "-"; at most 255 characters.
const COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
export const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const MAX_NAME_LENGTH = 255;

export function isRepoName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) return false;
  return name.split('/').every((c) => COMPONENT_RE.test(c));
}

// Registry 2.8's own name grammar (reference.WithName, which its gc applies to every directory
// holding `_layers`): an optional domain first (letters of either case, digits, hyphens, dots)
// then lowercase path components; 255 characters at most. Wider than regbucket's input grammar.
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const NAME_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*';
const REGISTRY_NAME_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?/)?${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);

/** A name registry 2.8.2's gc accepts (it aborts on any other repository directory it walks). */
export function isRegistryRepoName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && REGISTRY_NAME_RE.test(name);
}

/** A path component the store's drivers can address (distribution's path pattern), not `.` or `..`. */
const STORED_COMPONENT_RE = /^(?!\.\.?$)[A-Za-z0-9._-]+$/;

/**
 * A repository directory name found in a store that regbucket can read and delete in, though it
 * may lie outside the grammar (`MyOrg/app`, `a..b`): components the drivers can address, none
 * starting with `_` (the registry's walk never enters those). The registry's gc marks from such
 * a directory when it holds `_layers` (or aborts on a name its own parser refuses); regbucket
 * marks from it either way. Never accepted as input from the command line.
 */
export function isStoredRepoName(name: string): boolean {
  return name.length > 0 && name.split('/').every((c) => STORED_COMPONENT_RE.test(c) && !c.startsWith('_'));
}

/** A tag directory name found in a store: any addressable component (the registry lists every directory under tags/ as a tag). */
export function isStoredTag(tag: string): boolean {
  return STORED_COMPONENT_RE.test(tag);
}

export function parseRepoName(name: string): string {
  if (isRepoName(name)) return name;
  if (name.length > MAX_NAME_LENGTH) {
    throw new InvalidReferenceError(`repository name is ${name.length} characters long: the registry allows ${MAX_NAME_LENGTH} at most`);
  }
  throw new InvalidReferenceError(`invalid repository name ${JSON.stringify(name)}: use lowercase letters, digits and single . _ __ or - separators, components joined by / (e.g. library/nginx)`);
}

export function isTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

export function parseTag(tag: string): string {
  if (isTag(tag)) return tag;
  if (tag.length > 128) throw new InvalidReferenceError(`invalid tag ${JSON.stringify(tag)}: ${tag.length} characters long, the registry allows 128 at most`);
  throw new InvalidReferenceError(`invalid tag ${JSON.stringify(tag)}: tags are 1-128 characters of A-Z a-z 0-9 _ . - and do not start with . or -`);
}

/** A reference to an image in a store: repository plus a tag, a digest, or neither. */
export interface StoreRef {
  repo: string;
  tag?: string;
  digest?: Digest;
}

/**
 * Parses `repo`, `repo:tag`, `repo@sha256:...` (and `repo:tag@sha256:...`, where the digest wins).
 * Every part is checked against the registry grammar before anything can turn it into a path.
 */
export function parseStoreRef(s: string): StoreRef {
  let rest = s;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = parseDigest(rest.slice(at + 1), `digest in ${JSON.stringify(s)}`);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', slash + 1);
  if (colon >= 0) {
    tag = parseTag(rest.slice(colon + 1));
    rest = rest.slice(0, colon);
  }
  if (rest.length === 0) throw new InvalidReferenceError(`reference ${JSON.stringify(s)} has no repository name: use repo[:tag|@digest]`);
  const repo = parseRepoName(rest);
  return digest ? { repo, digest, ...(tag ? { tag } : {}) } : { repo, tag };
}

export function formatStoreRef(r: StoreRef): string {
  if (r.digest) return `${r.repo}@${r.digest}`;
  return r.tag ? `${r.repo}:${r.tag}` : r.repo;
}

export { isDigest };
