// Gzip as Go's compress/gzip (and skopeo) reads it: concatenated members are one stream, and
// anything after the last member fails. Node's gunzip silently stops at trailing bytes that
// begin with a NUL; its bytesWritten counts the input zlib consumed, so less than was fed means
// bytes after the end.
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

export class GzipError extends Error {}

/** The three bytes skopeo's compression detection takes for gzip. */
export function isGzipMagic(head: Buffer | Uint8Array): boolean {
  return head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08;
}

/** Other compressions skopeo would silently decompress (bzip2, xz, zstd): named, so they can be refused. */
export function otherCompression(head: Buffer | Uint8Array): string | undefined {
  const b = Buffer.from(head);
  if (b.length >= 3 && b.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (b.length >= 6 && b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (b.length >= 4 && b.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  return undefined;
}

function describe(err: unknown): GzipError {
  if (err instanceof GzipError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'Z_BUF_ERROR') return new GzipError('the gzip stream is truncated');
  if (typeof e.code === 'string' && e.code.startsWith('Z_')) return new GzipError(`the gzip stream is corrupt (${e.message})`);
  return err as GzipError;
}

const TRAILING = 'data follows the end of the gzip stream (Go and skopeo refuse it)';

/** Decompressed chunks of a gzip file, failing on anything a Go reader fails on. */
export async function* gunzipFile(path: string): AsyncGenerator<Buffer> {
  const input = createReadStream(path, { highWaterMark: 1 << 20 });
  let fed = 0;
  input.on('data', (c: Buffer | string) => (fed += c.length));
  const g = createGunzip();
  const piped = pipeline(input, g).then(
    () => undefined,
    (err: unknown) => err,
  );
  try {
    for await (const c of g) yield c as Buffer;
  } catch (err) {
    throw describe(err);
  } finally {
    if (!g.readableEnded) {
      input.destroy();
      g.destroy();
    }
  }
  const failure = await piped;
  if (!input.readableEnded || g.bytesWritten < fed) throw new GzipError(TRAILING);
  if (failure) throw describe(failure);
}

/**
 * A push-fed strict gunzip (for gzip data inside an archive): write() chunks in order, then end();
 * `onData` sees the decompressed bytes.
 */
export class StrictGunzip {
  private readonly g = createGunzip();
  private failure?: unknown;
  private ended = false;
  private extra = false;
  private fed = 0;
  private readonly done: Promise<void>;

  constructor(onData: (chunk: Buffer) => void) {
    this.g.on('data', onData);
    this.done = new Promise<void>((resolve) => {
      this.g.on('end', () => {
        this.ended = true;
        resolve();
      });
      this.g.on('error', (err) => {
        this.failure ??= err;
        resolve();
      });
    });
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failure || chunk.length === 0) return;
    if (this.ended) {
      this.extra = true;
      return;
    }
    this.fed += chunk.length;
    if (!this.g.write(chunk)) {
      await new Promise<void>((resolve) => {
        const go = (): void => {
          this.g.off('drain', go);
          this.g.off('close', go);
          resolve();
        };
        this.g.on('drain', go);
        this.g.on('close', go);
      });
    }
  }

  /** Resolves when the stream was whole gzip with nothing after it; throws a GzipError otherwise. */
  async end(): Promise<void> {
    if (!this.ended && !this.failure) this.g.end();
    await this.done;
    if (this.failure) throw describe(this.failure);
    if (this.extra || this.g.bytesWritten < this.fed) throw new GzipError(TRAILING);
  }

  destroy(): void {
    this.g.destroy();
  }
}
