// The S3 driver: keys are `<prefix>/` + the driver path without its leading slash (the registry's
// s3 `rootdirectory`): s3://bucket/store puts the layout at `store/docker/registry/v2/...`, and
// s3://bucket at `docker/registry/v2/...`.
//
// Works on S3-compatible servers (Swift, Ceph, MinIO, appliances): checksums only where an
// operation requires one, Content-MD5 on DeleteObjects, path-style addressing whenever an
// endpoint is given. The SDK is loaded on first use (the CLI starts without it) and its retries
// (standard mode: throttling, 5xx, dropped connections, with jittered exponential backoff) run
// `1 + retries` attempts; an error after the last names the S3 operation and the key.
import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Agents, proxyAuthHint } from '../util/proxy.js';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream';
import type { S3Client, _Object } from '@aws-sdk/client-s3';
import { InvalidInputError, PathNotFoundError, StorageError } from '../errors.js';
import { checkPath, type FileInfo, type StorageDriver } from './driver.js';
import { compareStrings } from '../util/compare.js';

type Sdk = typeof import('@aws-sdk/client-s3');

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** S3's limits: a single PUT or CopyObject up to 5 GiB, at most 10,000 parts. */
const MAX_PARTS = 10_000;
const DELETE_BATCH = 1000;
/** No byte for this long on a connection fails the attempt (then retried). */
export const DEFAULT_TIMEOUT_MS = 60_000;

export interface S3DriverOptions {
  bucket: string;
  /** The registry's rootdirectory, without leading or trailing slashes ('' for none). */
  prefix?: string;
  /** Endpoint URL of an S3-compatible server; turns on path-style addressing. */
  endpoint?: string;
  region?: string;
  /** Retries after the first attempt (default 5). */
  retries?: number;
  retryMode?: 'standard' | 'adaptive';
  /** Explicit credentials (tests); the default provider chain otherwise. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** putStream: part size of a multipart upload; streams up to this size are one PutObject (default 16 MiB, at least 5 MiB). */
  partSize?: number;
  /** putStream: parts uploaded at once (default 4); memory is about partSize x (queueSize + 1). */
  queueSize?: number;
  /** move: objects above this size are copied part by part (default 5 GiB, S3's CopyObject limit). */
  multipartCopyThreshold?: number;
  /** move: part size of a multipart copy (default 256 MiB; at least 5 MiB, raised to fit 10,000 parts). */
  multipartCopyPartSize?: number;
  /** move: parts copied at once (default 8). */
  multipartCopyConcurrency?: number;
  /** Keys a listing request asks for (default 1,000, S3's maximum). */
  pageSize?: number;
  /** Keys per DeleteObjects request (default 1,000, S3's maximum). */
  deleteBatch?: number;
  /** HTTP connections kept open at most (default 128). */
  maxSockets?: number;
  /**
   * No byte for this long on a connection (waiting for the answer, or mid-body) fails the attempt,
   * which is retried like other transient failures (default 60 s). Connecting has the smaller of
   * this and 10 s.
   */
  timeoutMs?: number;
}

export interface MultipartUploadInfo {
  key: string;
  uploadId: string;
  initiated: Date;
}

const COMPONENT_RE = /^[A-Za-z0-9._-]+$/;

let sdkPromise: Promise<Sdk> | undefined;
function loadSdk(): Promise<Sdk> {
  sdkPromise ??= import('@aws-sdk/client-s3');
  return sdkPromise;
}

