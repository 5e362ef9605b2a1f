// A live registry as an image sink: `docker://<host>[:<port>]/<repo>[:<tag>]` over the Registry
// HTTP API v2. Blobs: HEAD first (a blob the registry has is not sent), a cross-repository mount
// when a repository of the same registry may hold it, else an upload streamed from the source
// (one PUT for small blobs, PATCH chunks of bounded size for big ones). Manifests go with their
// exact bytes and declared media type, so every digest stays what it was.
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidReferenceError } from '../errors.js';
import { DigestingStream, sha256, type AnyDigest } from './digest.js';
import { MAX_MANIFEST_BYTES, parseManifest, type BlobDescriptor, type Descriptor, type ParsedManifest } from './manifest.js';
import { MANIFEST_ACCEPT, MediaType } from './mediatypes.js';
import { RegistryAuthError, RegistryConnectionError, RegistryError } from './registry-auth.js';
import { formatDockerRef, openRegistryHttp, releaseHttp, type DockerRef, type DockerSourceOptions } from './registry-client.js';
import { readBody, type RegistryHttp, type RequestSpec } from './registry-http.js';
import { mergedReferrersIndex, ReferrerNotes, referrersTagOf } from './referrers-tag.js';
import type { BlobPutResult, ImageSink } from './transfer.js';

export interface DockerSinkOptions extends DockerSourceOptions {
  /** Blobs bigger than this go up in PATCH chunks of this size (the memory one upload holds). */
  chunkSize?: number;
}

export const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;

/** `location` (absolute or relative, as registries answer) as a path below the origin, with `params` added. */
function uploadPath(location: string | undefined, what: string, params: Record<string, string> = {}): string {
  if (!location) throw new RegistryError(`${what}: the registry answered without a Location for the upload`);
  const u = new URL(location, 'http://registry.invalid');
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return `${u.pathname}${u.search}`;
}

/** Reads `src` in pieces of exactly `size` bytes (the last may be shorter); holds one piece at a time. */
async function* pieces(src: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of src) {
    let c = chunk;
    while (c.length > 0) {
      const take = Math.min(size - n, c.length);
      parts.push(c.subarray(0, take));
      n += take;
      c = c.subarray(take);
      if (n === size) {
        yield Buffer.concat(parts);
        parts = [];
        n = 0;
      }
    }
  }
  if (n > 0) yield Buffer.concat(parts);
}

/** An upload the registry lost or refused part-way (a dropped connection, a 5xx, an upload session it no longer knows): worth a new session. */
function uploadBroken(err: unknown): boolean {
  if (err instanceof RegistryConnectionError) return true;
  if (!(err instanceof RegistryError) || err instanceof RegistryAuthError || err.status === undefined) return false;
  return err.status >= 500 || err.status === 404 || err.status === 416;
}

export class DockerSink implements ImageSink {
  readonly description: string;
  /** A repository of the same registry that may hold the blobs (where the image came from): blobs are mounted from it. */
  mountFrom?: string;
  /** Blobs the registry took by a cross-repository mount (no byte sent). */
  blobsMounted = 0;
  private readonly http: RegistryHttp;
  private readonly scope: string;
  private readonly chunkSize: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly sent = new Map<string, Buffer>();
  /** Referrers the copy carries, by subject: listed in the subject's `sha256-<hex>` tag at commit where the registry has no referrers API. */
  private readonly referrersOf = new ReferrerNotes();
  private referrersApi?: Promise<boolean>;

  constructor(
    readonly ref: DockerRef,
    opts: DockerSinkOptions = {},
  ) {
    if (ref.digest) throw new InvalidReferenceError(`${formatDockerRef(ref)}: a destination is docker://<host>/<repo>[:<tag>], not a digest`);
    this.description = formatDockerRef(ref);
    this.chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.retries = opts.retries ?? 5;
    this.backoffMs = opts.backoffMs ?? 250;
    this.http = openRegistryHttp(ref, opts, 'dest');
    this.scope = `repository:${ref.repo}:pull,push`;
  }

  private path(kind: 'manifests' | 'blobs' | 'referrers', reference: string): string {
    return `/v2/${this.ref.repo}/${kind}/${reference}`;
  }

