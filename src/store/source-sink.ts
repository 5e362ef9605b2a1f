// The store as an image source (pull, copy) and as an image sink (push, copy).
import type { Readable } from 'node:stream';
import type { StorageDriver } from '../drivers/driver.js';
import { NotFoundError, SizeMismatchError } from '../errors.js';
import { attachmentTags } from '../image/attachments.js';
import { isDigest, type AnyDigest, type Digest } from '../image/digest.js';
import { parseManifest, type BlobDescriptor, type Descriptor, type ParsedManifest } from '../image/manifest.js';
import { formatStoreRef, type StoreRef } from '../image/reference.js';
import { mergedReferrersIndex, ReferrerNotes, referrersTagOf } from '../image/referrers-tag.js';
import type { BlobPutResult, ImageSink, ImageSource, SourceImage } from '../image/transfer.js';
import { linkedBlob, openBlob, statBlob, uploadBlob } from './blobs.js';
import { MalformedLinkError, readLink } from './links.js';
import { getManifest, hasIntactManifest, hasRevision, putManifest } from './manifests.js';
import { layerLinkPath, tagCurrentLinkPath } from './paths.js';
import { resolveTag, tagManifest } from './tags.js';

/** Digest a store reference names: its digest, else its tag (default `latest`). */
export async function resolveStoreRef(d: StorageDriver, ref: StoreRef): Promise<Digest> {
  if (ref.digest) {
    if (!(await hasRevision(d, ref.repo, ref.digest))) throw new NotFoundError(`manifest ${ref.digest} is not in repository ${ref.repo}`);
    return ref.digest;
  }
  return resolveTag(d, ref.repo, ref.tag ?? 'latest');
}

export async function storeDescriptor(d: StorageDriver, repo: string, digest: Digest): Promise<{ desc: Descriptor; bytes: Buffer }> {
  const bytes = await getManifest(d, repo, digest);
  const m = parseManifest(bytes, `manifest ${digest} in ${repo}`);
  return { desc: { mediaType: m.mediaType, digest, size: bytes.length }, bytes };
}

export class StoreSource implements ImageSource {
  readonly description: string;

  constructor(
    private readonly d: StorageDriver,
    readonly ref: StoreRef,
  ) {
    this.description = `store ${formatStoreRef(ref)}`;
  }

  async images(): Promise<SourceImage[]> {
    const digest = await resolveStoreRef(this.d, this.ref);
    const { desc } = await storeDescriptor(this.d, this.ref.repo, digest);
    return [{ name: this.ref.digest ? undefined : (this.ref.tag ?? 'latest'), descriptor: desc }];
  }

  getManifest(desc: Descriptor): Promise<Buffer> {
    return getManifest(this.d, this.ref.repo, desc.digest);
  }

  async openBlob(desc: BlobDescriptor): Promise<Readable> {
    return openBlob(this.d, await this.stored(desc));
  }

  /** Where the blob is stored: a sha384/sha512 digest through the repository's alias link, as the registry resolves it. */
  private async stored(desc: BlobDescriptor): Promise<Digest> {
    if (isDigest(desc.digest)) return desc.digest;
    const target = await linkedBlob(this.d, this.ref.repo, desc.digest);
    if (!target) throw new NotFoundError(`blob ${desc.digest} of ${this.description} has no sha256 link in the repository (${layerLinkPath(this.ref.repo, desc.digest)}): run regbucket verify there`);
    return target;
  }

  /** The blob is in the store with the descriptor's size (a copy checks every one before its first write). */
  async checkBlob(desc: BlobDescriptor): Promise<void> {
    const st = await statBlob(this.d, await this.stored(desc));
    if (!st) throw new NotFoundError(`blob ${desc.digest} of ${this.description} is missing from the source store: run regbucket verify there (push the image again to repair it)`);
    if (desc.size >= 0 && st.size !== desc.size) throw new SizeMismatchError(desc.digest, desc.size, st.size, `${this.description}: the source store's copy`);
  }

  readonly fallbackTags = new Map<string, Descriptor>();

