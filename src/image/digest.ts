import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DigestMismatchError, InvalidInputError, InvalidReferenceError, SizeMismatchError } from '../errors.js';

/** A sha256 as digests, layout paths and digest tags spell it (64 lowercase hex): the source for patterns that embed it. */
export const SHA256_HEX = '[a-f0-9]{64}';
/** The only algorithm the registry's storage layout uses in paths. */
export const DIGEST_RE = new RegExp(`^sha256:${SHA256_HEX}$`);
const ANY_DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export type Digest = `sha256:${string}`;
/** Digests go-digest (so registry 2.8.2) also accepts in descriptors; stored under the sha256 digest of the data. */
export type AliasDigest = `sha384:${string}` | `sha512:${string}`;
export type AnyDigest = Digest | AliasDigest;
export type Algorithm = 'sha256' | 'sha384' | 'sha512';

const ALIAS_DIGEST_RE = /^(?:sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$/;

export function isAliasDigest(s: string): s is AliasDigest {
  return ALIAS_DIGEST_RE.test(s);
}

export function isAnyDigest(s: string): s is AnyDigest {
  return isDigest(s) || isAliasDigest(s);
}

export function algorithmOf(d: AnyDigest): Algorithm {
  return d.slice(0, d.indexOf(':')) as Algorithm;
}

export function isDigest(s: string): s is Digest {
  return DIGEST_RE.test(s);
}

/** Validates a digest string; throws InvalidReferenceError naming `what` otherwise. */
export function parseDigest(s: string, what = 'digest'): Digest {
  if (isDigest(s)) return s;
  if (isAliasDigest(s)) {
    throw new InvalidReferenceError(`${what} ${JSON.stringify(s)}: only sha256 digests name manifests and stored blobs (registry 2.8.2 files every blob under its sha256 digest)`);
  }
  if (ANY_DIGEST_RE.test(s) && !s.startsWith('sha256:')) {
    throw new InvalidReferenceError(`${what} ${JSON.stringify(s)}: only sha256, sha384 and sha512 digests are supported`);
  }
  throw new InvalidReferenceError(`${what} ${JSON.stringify(s)} is not a digest: expected sha256: followed by 64 lowercase hex characters`);
}

/**
 * Refuses a blob named by an alias digest (sha384, sha512) where `where` keeps blobs by their
 * sha256 digest only: before anything is written, naming the blob and what does take it.
 */
export function refuseAliasBlob(d: AnyDigest, where: string): void {
  if (isAliasDigest(d)) {
    throw new InvalidInputError(
      `blob ${d} is named by a ${algorithmOf(d)} digest, which ${where} does not take yet: copy the image into a store (kept under its sha256 digest, as the registry keeps it) or into an oci-archive`,
    );
  }
}

export function hexOf(d: AnyDigest): string {
  return d.slice(d.indexOf(':') + 1);
}

/** Validates a blob descriptor's digest: sha256 or an alias digest (sha384, sha512), as go-digest accepts them. */
export function parseAnyDigest(s: string, what = 'digest'): AnyDigest {
  return isAliasDigest(s) ? s : parseDigest(s, what);
}

export function sha256(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * A pass-through stream that hashes and counts what flows through it. check() compares against
 * an expected digest and size once the stream has ended.
 */
export class DigestingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  /** For an alias digest (sha512...): its own hash, beside the sha256 the store files the blob by. */
  private readonly aliasHash?: Hash;
  bytes = 0;

  /** With `limit`, the stream fails as soon as it runs past the declared size (a lying source). */
  constructor(private readonly limit?: { digest: AnyDigest; size: number; where: string }) {
    super({ highWaterMark: 1 << 20 });
    if (limit && isAliasDigest(limit.digest)) this.aliasHash = createHash(algorithmOf(limit.digest));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    const l = this.limit;
    if (l && l.size >= 0 && this.bytes > l.size) {
      cb(new SizeMismatchError(l.digest, l.size, this.bytes, l.where));
      return;
    }
    this.hash.update(chunk);
    this.aliasHash?.update(chunk);
    cb(null, chunk);
  }

  private sha256?: Digest;

  /** The sha256 of what flowed through (where the store files it). Call after the stream ended. */
  digest(): Digest {
    return (this.sha256 ??= `sha256:${this.hash.digest('hex')}`);
  }

  /** Throws DigestMismatchError or SizeMismatchError. Call once, after the stream ended. */
  check(expected: AnyDigest, expectedSize: number | undefined, where: string): void {
    const actual: AnyDigest = this.aliasHash ? (`${algorithmOf(expected)}:${this.aliasHash.digest('hex')}` as AliasDigest) : this.digest();
    if (expectedSize !== undefined && expectedSize >= 0 && this.bytes !== expectedSize) {
      throw new SizeMismatchError(expected, expectedSize, this.bytes, where);
    }
    if (actual !== expected) throw new DigestMismatchError(expected, actual, where);
  }
}
