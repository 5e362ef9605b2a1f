// Every storage path regbucket uses is built here and nowhere else. Inputs are validated
// against the registry grammar first, so no name, tag, digest or upload id outside it can
// become a path. Layout: ../shared/docs/registry-layout.md (distribution's paths.go).
import { InvalidReferenceError } from '../errors.js';
import { algorithmOf, hexOf, parseAnyDigest, parseDigest, SHA256_HEX, type AnyDigest, type Digest } from '../image/digest.js';
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
  if (!isShard(shard)) throw new InvalidReferenceError(`invalid blob shard ${JSON.stringify(shard)}`);
  return `${BLOBS}/${shard}`;
}

export function blobDir(d: Digest): string {
  const h = hex(d);
  return `${BLOBS}/${h.slice(0, 2)}/${h}`;
}

export function blobDataPath(d: Digest): string {
  return `${blobDir(d)}/data`;
}

/** A repository's `_layers`, `_manifests` or `_uploads` directory. */
export function repoAreaDir(repo: string, area: RepoArea): string {
  return `${repoDir(repo)}/${area}`;
}

export function layersDir(repo: string): string {
  return `${repoDir(repo)}/_layers/sha256`;
}

/**
 * A blob's link in a repository. For an alias digest (sha384, sha512) it is the registry's
 * `_layers/<algorithm>/<hex>/link`, holding the sha256 digest the blob is stored under.
 */
export function layerLinkDir(repo: string, d: AnyDigest): string {
  const v = parseAnyDigest(d);
  return `${repoDir(repo)}/_layers/${algorithmOf(v)}/${hexOf(v)}`;
}