  /** A request whose answer must be `want`; anything else is a one-line error naming `what`. */
  private async expect(spec: Omit<RequestSpec, 'scope'> & { scope?: string }, want: number[], what: string): Promise<IncomingMessage> {
    const res = await this.http.request({ scope: this.scope, ...spec });
    if (want.includes(res.statusCode ?? 0)) return res;
    res.resume();
    throw new RegistryError(`${what} in ${this.description}: ${spec.method} answered ${res.statusCode}`, res.statusCode);
  }

  async putBlob(desc: BlobDescriptor, open: () => Promise<Readable>): Promise<BlobPutResult> {
    const what = `blob ${desc.digest}`;
    const head = await this.http.request({ method: 'HEAD', path: this.path('blobs', desc.digest), scope: this.scope });
    head.resume();
    if (head.statusCode === 200 && (desc.size < 0 || Number(head.headers['content-length']) === desc.size)) return { uploaded: false, bytes: 0 };
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.upload(desc, open, what);
      } catch (err) {
        // A body cut mid-way spoils the registry's upload session: start over with a new one and a fresh stream.
        if (!uploadBroken(err) || attempt >= this.retries) throw err;
        await sleep(this.backoffMs * 2 ** Math.min(attempt, 6));
      }
    }
  }

  /** One upload session: a mount, or POST then the bytes. */
  private async upload(desc: BlobDescriptor, open: () => Promise<Readable>, what: string): Promise<BlobPutResult> {
    let started: IncomingMessage;
    const from = this.mountFrom && this.mountFrom !== this.ref.repo ? this.mountFrom : undefined;
    if (from) {
      const query = new URLSearchParams({ mount: desc.digest, from });
      started = await this.expect({ method: 'POST', path: `/v2/${this.ref.repo}/blobs/uploads/?${query}`, scope: `${this.scope} repository:${from}:pull` }, [201, 202], what);
      started.resume();
      if (started.statusCode === 201) {
        this.blobsMounted++;
        return { uploaded: false, bytes: 0 };
      }
      // 202: the registry does not have it there (or refuses mounts): the upload it opened is used.
    } else {
      started = await this.expect({ method: 'POST', path: `/v2/${this.ref.repo}/blobs/uploads/` }, [202], what);
      started.resume();
    }
    const location = uploadPath(started.headers.location, what);
    if (desc.size >= 0 && desc.size <= this.chunkSize) await this.putWhole(desc, open, location, what);
    else await this.putChunks(desc, open, location, what);
    return { uploaded: true, bytes: desc.size };
  }

  /** One PUT carrying the whole blob, streamed and hashed as it goes. */
  private async putWhole(desc: BlobDescriptor, open: () => Promise<Readable>, location: string, what: string): Promise<void> {
    let check: DigestingStream | undefined;
    const body = async (): Promise<Readable> => {
      check = new DigestingStream({ digest: desc.digest, size: desc.size, where: `${what} from the source` });
      const src = await open();
      pipeline(src, check).catch((err: unknown) => check!.destroy(err as Error));
      return check;
    };
    const res = await this.expect(
      { method: 'PUT', path: uploadPath(location, what, { digest: desc.digest }), headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) }, body, once: true },
      [201],
      what,
    );
    res.resume();
    check?.check(desc.digest, desc.size, `${what} from the source`);
  }

  /** PATCH chunks of chunkSize bytes (one in memory at a time), then the closing PUT. */
  private async putChunks(desc: BlobDescriptor, open: () => Promise<Readable>, location: string, what: string): Promise<void> {
    const check = new DigestingStream({ digest: desc.digest, size: desc.size, where: `${what} from the source` });
    const src = await open();
    const flowing = pipeline(src, check);
    // A chunk refused ends the reading early: that rejection is the refusal's, not a second error.
    flowing.catch(() => {});
    let path = location;
    let offset = 0;
    for await (const piece of pieces(check, this.chunkSize)) {
      const res = await this.expect(
        {
          method: 'PATCH',
          path,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(piece.length), 'content-range': `${offset}-${offset + piece.length - 1}` },
          body: piece,
          once: true,
        },
        [202],
        what,
      );
      res.resume();
      path = uploadPath(res.headers.location, what);
      offset += piece.length;
    }
    await flowing;
    // Checked before the closing PUT: a source that lied leaves an unfinished upload, never a blob.
    check.check(desc.digest, desc.size, `${what} from the source`);
    const done = await this.expect({ method: 'PUT', path: uploadPath(path, what, { digest: desc.digest }), headers: { 'content-length': '0' }, body: Buffer.alloc(0), once: true }, [201], what);
    done.resume();
  }

  async hasManifest(desc: Descriptor, manifest: ParsedManifest): Promise<boolean> {
    const res = await this.http.request({ method: 'HEAD', path: this.path('manifests', desc.digest), scope: this.scope, headers: { accept: `${manifest.mediaType}, ${MANIFEST_ACCEPT}` } });
    res.resume();
    return res.statusCode === 200;
  }

  /** PUT with the exact bytes under their digest; the registry must answer that digest. */
  private async put(reference: string, digest: string, bytes: Buffer): Promise<void> {
    const what = `manifest ${digest}${reference === digest ? '' : ` (tag ${reference})`}`;
    const mediaType = parseManifest(bytes, `${what} for ${this.description}`).mediaType;
    const res = await this.expect({ method: 'PUT', path: this.path('manifests', reference), headers: { 'content-type': mediaType }, body: bytes }, [201], what);
    res.resume();
    const answered = res.headers['docker-content-digest'];
    if (answered !== undefined && answered !== digest) {
      throw new RegistryError(`${what} in ${this.description}: the registry stored it as ${String(answered)}: it changed the bytes`);
    }
  }

  async putManifest(desc: Descriptor, bytes: Buffer): Promise<number> {
    await this.put(desc.digest, desc.digest, bytes);
    this.sent.set(desc.digest, bytes);
    return 1;
  }

  noteReferrer(subject: AnyDigest, listed: Descriptor): void {
    this.referrersOf.add(subject, listed);
  }

  /** Each noted subject's `sha256-<hex>` tag, with the referrers it lacks added (none written when it lists them all). */
  async commit(): Promise<void> {
    if (this.referrersOf.size === 0 || (await this.hasReferrersApi())) return;
    for (const [subject, added] of this.referrersOf.take()) {
      const tag = referrersTagOf(subject);
      const where = `referrers tag ${tag} in ${this.description}`;
      const res = await this.http.request({ method: 'GET', path: this.path('manifests', tag), scope: this.scope, headers: { accept: MediaType.ociIndex } });
      let existing: Buffer | undefined;
      if (res.statusCode === 200) existing = await readBody(res, MAX_MANIFEST_BYTES, where);
      else res.resume();
      const bytes = mergedReferrersIndex(existing, added, where);
      if (bytes) await this.put(tag, sha256(bytes), bytes);
    }
  }

  /** The tag, unless the registry has it on this digest already. */
  async tag(name: string, desc: Descriptor): Promise<number> {
    const head = await this.http.request({ method: 'HEAD', path: this.path('manifests', name), scope: this.scope, headers: { accept: `${desc.mediaType}, ${MANIFEST_ACCEPT}` } });
    head.resume();
    if (head.statusCode === 200 && head.headers['docker-content-digest'] === desc.digest) return 0;
    await this.put(name, desc.digest, this.sent.get(desc.digest) ?? (await this.fetch(desc)));
    return 1;
  }

  /** A manifest the registry has already (the copy skipped it), checked against its digest. */
  private async fetch(desc: Descriptor): Promise<Buffer> {
    const what = `manifest ${desc.digest}`;
    const res = await this.expect({ method: 'GET', path: this.path('manifests', desc.digest), headers: { accept: `${desc.mediaType}, ${MANIFEST_ACCEPT}` } }, [200], what);
    const bytes = await readBody(res, MAX_MANIFEST_BYTES, `${what} in ${this.description}`);
    if (sha256(bytes) !== desc.digest) throw new RegistryError(`${what} in ${this.description}: the registry answered bytes that hash to ${sha256(bytes)}`);
    return bytes;
  }

  /** Whether the registry has the OCI 1.1 referrers API (else referrers are listed in `sha256-<hex>` tags; 2.8 has none). */
  hasReferrersApi(): Promise<boolean> {
    this.referrersApi ??= (async () => {
      const res = await this.http.request({ method: 'GET', path: this.path('referrers', `sha256:${'0'.repeat(64)}`), scope: this.scope, headers: { accept: MediaType.ociIndex } });
      res.resume();
      return res.statusCode === 200 && res.headers['content-type']?.split(';')[0]?.trim() === MediaType.ociIndex;
    })();
    return this.referrersApi;
  }

  async fallbackTagFilter(): Promise<(tag: string) => boolean> {
    const api = await this.hasReferrersApi();
    return (tag) => !(api && /^sha256-[a-f0-9]{64}$/.test(tag));
  }

  async close(): Promise<void> {
    releaseHttp(this.http);
  }
}