  /**
   * Referrers listed under the subject's `sha256-<hex>` fallback tag, the way clients of a
   * registry without the referrers API (2.8) record them. Manifests that name the subject but
   * are in no such tag are not found (that would take reading every manifest of the repository).
   */
  async referrers(subject: Descriptor): Promise<Descriptor[]> {
    const [listed, attached] = await Promise.all([this.fallbackReferrers(subject), Promise.all(attachmentTags(subject.digest).map((t) => this.tagged(t)))]);
    // cosign's tag-scheme attachments travel with their subject like referrers, under their tag.
    const out = [...listed];
    attachmentTags(subject.digest).forEach((tag, i) => {
      const desc = attached[i];
      if (!desc) return;
      this.fallbackTags.set(tag, desc);
      out.push(desc);
    });
    return out;
  }

  /** The manifest a tag names, when it is a revision of the repository. */
  private async tagged(tag: string): Promise<Descriptor | undefined> {
    const digest = await readLink(this.d, tagCurrentLinkPath(this.ref.repo, tag)).catch((err: unknown) => {
      if (err instanceof MalformedLinkError) return undefined; // a tag no client can resolve either
      throw err;
    });
    if (!digest || !(await hasRevision(this.d, this.ref.repo, digest))) return undefined;
    return (await storeDescriptor(this.d, this.ref.repo, digest)).desc;
  }

  private async fallbackReferrers(subject: Descriptor): Promise<Descriptor[]> {
    const tag = referrersTagOf(subject.digest);
    const digest = await readLink(this.d, tagCurrentLinkPath(this.ref.repo, tag));
    if (!digest || !(await hasRevision(this.d, this.ref.repo, digest))) return [];
    const { desc, bytes } = await storeDescriptor(this.d, this.ref.repo, digest);
    const m = parseManifest(bytes, `referrers tag ${this.ref.repo}:${tag}`);
    if (m.kind !== 'index') return [];
    this.fallbackTags.set(tag, desc);
    return m.manifests;
  }
}

export interface StoreSinkOptions {
  /** Re-hash every blob and manifest the store has already, replacing damaged ones (--repair). */
  repair?: boolean;
}

export class StoreSink implements ImageSink {
  readonly description: string;
  /** Blobs written or found intact and linked by this sink: a manifest put does not look them up again. */
  private readonly linked = new Set<AnyDigest>();
  private readonly referrers = new ReferrerNotes();

  constructor(
    private readonly d: StorageDriver,
    private readonly repo: string,
    private readonly opts: StoreSinkOptions = {},
  ) {
    this.description = `store repository ${repo}`;
  }

  async putBlob(desc: BlobDescriptor, open: () => Promise<Readable>): Promise<BlobPutResult> {
    const r = await uploadBlob(this.d, this.repo, desc, open, `blob ${desc.digest}`, { rehash: this.opts.repair });
    this.linked.add(desc.digest);
    return r;
  }

  /** Not "the revision link exists": its manifest blob and (image manifests) its blobs must be there too. */
  async hasManifest(desc: Descriptor, manifest: ParsedManifest): Promise<boolean> {
    if (this.opts.repair) return false; // every blob is re-hashed
    return hasIntactManifest(this.d, this.repo, desc, manifest);
  }

  async putManifest(desc: Descriptor, bytes: Buffer): Promise<number> {
    return (await putManifest(this.d, this.repo, bytes, desc.digest, { linked: this.linked, rehash: this.opts.repair })).writes;
  }

  tag(name: string, desc: Descriptor): Promise<number> {
    return tagManifest(this.d, this.repo, name, desc.digest);
  }

  noteReferrer(subject: AnyDigest, listed: Descriptor): void {
    this.referrers.add(subject, listed);
  }

  /**
   * The registry serving the store (2.8) has no referrers API: each noted subject's `sha256-<hex>`
   * tag lists its referrers, written or extended here (left alone when it lists them all, or when
   * it is not a referrers index or does not resolve: someone else's tag).
   */
  async commit(): Promise<void> {
    for (const [subject, added] of this.referrers.take()) {
      const tag = referrersTagOf(subject);
      const current = await readLink(this.d, tagCurrentLinkPath(this.repo, tag)).catch((err: unknown) => {
        if (err instanceof MalformedLinkError) return null;
        throw err;
      });
      if (current === null || (current && !(await hasRevision(this.d, this.repo, current)))) continue;
      const existing = current ? await getManifest(this.d, this.repo, current) : undefined;
      const bytes = mergedReferrersIndex(existing, added, `referrers tag ${this.repo}:${tag}`);
      if (!bytes) continue;
      const { digest } = await putManifest(this.d, this.repo, bytes);
      await tagManifest(this.d, this.repo, tag, digest);
    }
  }
}