export function layerLinkPath(repo: string, d: AnyDigest): string {
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

/** The link of a `<hex>` directory in a links directory (`_layers/sha256`, `revisions/sha256`, a tag's `index/sha256`). */
export function digestLinkPath(dir: string, hex: string): string {
  if (!isHex(hex)) throw new InvalidReferenceError(`invalid digest hex ${JSON.stringify(hex)}`);
  return `${dir}/${hex}/link`;
}

const ALIAS_LINK_RE = /\/_layers\/(?:sha384\/[a-f0-9]{96}|sha512\/[a-f0-9]{128})\/link$/;

/** A repository's alias link (`_layers/sha512/<hex>/link`): registry 2.8.2 writes one for a blob uploaded by a sha512 digest. */
export function isAliasLinkPath(path: string): boolean {
  return ALIAS_LINK_RE.test(path);
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
  // Keys of one repository come together in a walk: the last name checked is tried first. Its
  // components never start with `_`, so a `_` right after it is where the section starts.
  if (lastRepoDir !== '' && path.startsWith(lastRepoDir) && path.charCodeAt(lastRepoDir.length) === 95 /* _ */) {
    return { name: lastRepoName, section: path.slice(lastRepoDir.length).split('/') };
  }
  const parts = path.slice(REPOSITORIES.length + 1).split('/');
  const at = parts.findIndex((p) => p.startsWith('_'));
  if (at <= 0) return undefined;
  const name = parts.slice(0, at).join('/');
  if (!isRepoName(name) && !isStoredRepoName(name)) return { name, section: parts.slice(at), unaddressable: true };
  lastRepoName = name;
  lastRepoDir = `${REPOSITORIES}/${name}/`;
  return { name, section: parts.slice(at) };
}

let lastRepoName = '';
let lastRepoDir = '';

// ---- the inverse: a path in, a typed layout entry out ----

/** The three sections of a repository directory. */
export type RepoArea = '_layers' | '_manifests' | '_uploads';

/** A file of an upload in progress: its bytes, its start time, a resumable hash state. */
export type UploadFile = 'data' | 'startedat' | 'hashstate';

/** Where in a repository a path sits: every entry below `repositories/` that names one. */
interface InRepo {
  path: string;
  repo: string;
  area: RepoArea;
}

/**
 * What a store path is in the registry's layout. `stray` is anything else (a file the registry
 * would not read, a name outside its grammar, a symlink or special file the enumerator met);
 * a stray inside a repository, tag or upload names them, as the registry would still count the
 * directory (a tag directory is a tag whatever it holds).
 */
export type LayoutEntry =
  | { kind: 'blob-data'; path: string; digest: Digest }
  /** A repository's `_layers`, `_manifests` or `_uploads` directory. */
  | (InRepo & { kind: 'area' })
  | (InRepo & { kind: 'layer-link'; digest: Digest })
  | (InRepo & { kind: 'revision-link'; digest: Digest })
  /** Schema 1 signature links below a revision (registries before 2.3 wrote them). */
  | (InRepo & { kind: 'revision-signature'; digest: Digest })
  | (InRepo & { kind: 'tag-current'; tag: string })
  | (InRepo & { kind: 'tag-index'; tag: string; digest: Digest })
  /** An upload's directory (tree walks see it even when it holds no file yet). */
  | (InRepo & { kind: 'upload-dir'; upload: string })
  | (InRepo & { kind: 'upload-file'; upload: string; file: UploadFile })
  | {
      kind: 'stray';
      path: string;
      repo?: string;
      area?: RepoArea;
      /** A tag directory's name (any name: one no storage path can hold too, for the gc to refuse it). */
      tag?: string;
      upload?: string;
      /** The repository's name has components no storage path can hold: nothing in it can be read. */
      unaddressable?: true;
    };

export type LayoutKind = LayoutEntry['kind'];

const HEX_RE = new RegExp(`^${SHA256_HEX}$`);
const SHARD_RE = /^[a-f0-9]{2}$/;
const OFFSET_RE = /^[0-9]{1,20}$/;

/** Whether `s` is a sha256 hex digest as the layout spells it in directory names. */
export function isHex(s: string | undefined): s is string {
  return s !== undefined && HEX_RE.test(s);
}

/** Whether `s` names a blob shard directory (the digest's first two hex characters). */
export function isShard(s: string | undefined): s is string {
  return s !== undefined && SHARD_RE.test(s);
}

/** Whether `s` is an upload id the layout can hold (what uploadDir accepts). */
export function isUploadId(s: string | undefined): s is string {
  return s !== undefined && UUID_RE.test(s);
}

const BLOBS_PREFIX = `${BLOBS}/`;
const REPOSITORIES_PREFIX = `${REPOSITORIES}/`;

function stray(path: string, repo?: string, area?: RepoArea, tag?: string, upload?: string): LayoutEntry {
  return { kind: 'stray', path, repo, area, tag, upload };
}

/** A path of the store (below or outside ROOT) as a layout entry; never throws. */
export function parseStorePath(path: string): LayoutEntry {
  // Written for speed (indexes, no spreads or closures): this runs once for every key of a store.
  if (path.startsWith(BLOBS_PREFIX)) {
    const p = path.slice(BLOBS_PREFIX.length).split('/');
    const shard = p[0];
    const hex = p[1];
    if (p.length === 3 && p[2] === 'data' && isShard(shard) && isHex(hex) && hex.startsWith(shard)) return { kind: 'blob-data', path, digest: `sha256:${hex}` };
    return stray(path);
  }
  if (!path.startsWith(REPOSITORIES_PREFIX)) return stray(path);
  const s = splitRepoPath(path);
  if (!s) return stray(path);
  const repo = s.name;
  const p = s.section;
  const n = p.length;
  const area = p[0];
  const known = area === '_layers' || area === '_manifests' || area === '_uploads';
  if (s.unaddressable) return { kind: 'stray', path, repo, area: known ? area : undefined, unaddressable: true };
  if (!known) return stray(path, repo);
  if (n === 1) return { kind: 'area', path, repo, area };
  const a = p[1];
  const b = p[2];
  if (area === '_layers') {
    return n === 4 && a === 'sha256' && isHex(b) && p[3] === 'link' ? { kind: 'layer-link', path, repo, area, digest: `sha256:${b}` } : stray(path, repo, area);
  }
  if (area === '_uploads') {
    if (!isUploadId(a)) return stray(path, repo, area);
    if (n === 2) return { kind: 'upload-dir', path, repo, area, upload: a };
    if (n === 3 && (b === 'data' || b === 'startedat')) return { kind: 'upload-file', path, repo, area, upload: a, file: b };
    if (n === 5 && b === 'hashstates' && p[3] === 'sha256' && OFFSET_RE.test(p[4]!)) return { kind: 'upload-file', path, repo, area, upload: a, file: 'hashstate' };
    return stray(path, repo, area, undefined, a);
  }
  const c = p[3];
  const e = p[4];
  if (a === 'revisions') {
    if (b === 'sha256' && isHex(c)) {
      if (n === 5 && e === 'link') return { kind: 'revision-link', path, repo, area, digest: `sha256:${c}` };
      if (n >= 5 && e === 'signatures') return { kind: 'revision-signature', path, repo, area, digest: `sha256:${c}` };
    }
    return stray(path, repo, area);
  }
  if (a === 'tags' && b !== undefined && !isStoredTag(b)) return stray(path, repo, area, b);
  if (a === 'tags' && b !== undefined) {
    if (n === 5 && c === 'current' && e === 'link') return { kind: 'tag-current', path, repo, area, tag: b };
    const f = p[5];
    if (n === 7 && c === 'index' && e === 'sha256' && isHex(f) && p[6] === 'link') return { kind: 'tag-index', path, repo, area, tag: b, digest: `sha256:${f}` };
    return stray(path, repo, area, b);
  }
  return stray(path, repo, area);
}
