// A live registry as an image source: `docker://<host>[:<port>]/<repo>[:<tag>|@<digest>]` over the
// Registry HTTP API v2. Manifests are fetched whole (they are small and checked by the copier),
// blobs stream and resume with a Range request when a connection drops mid-way.
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidReferenceError, NotFoundError } from '../errors.js';
import { sha256, type Digest } from './digest.js';
import { MAX_MANIFEST_BYTES, parseManifest, type BlobDescriptor, type Descriptor } from './manifest.js';
import { MANIFEST_ACCEPT, MediaType } from './mediatypes.js';
import { parseStoreRef } from './reference.js';
import { referrersTagOf } from './referrers-tag.js';
import { credentialsFromFiles, RegistryError, type Credentials } from './registry-auth.js';
import { isTransientError, readBody, RegistryHttp, type RegistryHttpOptions } from './registry-http.js';
import { listAll, PageLinks } from './registry-paging.js';
import type { ImageSource, SourceImage } from './transfer.js';

export interface DockerRef {
  /** host[:port] as given (`docker.io` is sent to registry-1.docker.io). */
  host: string;
  repo: string;
  tag?: string;
  digest?: Digest;
}

export interface DockerSourceOptions {
  /** --src-creds; otherwise the auth files are consulted. */
  credentials?: Credentials;
  tlsVerify?: boolean;
  retries?: number;
  /** No byte for this long on a connection fails the attempt (default 60 s). */
  timeoutMs?: number;
  concurrency?: number;
  backoffMs?: number;
  env?: NodeJS.ProcessEnv;
}

export const HOST_RE = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]{1,5})?$/;

/** Parses `docker://host[:port]/repo[:tag|@digest]` (a first component without `.` or `:` means docker.io). */
export function parseDockerRef(s: string): DockerRef {
  if (!s.startsWith('docker://')) throw new InvalidReferenceError(`${JSON.stringify(s)} is not a docker:// reference`);
  const rest = s.slice('docker://'.length);
  // `user:password@host/...` (a digest's `@` has no `/` after it): never echo what was given.
  if (rest.includes('@') && rest.slice(rest.indexOf('@')).includes('/')) {
    throw new InvalidReferenceError('credentials in a docker:// reference are refused: pass --src-creds user:password or use an auth file');
  }
  const slash = rest.indexOf('/');
  let host = slash > 0 ? rest.slice(0, slash) : '';
  let path = slash > 0 ? rest.slice(slash + 1) : rest;
  if (!host || (!host.includes('.') && !host.includes(':') && host !== 'localhost')) {
    path = rest;
    host = 'docker.io';
    if (!path.includes('/')) path = `library/${path}`;
  }
  if (!HOST_RE.test(host)) throw new InvalidReferenceError(`invalid registry host ${JSON.stringify(host)} in ${JSON.stringify(s)}: use docker://host[:port]/repo[:tag|@digest]`);
  const ref = parseStoreRef(path);
  return { host, repo: ref.repo, tag: ref.tag, digest: ref.digest };
}

export function formatDockerRef(r: DockerRef): string {
  return `docker://${r.host}/${r.repo}${r.digest ? `@${r.digest}` : r.tag ? `:${r.tag}` : ''}`;
}

// Sources on the same registry with the same settings (sync of many images) share one client:
// one scheme probe, one token per repository, one pool of kept-alive connections.
/** Pages of one subject's referrers, and referrers in all: far past any real image (a registry linking pages without end is refused). */
const MAX_REFERRER_PAGES = 1000;
const MAX_REFERRERS = 100_000;

const clients = new Map<string, { http: RegistryHttp; users: number }>();

function acquireHttp(host: string, o: RegistryHttpOptions): RegistryHttp {
  const c = o.credentials;
  const key = JSON.stringify([host, o.side, o.tlsVerify, o.retries, o.timeoutMs, o.maxSockets, c ? [c.origin, c.username, c.password] : null]);
  let e = clients.get(key);
  if (!e) {
    e = { http: new RegistryHttp(host, o), users: 0 };
    clients.set(key, e);
  }
  e.users++;
  return e.http;
}

