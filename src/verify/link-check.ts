import type { StorageDriver } from '../drivers/driver.js';
import { isDigest, type Digest } from '../image/digest.js';
import { eachLimit } from '../util/each-limit.js';
import { linkEtag } from '../store/links.js';
import type { LinkFile } from './inventory.js';
import { orIfNotFound } from '../util/not-found.js';

/**
 * Reads the content of every link. A link whose directory names its digest and whose listed
 * ETag is the MD5 of exactly `sha256:<hex>` holds exactly that (a single-PUT S3 object's ETag
 * is the MD5 of its bytes), so it needs no GET. A link that turns out not to exist (an empty
 * directory on a filesystem) keeps `content` undefined.
 */
export async function readLinks(d: StorageDriver, links: LinkFile[], concurrency: number, onRead?: () => void): Promise<void> {
  await eachLimit(links, concurrency, async (l) => {
    if (l.named && l.etag && l.etag.toLowerCase() === linkEtag(l.named)) {
      l.content = l.named;
    } else {
      const body = await orIfNotFound(() => d.getContent(l.path), undefined);
      if (body) l.content = body.toString('latin1');
    }
    onRead?.();
  });
}

export type LinkVerdict =
  | { ok: true; digest: Digest }
  /** `intended`: the digest a repair may write, when it is unambiguous. */
  | { ok: false; kind: 'malformed-link' | 'link-mismatch'; intended?: Digest };

/**
 * A link is well formed when it is exactly `sha256:<64 lowercase hex>` and, below a directory
 * named for a digest, names that digest. What a repair would write is the directory's digest
 * (the path is what the registry trusts), or for a tag's current link the content with
 * surrounding whitespace removed and hex lowercased, if that is a digest.
 */
export function judgeLink(l: LinkFile & { content: string }): LinkVerdict {
  const c = l.content;
  if (isDigest(c)) {
    if (l.named && c !== l.named) return { ok: false, kind: 'link-mismatch', intended: l.named };
    return { ok: true, digest: c };
  }
  const normalized = c.trim().toLowerCase();
  return { ok: false, kind: 'malformed-link', intended: l.named ?? (isDigest(normalized) ? normalized : undefined) };
}

/** What a link names for the checks that follow it: its directory's digest, else a well-formed content. */
export function linkTarget(l: LinkFile & { content: string }): Digest | undefined {
  if (l.named) return l.named;
  const v = judgeLink(l);
  return v.ok ? v.digest : undefined;
}
