import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DigestMismatchError, InvalidReferenceError, SizeMismatchError } from '../errors.js';

/** A sha256 as digests, layout paths and digest tags spell it (64 lowercase hex): the source for patterns that embed it. */
export const SHA256_HEX = '[a-f0-9]{64}';
/** The only algorithm the registry's storage layout uses in paths. */
export const DIGEST_RE = new RegExp(`^sha256:${SHA256_HEX}$`);
const ANY_DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export type Digest = `sha256:${string}`;

export function isDigest(s: string): s is Digest {
  return DIGEST_RE.test(s);
}

/** Validates a digest string; throws InvalidReferenceError naming `what` otherwise. */
export function parseDigest(s: string, what = 'digest'): Digest {
  if (isDigest(s)) return s;
  if (ANY_DIGEST_RE.test(s) && !s.startsWith('sha256:')) {
    throw new InvalidReferenceError(`${what} ${JSON.stringify(s)}: only sha256 digests are supported`);
  }
  throw new InvalidReferenceError(`${what} ${JSON.stringify(s)} is not a digest: expected sha256: followed by 64 lowercase hex characters`);
}

export function hexOf(d: Digest): string {
  return d.slice(7);
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
  bytes = 0;

  /** With `limit`, the stream fails as soon as it runs past the declared size (a lying source). */
  constructor(private readonly limit?: { digest: Digest; size: number; where: string }) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    const l = this.limit;
    if (l && l.size >= 0 && this.bytes > l.size) {
      cb(new SizeMismatchError(l.digest, l.size, this.bytes, l.where));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  digest(): Digest {
    return `sha256:${this.hash.digest('hex')}`;
  }

  /** Throws DigestMismatchError or SizeMismatchError. Call once, after the stream ended. */
  check(expected: Digest, expectedSize: number | undefined, where: string): void {
    const actual = this.digest();
    if (expectedSize !== undefined && expectedSize >= 0 && this.bytes !== expectedSize) {
      throw new SizeMismatchError(expected, expectedSize, this.bytes, where);
    }
    if (actual !== expected) throw new DigestMismatchError(expected, actual, where);
  }
}