interface SdkError {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

function status(err: unknown): number | undefined {
  return (err as SdkError)?.$metadata?.httpStatusCode;
}

function errName(err: unknown): string {
  const e = err as SdkError;
  return e?.name ?? e?.Code ?? '';
}

function isMissing(err: unknown): boolean {
  const n = errName(err);
  return n === 'NoSuchKey' || n === 'NotFound' || status(err) === 404;
}

/** Error codes of credentials S3 does not accept. */
const CREDENTIAL_CODES = new Set(['RequestTimeTooSkewed', 'AccessDenied', 'SignatureDoesNotMatch', 'InvalidAccessKeyId', 'InvalidToken', 'ExpiredToken', 'TokenRefreshRequired', 'Forbidden']);

/** Keys a listing may hand back: what the next request must start after (`successor` of a common prefix). */
function afterPrefix(prefix: string): string {
  // Every key below `a/b/` sorts before `a/b0` ('0' follows '/'): start after the whole group.
  return prefix.endsWith('/') ? `${prefix.slice(0, -1)}0` : prefix;
}

/** Error text of servers and the SDK can span lines; an error is one line. */
function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

const SILENT_LOGGER = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** The server refused the credentials or what they may do (HTTP 403): one line with the fix. */
export class S3AccessError extends StorageError {
  constructor(
    driver: string,
    readonly bucket: string,
    op: string,
    key: string,
    readonly code: string,
    status: number | undefined,
    clockOffsetMs?: number,
  ) {
    const known = code && !['Forbidden', 'UnknownError', 'Unknown', '403'].includes(code);
    const skewed = clockOffsetMs !== undefined && Math.abs(clockOffsetMs) > 5 * 60_000;
    const fix =
      code === 'RequestTimeTooSkewed' || (!known && skewed)
        ? `the server's clock (its Date header) is ${Math.round(Math.abs(clockOffsetMs ?? 0) / 60_000)} min from this machine's and it refuses requests signed with either: fix the clock that is wrong (NTP)`
        : code === 'InvalidAccessKeyId'
          ? 'the server does not know this access key: check AWS_ACCESS_KEY_ID (or AWS_PROFILE)'
          : code === 'SignatureDoesNotMatch'
            ? 'the secret key does not match the access key: check AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)'
            : code === 'ExpiredToken' || code === 'TokenRefreshRequired' || code === 'InvalidToken'
              ? 'the session token is expired or invalid: refresh the credentials (AWS_SESSION_TOKEN or AWS_PROFILE)'
              : `the credentials may not do ${op} on bucket ${bucket}: grant it (IAM or bucket policy) or use other credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)`;
    const what = [known ? code : '', status ? `HTTP ${status}` : ''].filter(Boolean).join(', ');
    super(driver, `${op} s3://${bucket}/${key}: access denied${what ? ` (${what})` : ''}: ${fix}`);
  }
}

/** Strips the quotes S3 puts around ETags. */
function unquote(etag: string | undefined): string | undefined {
  return etag?.replace(/^"(.*)"$/, '$1');
}

export class S3Driver implements StorageDriver {
  readonly name = 's3';
  readonly prefersFlatListing = true;
  readonly bucket: string;
  /** The key prefix of the driver path "/": '' or 'store/'. */
  private readonly root: string;
  private readonly opts: S3DriverOptions;
  /** The endpoint in use (undefined: AWS's own for the region). */
  readonly endpoint: string | undefined;
  private clientPromise?: Promise<{ sdk: Sdk; client: S3Client }>;
  private readonly counts = new Map<string, number>();
  /** -vv: told of each request attempt as it is sent. */
  private observer?: (op: string, target: string) => void;
  private readonly agents: (HttpAgent | HttpsAgent)[] = [];
  private readonly timeoutMs: number;
  /** The best reading of the server's clock so far: its time minus ours, and how far off it may be. */
  private clock?: { offsetMs: number; errorMs: number };

  constructor(opts: S3DriverOptions) {
    this.opts = opts;
    this.bucket = opts.bucket;
    const prefix = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.root = prefix ? `${prefix}/` : '';
    this.endpoint = opts.endpoint || process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined;
    if (this.endpoint !== undefined) checkEndpoint(this.endpoint);
    this.timeoutMs = Math.max(1, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  }

  /**
   * An answer's Date header (whole seconds, truncated) against the local times the request went
   * out and came back: the offset is known to within half the round trip plus the truncation.
   * The reading with the smallest error is kept.
   */
  private clockSample(sent: number, date: string | undefined): void {
    if (!date) return;
    const server = Date.parse(date);
    if (!Number.isFinite(server)) return;
    const received = Date.now();
    const errorMs = (received - sent) / 2 + 500;
    if (this.clock && this.clock.errorMs <= errorMs) return;
    this.clock = { offsetMs: server + 500 - (sent + received) / 2, errorMs };
  }

  /**
   * The server's clock minus this machine's, in ms (rounded to the second it is known to), from
   * the Date headers of its answers; one cheap listing is sent if none came yet. Undefined when
   * the server sends no Date header.
   */
  async clockOffset(): Promise<number | undefined> {
    if (!this.clock) {
      const prefix = this.root;
      await this.send('ListObjectsV2', prefix, undefined, (s) => new s.ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix || undefined, MaxKeys: 1 }));
    }
    return this.clock ? Math.round(this.clock.offsetMs / 1000) * 1000 : undefined;
  }