/** The shared client for `ref`'s registry: credentials from the flag, else the auth files (the same lookup for sources and destinations). */
export function openRegistryHttp(ref: DockerRef, opts: DockerSourceOptions, side: 'src' | 'dest'): RegistryHttp {
  const credentials = opts.credentials ?? credentialsFromFiles(ref.host, opts.env);
  const apiHost = ref.host === 'docker.io' ? 'registry-1.docker.io' : ref.host;
  return acquireHttp(apiHost, {
    tlsVerify: opts.tlsVerify ?? true,
    credentials,
    retries: opts.retries ?? 5,
    timeoutMs: opts.timeoutMs,
    maxSockets: Math.max(4, opts.concurrency ?? 8),
    backoffMs: opts.backoffMs ?? 250,
    side,
  });
}

export function releaseHttp(http: RegistryHttp): void {
  for (const [key, e] of clients) {
    if (e.http !== http) continue;
    if (--e.users === 0) {
      clients.delete(key);
      http.close();
    }
    return;
  }
}

/** `docker://host[:port]` with nothing after (a trailing `/` allowed): a whole registry, else undefined. */
export function parseDockerHost(s: string): string | undefined {
  const m = /^docker:\/\/([^/@]+)\/?$/.exec(s);
  if (!m || !HOST_RE.test(m[1]!) || !(m[1]!.includes('.') || m[1]!.includes(':') || m[1] === 'localhost')) return undefined;
  return m[1];
}

/** Every repository the registry lists (`/v2/_catalog`, paged); `pageSize` sets `n`. */
export async function listRepositories(host: string, opts: DockerSourceOptions, pageSize?: number): Promise<string[]> {
  const http = openRegistryHttp({ host, repo: '_catalog' }, opts, 'src');
  try {
    return await listAll(http, { path: '/v2/_catalog', key: 'repositories', scope: 'registry:catalog:*', pageSize, what: `the catalog of ${host}` });
  } finally {
    releaseHttp(http);
  }
}

/** The OCI 1.1 referrers API is absent on older registries (2.8): remember that per registry. */
type ReferrersApi = 'unknown' | 'yes' | 'no';
/**
 * Kept on the shared client, not the source: a mirror of many tags opens one source per tag, and
 * asking each time cost a 404 per tag (50 of 160 requests of a 50-tag mirror with nothing new).
 */
const referrersApiOf = new WeakMap<RegistryHttp, ReferrersApi>();

export class DockerSource implements ImageSource {
  readonly description: string;
  private readonly http: RegistryHttp;
  private readonly manifests = new Map<string, Buffer>();
  private readonly scope: string;
  private readonly retries: number;
  private readonly backoffMs: number;
  /** Referrers fallback tags (`sha256-<hex>`) seen while listing referrers: they can be copied as tags. */
  readonly fallbackTags = new Map<string, Descriptor>();

  constructor(
    readonly ref: DockerRef,
    opts: DockerSourceOptions = {},
  ) {
    this.description = formatDockerRef(ref);
    this.retries = opts.retries ?? 5;
    this.backoffMs = opts.backoffMs ?? 250;
    this.http = openRegistryHttp(ref, opts, 'src');
    this.scope = `repository:${ref.repo}:pull`;
  }

  private path(kind: 'manifests' | 'blobs' | 'referrers', reference: string): string {
    return `/v2/${this.ref.repo}/${kind}/${reference}`;
  }

