// sha384/sha512 references, as registry 2.8.2 resolves them: a blob uploaded by such a digest is
// stored under its sha256 digest, and the repository's `_layers/<algorithm>/<hex>/link` (the
// alias link) holds that sha256 digest (blobwriter.go validateBlob, linkedblobstore.go linkBlob
// and Stat). The audit reads the alias links its manifests need and, when it hashes, re-hashes
// each linked blob with the alias's algorithm.
import type { StorageDriver } from '../drivers/driver.js';
import { algorithmOf, isAliasDigest, type AliasDigest, type AnyDigest, type Digest } from '../image/digest.js';
import { requiredBlobs, type ParsedManifest } from '../image/manifest.js';
import { hashStoredBlob } from '../store/blobs.js';
import { MalformedLinkError, readLink } from '../store/links.js';
import { layerLinkPath } from '../store/paths.js';
import { eachLimit } from '../util/each-limit.js';

export interface AliasLink {
  path: string;
  /** The sha256 digest the link holds; undefined when there is no link or it holds anything else. */
  target?: Digest;
  /** Raw content of a link that is not a sha256 digest (the registry cannot resolve it to a stored blob). */
  content?: string;
}

export function aliasKey(repo: string, digest: AnyDigest): string {
  return `${repo}\n${digest}`;
}

/** Every alias the readable revisions of the audited repositories need, with its link read. */
export async function readAliasLinks(d: StorageDriver, revisions: Iterable<{ repo: string; manifest: ParsedManifest }>, concurrency: number): Promise<Map<string, AliasLink>> {
  const wanted = new Map<string, { repo: string; digest: AliasDigest }>();
  for (const { repo, manifest } of revisions) {
    for (const b of requiredBlobs(manifest)) if (isAliasDigest(b.digest)) wanted.set(aliasKey(repo, b.digest), { repo, digest: b.digest });
  }
  const out = new Map<string, AliasLink>();
  await eachLimit(wanted, concurrency, async ([key, { repo, digest }]) => {
    const path = layerLinkPath(repo, digest);
    try {
      out.set(key, { path, target: await readLink(d, path) });
    } catch (err) {
      if (!(err instanceof MalformedLinkError)) throw err;
      out.set(key, { path, content: err.content });
    }
  });
  return out;
}

/** The stored blobs the alias links name (they need sizes, and hashes when the audit hashes). */
export function aliasTargets(aliases: Map<string, AliasLink>): Digest[] {
  return [...new Set([...aliases.values()].flatMap((l) => (l.target ? [l.target] : [])))];
}

/** Each linked blob that exists, hashed with its alias's algorithm: by aliasKey(stored digest, alias). */
export async function hashAliases(d: StorageDriver, aliases: Map<string, AliasLink>, exists: (d: Digest) => boolean, concurrency: number): Promise<Map<string, AnyDigest>> {
  const pairs = new Map<string, { target: Digest; alias: AliasDigest }>();
  for (const [key, l] of aliases) {
    const alias = key.slice(key.indexOf('\n') + 1) as AliasDigest;
    if (l.target && exists(l.target)) pairs.set(aliasKey(l.target, alias), { target: l.target, alias });
  }
  const out = new Map<string, AnyDigest>();
  await eachLimit(pairs, concurrency, async ([key, { target, alias }]) => {
    const h = await hashStoredBlob(d, target, algorithmOf(alias));
    if (h) out.set(key, h);
  });
  return out;
}