  /** S3 requests sent so far (every attempt), by operation: { GetObject: 12, ListObjectsV2: 3, ... }. */
  requestCounts(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => compareStrings(a, b)));
  }

  requestTotal(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  resetRequestCounts(): void {
    this.counts.clear();
  }

  /** Calls `fn` for every request attempt as it is sent: the S3 operation and its key or prefix. */
  observeRequests(fn: (op: string, target: string) => void): void {
    this.observer = fn;
  }

  // ---- client ----

  private async ctx(): Promise<{ sdk: Sdk; client: S3Client }> {
    this.clientPromise ??= this.makeClient();
    return this.clientPromise;
  }

  private async makeClient(): Promise<{ sdk: Sdk; client: S3Client }> {
    const sdk = await loadSdk();
    const o = this.opts;
    const endpoint = this.endpoint;
    const maxSockets = o.maxSockets ?? 128;
    const region = o.region || process.env.AWS_REGION || 'us-east-1';
    // HTTPS_PROXY/HTTP_PROXY/NO_PROXY for the one host this client talks to (util/proxy.ts).
    const target = endpoint ?? `https://${this.bucket}.s3.${region}.amazonaws.com`;
    const agents = new Agents({ keepAlive: true, maxSockets });
    const httpAgent = agents.for(target.replace(/^https:/i, 'http:'));
    const httpsAgent = agents.for(target.replace(/^http:/i, 'https:')) as HttpsAgent;
    this.agents.push(httpAgent, httpsAgent);
    const client = new sdk.S3Client({
      region,
      endpoint,
      forcePathStyle: endpoint !== undefined,
      credentials: o.credentials,
      maxAttempts: 1 + (o.retries ?? 5),
      retryMode: o.retryMode ?? 'standard',
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // socketTimeout: no byte for timeoutMs while waiting for the answer or reading its body fails
      // the attempt (a TimeoutError, which the SDK retries; a body read resumes in reader()).
      requestHandler: { httpAgent, httpsAgent, connectionTimeout: Math.min(10_000, this.timeoutMs), socketTimeout: this.timeoutMs },
      // The SDK's own notices (multi-line, for developers) never reach a CLI user's terminal.
      logger: SILENT_LOGGER,
    });
    // Content-MD5 on DeleteObjects: S3 requires an integrity header there, and Swift (like
    // older Ceph and appliances) accepts only Content-MD5, not the SDK's CRC32.
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const req = args.request as { headers: Record<string, string>; body?: unknown };
        if (context.commandName === 'DeleteObjectsCommand' && typeof req.body === 'string') {
          req.headers['content-md5'] = createHash('md5').update(req.body).digest('base64');
          for (const h of Object.keys(req.headers)) {
            if (h.toLowerCase().startsWith('x-amz-checksum-') || h.toLowerCase() === 'x-amz-sdk-checksum-algorithm') delete req.headers[h];
          }
        }
        return next(args);
      },
      { step: 'build', priority: 'low', name: 'regbucketContentMd5' },
    );
    // Counts each attempt (deserialize runs below the retry loop), and reads the server's clock
    // from the Date header of every answer (errors included).
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const op = (context.commandName ?? 'Unknown').replace(/Command$/, '');
        this.counts.set(op, (this.counts.get(op) ?? 0) + 1);
        if (this.observer) {
          const input = args.input as { Key?: unknown; Prefix?: unknown; CopySource?: unknown };
          const target = [input.CopySource, input.Key ?? input.Prefix].filter((x) => typeof x === 'string').join(' -> ');
          this.observer(op, target);
        }
        const sent = Date.now();
        try {
          const out = await next(args);
          this.clockSample(sent, (out.response as { headers?: Record<string, string> })?.headers?.date);
          return out;
        } catch (err) {
          this.clockSample(sent, (err as { $response?: { headers?: Record<string, string> } })?.$response?.headers?.date);
          throw err;
        }
      },
      { step: 'deserialize', priority: 'high', name: 'regbucketRequestCounter' },
    );
    return { sdk, client };
  }

  /** Sends one command; an error names the operation and the key. Missing keys throw PathNotFoundError for `path`. */
  private async send<T>(op: string, key: string, path: string | undefined, make: (sdk: Sdk) => { input: unknown }): Promise<T> {
    const { sdk, client } = await this.ctx();
    try {
      return (await client.send(make(sdk) as never)) as T;
    } catch (err) {
      if (path !== undefined && isMissing(err)) throw new PathNotFoundError(this.name, path);
      throw this.failure(op, key, err);
    }
  }

  private failure(op: string, key: string, err: unknown): StorageError {
    if (err instanceof StorageError) return err;
    const e = err as SdkError;
    const attempts = e?.$metadata?.attempts;
    const code = status(err);
    const name = errName(err);
    if (code === 403 || CREDENTIAL_CODES.has(name)) return new S3AccessError(this.name, this.bucket, op, key, name, code, this.clock?.offsetMs);
    let msg = oneLine(e?.message || name || String(err));
    if (code === 407) msg = `the proxy answered 407: ${proxyAuthHint(this.endpoint ?? `https://${this.bucket}.s3.amazonaws.com`)}`;
    if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(msg)) {
      msg += ' (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)';
    }
    if (name === 'TimeoutError') msg = `no answer for ${this.timeoutMs / 1000} s (a stalled connection; --timeout sets the limit)`;
    const where = `s3://${this.bucket}/${key}`;
    const tail = [code ? `HTTP ${code}` : '', attempts && attempts > 1 ? `after ${attempts} attempts` : ''].filter(Boolean).join(', ');
    return new StorageError(this.name, `${op} ${where}: ${msg}${tail ? ` (${tail})` : ''}`, { cause: err });
  }

  private partialListing(op: string, prefix: string): StorageError {
    return new StorageError(
      this.name,
      `${op} s3://${this.bucket}/${prefix}: the server says the listing goes on but gives nothing to continue from (no token, marker or key): refusing to act on a partial listing`,
    );
  }

  // ---- paths and keys ----

  /** The object key of a checked driver path ("/" is the prefix itself, without a slash). */
  private key(path: string): string {
    checkPath(this.name, path);
    return path === '/' ? this.root.replace(/\/$/, '') : this.root + path.slice(1);
  }

  /** The key prefix of everything below a directory path. */
  private dirKey(path: string): string {
    checkPath(this.name, path);
    return path === '/' ? this.root : `${this.root}${path.slice(1)}/`;
  }

  /** The driver path of a key under the root, or undefined when the key is not a driver path. */
  private pathOf(key: string): string | undefined {
    if (!key.startsWith(this.root)) return undefined;
    const rest = key.slice(this.root.length);
    if (rest === '') return undefined;
    for (const c of rest.split('/')) if (!COMPONENT_RE.test(c) || c === '.' || c === '..') return undefined;
    return `/${rest}`;
  }

  // ---- reads ----

  async getContent(path: string): Promise<Buffer> {
    const key = this.key(path);
    for (let attempt = 0; ; attempt++) {
      const out = await this.send<{ Body?: Readable }>('GetObject', key, path, (s) => new s.GetObjectCommand({ Bucket: this.bucket, Key: key }));
      try {
        return await collect(out.Body);
      } catch (err) {
        // The answer broke off mid-body: read it again (the SDK retries only until headers).
        if (attempt >= (this.opts.retries ?? 5)) throw this.failure('GetObject', key, err);
      }
    }
  }

  async reader(path: string, offset = 0): Promise<Readable> {
    const key = this.key(path);
    const open = async (from: number, etag?: string): Promise<{ body: Readable; etag?: string } | undefined> => {
      try {
        const out = await this.send<{ Body?: Readable; ETag?: string }>(
          'GetObject',
          key,
          path,
          (s) => new s.GetObjectCommand({ Bucket: this.bucket, Key: key, Range: from > 0 ? `bytes=${from}-` : undefined, IfMatch: etag }),
        );
        return { body: out.Body ?? Readable.from([]), etag: out.ETag };
      } catch (err) {
        // A range starting at (or past) the end: S3 answers 416; the object exists, nothing to read.
        if (status((err as StorageError).cause ?? err) === 416) {
          const st = await this.stat(path);
          if (!st.isDir && from >= st.size) return undefined;
        }
        throw err;
      }
    };
    const first = await open(offset);
    if (!first) return Readable.from([]);
    const retries = this.opts.retries ?? 5;
    const failure = (err: unknown): StorageError => this.failure('GetObject', key, err);
    // A long read whose connection drops resumes where it stopped, from the same object (If-Match).
    async function* resumable(): AsyncGenerator<Buffer> {
      let cur: Readable | undefined = first!.body;
      let pos = offset;
      let resumes = 0;
      try {
        for (;;) {
          try {
            for await (const chunk of cur) {
              pos += (chunk as Buffer).length;
              yield chunk as Buffer;
            }
            return;
          } catch (err) {
            cur.destroy();
            if (resumes++ >= retries || !first!.etag) throw failure(err);
            const next = await open(pos, first!.etag);
            if (!next) return;
            cur = next.body;
          }
        }
      } finally {
        cur?.destroy();
      }
    }
    return Readable.from(resumable(), { objectMode: false, highWaterMark: 1 << 20 });
  }

  async statFile(path: string): Promise<FileInfo> {
    const key = this.key(path);
    const h = await this.send<{ ContentLength?: number; LastModified?: Date; ETag?: string }>('HeadObject', key, path, (s) => new s.HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    return { path, size: h.ContentLength ?? 0, modTime: h.LastModified ?? new Date(0), isDir: false, etag: unquote(h.ETag) };
  }

  async stat(path: string): Promise<FileInfo> {
    if (path !== '/') {
      try {
        return await this.statFile(path);
      } catch (err) {
        if (!(err instanceof PathNotFoundError)) throw err;
      }
    }
    const dir = this.dirKey(path);
    const out = await this.send<{ Contents?: _Object[]; IsTruncated?: boolean }>('ListObjectsV2', dir, undefined, (s) => new s.ListObjectsV2Command({ Bucket: this.bucket, Prefix: dir, MaxKeys: 1 }));
    const first = out.Contents?.[0];
    if (!first && out.IsTruncated) throw this.partialListing('ListObjectsV2', dir);
    if (!first) throw new PathNotFoundError(this.name, path);
    return { path, size: 0, modTime: first.LastModified ?? new Date(0), isDir: true };
  }

  async list(path: string): Promise<string[]> {
    const dir = this.dirKey(path);
    const out = new Set<string>();
    for await (const page of this.pages(dir, { delimiter: true })) {
      for (const p of page.prefixes) {
        const child = this.pathOf(p.replace(/\/$/, ''));
        if (child) out.add(child);
      }
      for (const o of page.objects) {
        const child = o.Key ? this.pathOf(o.Key) : undefined;
        if (child) out.add(child);
      }
    }
    if (out.size === 0 && path !== '/') throw new PathNotFoundError(this.name, path);
    return [...out].sort();
  }

  /**
   * Raw listing below a key prefix, a page at a time; the next page is requested while this one
   * is used. A listing is complete or this throws: a page that says more is to come without a
   * continuation token (servers with partial ListObjectsV2 support) is followed by one that
   * starts after its last key, and a page that makes no progress ends the listing with an error.
   */
  private async *pages(prefix: string, opts: { startAfter?: string; delimiter?: boolean } = {}): AsyncGenerator<{ objects: _Object[]; prefixes: string[] }> {
    type Page = { Contents?: _Object[]; CommonPrefixes?: { Prefix?: string }[]; NextContinuationToken?: string; IsTruncated?: boolean };
    type Cursor = { token?: string; startAfter?: string };
    const fetch = (c: Cursor): Promise<Page> =>
      this.send<Page>(
        'ListObjectsV2',
        prefix,
        undefined,
        (s) =>
          new s.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            Delimiter: opts.delimiter ? '/' : undefined,
            ContinuationToken: c.token,
            StartAfter: c.token ? undefined : c.startAfter,
            MaxKeys: this.opts.pageSize ?? 1000,
          }),
      );
    let cursor: Cursor = { startAfter: opts.startAfter };
    let next: Promise<Page> | undefined = fetch(cursor);
    while (next) {
      const page: Page = await next;
      const objects = page.Contents ?? [];
      const prefixes = (page.CommonPrefixes ?? []).map((p) => p.Prefix ?? '').filter(Boolean);
      next = undefined;
      if (page.IsTruncated) {
        if (page.NextContinuationToken) cursor = { token: page.NextContinuationToken };
        else {
          // The page's last entry in key order: a key, or a common prefix standing for all its keys.
          let last = '';
          for (const o of objects) if (o.Key && o.Key > last) last = o.Key;
          for (const p of prefixes) if (afterPrefix(p) > last) last = afterPrefix(p);
          if (!last || (cursor.startAfter !== undefined && last <= cursor.startAfter)) {
            throw this.partialListing('ListObjectsV2', prefix);
          }
          cursor = { startAfter: last };
        }
        next = fetch(cursor);
        // A prefetched page that nobody waits for must not become an unhandled rejection.
        next.catch(() => {});
      }
      yield { objects, prefixes };
    }
  }

  /**
   * Every file below `path`, one ListObjectsV2 request per 1,000 keys. `startAfter` (a driver
   * path) resumes a walk after that path. Keys that are not driver paths are skipped.
   */
  async *walk(path: string, opts: { startAfter?: string; unaddressable?: boolean } = {}): AsyncIterable<FileInfo> {
    const dir = this.dirKey(path);
    const startAfter = opts.startAfter ? this.key(opts.startAfter) : undefined;
    for await (const page of this.pages(dir, { startAfter })) {
      for (const o of page.objects) {
        const p = o.Key ? this.pathOf(o.Key) : undefined;
        const info = { size: o.Size ?? 0, modTime: o.LastModified ?? new Date(0), isDir: false, etag: unquote(o.ETag) };
        if (p) yield { path: p, ...info };
        else if (opts.unaddressable && o.Key && o.Key.startsWith(this.root) && o.Key.length > this.root.length) {
          yield { path: `/${o.Key.slice(this.root.length)}`, ...info, unaddressable: true };
        }
      }
    }
  }

  // ---- writes ----

  async putContent(path: string, data: Buffer | string): Promise<void> {
    const key = this.key(path);
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    await this.send('PutObject', key, undefined, (s) => new s.PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: body.length }));
  }

  /**
   * A stream up to the part size is one PutObject; a longer one a multipart upload (lib-storage),
   * aborted when the stream or a part fails, so nothing appears at the key unless all of it was
   * written. Memory: about partSize x (queueSize + 1).
   */
  async putStream(path: string, data: Readable): Promise<number> {
    const key = this.key(path);
    const [{ client }, { Upload }] = await Promise.all([this.ctx(), import('@aws-sdk/lib-storage')]);
    let bytes = 0;
    const counted = new Transform({
      highWaterMark: 1 << 20,
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        cb(null, chunk);
      },
    });
    let sourceError: Error | undefined;
    pipeline(data, counted, (err) => {
      if (err) sourceError = err;
    });
    const upload = new Upload({
      client,
      params: { Bucket: this.bucket, Key: key, Body: counted },
      partSize: Math.max(5 * MiB, this.opts.partSize ?? 16 * MiB),
      queueSize: this.opts.queueSize ?? 4,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      counted.destroy();
      data.destroy();
      // The source's own error (a digest mismatch, a read failure) is the one to report.
      if (sourceError) throw sourceError;
      throw this.failure('PutObject', key, err);
    }
    if (sourceError) throw sourceError;
    return bytes;
  }

  async move(source: string, dest: string): Promise<void> {
    const src = this.key(source);
    const dst = this.key(dest);
    const head = await this.send<{ ContentLength?: number }>('HeadObject', src, source, (s) => new s.HeadObjectCommand({ Bucket: this.bucket, Key: src }));
    const size = head.ContentLength ?? 0;
    if (size > (this.opts.multipartCopyThreshold ?? 5 * GiB)) await this.multipartCopy(src, dst, size);
    else {
      await this.send('CopyObject', dst, undefined, (s) => new s.CopyObjectCommand({ Bucket: this.bucket, Key: dst, CopySource: this.copySource(src), MetadataDirective: 'COPY' }));
    }
    await this.send('DeleteObject', src, undefined, (s) => new s.DeleteObjectCommand({ Bucket: this.bucket, Key: src }));
  }

  /**
   * Sets the object's LastModified to now: a copy onto itself (metadata replaced, which S3
   * requires of a copy in place), server-side; above 5 GiB part by part. Throws PathNotFoundError.
   * gc on S3 re-checks a blob's time just before deleting it, so a push reusing an old blob
   * touches it first (store/blobs.ts).
   */
  async touch(path: string): Promise<void> {
    const key = this.key(path);
    try {
      await this.send(
        'CopyObject',
        key,
        path,
        (s) => new s.CopyObjectCommand({ Bucket: this.bucket, Key: key, CopySource: this.copySource(key), MetadataDirective: 'REPLACE', ContentType: 'application/octet-stream' }),
      );
    } catch (err) {
      if (status((err as StorageError).cause) !== 400) throw err;
      // Too large for one CopyObject (over 5 GiB): copy it onto itself in parts.
      const head = await this.send<{ ContentLength?: number }>('HeadObject', key, path, (s) => new s.HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      if ((head.ContentLength ?? 0) <= 5 * GiB) throw err;
      await this.multipartCopy(key, key, head.ContentLength ?? 0);
    }
  }

  private copySource(key: string): string {
    return `${this.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** UploadPartCopy in ranges, several at once; the upload is aborted if any part fails. */
  private async multipartCopy(src: string, dst: string, size: number): Promise<void> {
    // S3's part sizes: 5 MiB at least (but the last), 10,000 parts at most.
    const partSize = Math.max(5 * MiB, this.opts.multipartCopyPartSize ?? 256 * MiB, Math.ceil(size / MAX_PARTS));
    const created = await this.send<{ UploadId?: string }>('CreateMultipartUpload', dst, undefined, (s) => new s.CreateMultipartUploadCommand({ Bucket: this.bucket, Key: dst }));
    const uploadId = created.UploadId!;
    try {
      const count = Math.max(1, Math.ceil(size / partSize));
      const parts = new Array<{ PartNumber: number; ETag?: string }>(count);
      let nextPart = 0;
      const worker = async (): Promise<void> => {
        while (nextPart < count) {
          const i = nextPart++;
          const start = i * partSize;
          const end = Math.min(size, start + partSize) - 1;
          const out = await this.send<{ CopyPartResult?: { ETag?: string } }>(
            'UploadPartCopy',
            dst,
            undefined,
            (s) =>
              new s.UploadPartCopyCommand({
                Bucket: this.bucket,
                Key: dst,
                UploadId: uploadId,
                PartNumber: i + 1,
                CopySource: this.copySource(src),
                CopySourceRange: `bytes=${start}-${end}`,
              }),
          );
          parts[i] = { PartNumber: i + 1, ETag: out.CopyPartResult?.ETag };
        }
      };
      await Promise.all(Array.from({ length: Math.min(count, this.opts.multipartCopyConcurrency ?? 8) }, worker));
      await this.send('CompleteMultipartUpload', dst, undefined, (s) => new s.CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: dst, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    } catch (err) {
      await this.abortMultipartKey(dst, uploadId).catch(() => {});
      throw err;
    }
  }

  async delete(path: string): Promise<void> {
    const dir = this.dirKey(path);
    const key = this.key(path);
    // The object itself (if any) and everything below it; missing both is PathNotFoundError.
    const self =
      path === '/'
        ? Promise.resolve(false)
        : this.send('HeadObject', key, path, (s) => new s.HeadObjectCommand({ Bucket: this.bucket, Key: key })).then(
            () => true,
            (err) => {
              if (err instanceof PathNotFoundError) return false;
              throw err;
            },
          );
    self.catch(() => {});
    let found = false;
    for await (const page of this.pages(dir)) {
      const keys = page.objects.map((o) => o.Key!).filter(Boolean);
      if (keys.length > 0) {
        found = true;
        await this.deleteKeys(keys);
      }
    }
    if (await self) {
      found = true;
      await this.deleteKeys([key]);
    }
    if (!found) throw new PathNotFoundError(this.name, path);
  }

  async deleteFiles(paths: string[]): Promise<void> {
    const keys = paths.map((p) => this.key(p));
    const batches: string[][] = [];
    const size = this.opts.deleteBatch ?? DELETE_BATCH;
    for (let i = 0; i < keys.length; i += size) batches.push(keys.slice(i, i + size));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < batches.length) await this.deleteKeys(batches[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(4, batches.length) }, worker));
  }

  /** One DeleteObjects request (up to 1,000 keys); a key already gone is not an error. */
  private async deleteKeys(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    const out = await this.send<{ Errors?: { Key?: string; Code?: string; Message?: string }[] }>(
      'DeleteObjects',
      keys[0]!,
      undefined,
      (s) => new s.DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }),
    );
    const errors = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
    if (errors.length > 0) {
      const e = errors[0]!;
      throw new StorageError(this.name, `DeleteObjects s3://${this.bucket}/${e.Key}: ${e.Code}: ${e.Message ?? ''}${errors.length > 1 ? ` (and ${errors.length - 1} more keys)` : ''}`);
    }
  }

  // ---- multipart uploads in flight (gc) ----

  /** Every multipart upload in flight below `under` (default: the whole store), key as a driver path. */
  async *listMultipartUploads(under = '/'): AsyncIterable<MultipartUploadInfo> {
    const prefix = this.dirKey(under);
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.send<{
        Uploads?: { Key?: string; UploadId?: string; Initiated?: Date }[];
        IsTruncated?: boolean;
        NextKeyMarker?: string;
        NextUploadIdMarker?: string;
      }>(
        'ListMultipartUploads',
        prefix,
        undefined,
        (s) => new s.ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix || undefined, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker, MaxUploads: 1000 }),
      );
      let lastKey = '';
      let lastId = '';
      for (const u of page.Uploads ?? []) {
        if (u.Key && u.UploadId && (u.Key > lastKey || (u.Key === lastKey && u.UploadId > lastId))) [lastKey, lastId] = [u.Key, u.UploadId];
        const path = u.Key ? this.pathOf(u.Key) : undefined;
        if (path && u.UploadId) yield { key: path, uploadId: u.UploadId, initiated: u.Initiated ?? new Date(0) };
      }
      if (!page.IsTruncated) return;
      // More to come: from the markers the server gives, else from the page's last upload.
      const nextKey = page.NextKeyMarker || lastKey;
      const nextId = page.NextKeyMarker ? page.NextUploadIdMarker : lastId;
      if (!nextKey || (nextKey === keyMarker && (nextId ?? '') === (uploadIdMarker ?? ''))) {
        throw this.partialListing('ListMultipartUploads', prefix);
      }
      keyMarker = nextKey;
      uploadIdMarker = nextId || undefined;
    }
  }

  /** Aborts an upload (key is a driver path); one already gone is not an error. */
  async abortMultipartUpload(path: string, uploadId: string): Promise<void> {
    await this.abortMultipartKey(this.key(path), uploadId);
  }

  private async abortMultipartKey(key: string, uploadId: string): Promise<void> {
    try {
      await this.send('AbortMultipartUpload', key, undefined, (s) => new s.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
    } catch (err) {
      const cause = (err as StorageError).cause;
      if (errName(cause) === 'NoSuchUpload' || status(cause) === 404) return;
      throw err;
    }
  }

  async close(): Promise<void> {
    const c = this.clientPromise;
    this.clientPromise = undefined;
    if (c) (await c.catch(() => undefined))?.client.destroy();
    for (const a of this.agents.splice(0)) a.destroy();
  }
}