  /** Manifest bytes by tag or digest; undefined when the registry answers 404. */
  private async fetchManifestBytes(reference: string, accept = MANIFEST_ACCEPT): Promise<{ bytes: Buffer; contentType?: string } | undefined> {
    for (let attempt = 0; ; attempt++) {
      const res = await this.http.request({ method: 'GET', path: this.path('manifests', reference), scope: this.scope, headers: { accept } });
      if (res.statusCode === 404) {
        res.resume();
        return undefined;
      }
      try {
        const bytes = await readBody(res, MAX_MANIFEST_BYTES, `manifest ${reference} in ${this.description}`);
        return { bytes, contentType: res.headers['content-type']?.split(';')[0]?.trim() };
      } catch (err) {
        // The answer started but the connection dropped: ask again.
        if (!isTransientError(err)) throw err;
        if (attempt >= this.retries) throw new RegistryError(`manifest ${reference} from ${this.description}: connection lost while reading it (after ${attempt + 1} attempts)`);
        await sleep(Math.min(this.backoffMs * 2 ** attempt, 10_000));
      }
    }
  }

  private describe(bytes: Buffer, contentType: string | undefined, where: string): Descriptor {
    const m = parseManifest(bytes, where);
    const digest = sha256(bytes);
    this.manifests.set(digest, bytes);
    return { mediaType: m.mediaType ?? contentType, digest, size: bytes.length };
  }

  async images(): Promise<SourceImage[]> {
    const reference = this.ref.digest ?? this.ref.tag ?? 'latest';
    const got = await this.fetchManifestBytes(reference);
    if (!got) {
      throw new NotFoundError(
        this.ref.digest ? `manifest ${this.ref.digest} is not in ${this.ref.host}/${this.ref.repo}` : `tag ${reference} is not in ${this.ref.host}/${this.ref.repo} (or the repository does not exist)`,
      );
    }
    const desc = this.describe(got.bytes, got.contentType, `manifest ${reference} in ${this.description}`);
    if (this.ref.digest && desc.digest !== this.ref.digest) {
      throw new RegistryError(`${this.ref.host} answered ${this.ref.repo}@${this.ref.digest} with bytes that hash to ${desc.digest}: the registry is corrupt or lying`);
    }
    return [{ name: this.ref.digest ? undefined : reference, descriptor: desc }];
  }

  async getManifest(desc: Descriptor): Promise<Buffer> {
    const cached = this.manifests.get(desc.digest);
    if (cached) return cached;
    const got = await this.fetchManifestBytes(desc.digest, desc.mediaType ? `${desc.mediaType}, ${MANIFEST_ACCEPT}` : MANIFEST_ACCEPT);
    if (!got) throw new NotFoundError(`manifest ${desc.digest} is not in ${this.ref.host}/${this.ref.repo}`);
    return got.bytes;
  }

  private async blobResponse(desc: BlobDescriptor, offset: number): Promise<IncomingMessage> {
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const res = await this.http.request({ method: 'GET', path: this.path('blobs', desc.digest), scope: this.scope, headers });
    if (res.statusCode === 404) {
      res.resume();
      throw new NotFoundError(`blob ${desc.digest} is not in ${this.ref.host}/${this.ref.repo}`);
    }
    if (offset > 0 && res.statusCode !== 206) {
      res.resume();
      throw new RegistryError(`blob ${desc.digest} from ${this.description}: the connection dropped at byte ${offset} and the server does not resume (it ignored a Range request); try again`);
    }
    return res;
  }

  /** The blob's bytes; a connection that drops mid-way is resumed from the byte reached (Range). */
  async openBlob(desc: BlobDescriptor): Promise<Readable> {
    const first = await this.blobResponse(desc, 0);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- an async generator cannot be an arrow function
    const self = this;
    async function* chunks(): AsyncGenerator<Buffer> {
      let res: IncomingMessage | undefined = first;
      let received = 0;
      for (let attempt = 0; ; attempt++) {
        try {
          res ??= await self.blobResponse(desc, received);
          for await (const c of res as AsyncIterable<Buffer>) {
            received += c.length;
            yield c;
          }
          if (desc.size < 0 || received >= desc.size) return;
          throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
        } catch (err) {
          res?.destroy();
          res = undefined;
          if (!isTransientError(err) || attempt >= self.retries) {
            if (err instanceof Error && !(err instanceof RegistryError) && isTransientError(err)) {
              throw new RegistryError(`blob ${desc.digest} from ${self.description}: connection lost at byte ${received} of ${desc.size} (after ${attempt + 1} attempts)`);
            }
            throw err;
          }
          await sleep(Math.min(self.backoffMs * 2 ** attempt, 10_000));
        } finally {
          res?.destroy();
        }
      }
    }
    return Readable.from(chunks(), { objectMode: false, highWaterMark: 1 << 20 });
  }

  async checkBlob(desc: BlobDescriptor): Promise<void> {
    const res = await this.http.request({ method: 'HEAD', path: this.path('blobs', desc.digest), scope: this.scope });
    res.resume();
    if (res.statusCode === 404) throw new NotFoundError(`blob ${desc.digest} is not in ${this.ref.host}/${this.ref.repo}`);
    const len = Number(res.headers['content-length']);
    if (res.headers['content-length'] !== undefined && desc.size >= 0 && len !== desc.size) {
      throw new RegistryError(`blob ${desc.digest} in ${this.ref.host}/${this.ref.repo} is ${len} bytes, its descriptor says ${desc.size}: the manifest lies`);
    }
  }

  /** OCI 1.1 referrers API where the registry has it, else the `sha256-<hex>` fallback tag. */
  async referrers(subject: Descriptor): Promise<Descriptor[]> {
    if (referrersApiOf.get(this.http) !== 'no') {
      const found = await this.referrersFromApi(subject);
      if (found) return found;
    }
    const tag = referrersTagOf(subject.digest);
    const got = await this.fetchManifestBytes(tag);
    if (!got) return [];
    const desc = this.describe(got.bytes, got.contentType, `referrers tag ${tag} in ${this.description}`);
    const m = parseManifest(got.bytes, `referrers tag ${tag} in ${this.description}`);
    if (m.kind !== 'index') return [];
    this.fallbackTags.set(tag, desc);
    return m.manifests;
  }

  private async referrersFromApi(subject: Descriptor): Promise<Descriptor[] | undefined> {
    const out: Descriptor[] = [];
    const links = new PageLinks(this.path('referrers', subject.digest), `referrers of ${subject.digest} in ${this.description}`, MAX_REFERRER_PAGES);
    let path: string | undefined = links.first();
    while (path) {
      const res = await this.http.request({ method: 'GET', path, scope: this.scope, headers: { accept: MediaType.ociIndex } });
      const type = res.headers['content-type']?.split(';')[0]?.trim();
      if (res.statusCode === 404 || type !== MediaType.ociIndex) {
        // 2.8 answers 404 (no such route): the API is missing, the fallback tag schema applies.
        res.resume();
        referrersApiOf.set(this.http, 'no');
        return undefined;
      }
      referrersApiOf.set(this.http, 'yes');
      const m = parseManifest(await readBody(res, MAX_MANIFEST_BYTES, `referrers of ${subject.digest}`), `referrers of ${subject.digest} in ${this.description}`);
      for (const d of m.manifests) out.push(d);
      if (out.length > MAX_REFERRERS) throw new RegistryError(`referrers of ${subject.digest} in ${this.description}: more than ${MAX_REFERRERS}, refused`);
      path = links.next(res);
    }
    return out;
  }

  /** Every tag of the repository (`/v2/<name>/tags/list`, paged); `pageSize` sets `n`. */
  async listTags(pageSize?: number): Promise<string[]> {
    return listAll(this.http, { path: `/v2/${this.ref.repo}/tags/list`, key: 'tags', scope: this.scope, pageSize, what: `tags of ${this.ref.host}/${this.ref.repo}` });
  }

  async close(): Promise<void> {
    releaseHttp(this.http);
  }
}