async function collect(body: Readable | undefined): Promise<Buffer> {
  if (!body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function checkEndpoint(endpoint: string): void {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new InvalidInputError(`invalid S3 endpoint ${JSON.stringify(endpoint)}: give a URL such as http://127.0.0.1:9000 (--s3-endpoint, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new InvalidInputError(`invalid S3 endpoint ${JSON.stringify(endpoint)}: only http:// and https:// URLs (--s3-endpoint, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL)`);
  }
}

/**
 * Bucket names as S3 allows them now (3-63 lowercase letters, digits, dots and hyphens); with
 * `legacy` (path-style addressing, where the name is only a path component) also as older S3
 * and many S3-compatible servers allow them: up to 255 letters of either case, digits, dots,
 * hyphens and underscores.
 */
export function checkBucketName(bucket: string, opts: { legacy?: boolean } = {}): string | undefined {
  if (opts.legacy) {
    if (bucket.length < 1 || bucket.length > 255) return 'a bucket name has 1 to 255 characters';
    if (!/^[A-Za-z0-9._-]+$/.test(bucket) || bucket === '.' || bucket === '..') return 'a bucket name has letters, digits, dots, hyphens and underscores';
    return undefined;
  }
  if (bucket.length < 3 || bucket.length > 63) return 'a bucket name has 3 to 63 characters (older names with capitals or underscores work with --s3-endpoint, which uses path-style addressing)';
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(bucket)) {
    return 'a bucket name has lowercase letters, digits, dots and hyphens, and starts and ends with a letter or digit (older names with capitals or underscores work with --s3-endpoint, which uses path-style addressing)';
  }
  if (bucket.includes('..')) return 'a bucket name has no two dots in a row';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(bucket)) return 'a bucket name is not an IP address';
  return undefined;
}
