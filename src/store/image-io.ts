// The store as an image source (pull, copy) and as an image sink (push, copy).
import type { Readable } from 'node:stream';
import type { StorageDriver } from '../drivers/driver.js';
import { NotFoundError } from '../errors.js';
import type { Digest } from '../image/digest.js';
import { parseManifest, type Descriptor } from '../image/manifest.js';
import { formatStoreRef, type StoreRef } from '../image/reference.js';
import type { BlobPutResult, ImageSink, ImageSource, SourceImage } from '../image/transfer.js';
import { openBlob, uploadBlob } from './blobs.js';
import { getManifest, hasRevision, putManifest } from './manifests.js';
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
    private readonly ref: StoreRef,
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

  openBlob(desc: Descriptor): Promise<Readable> {
    return openBlob(this.d, desc.digest);
  }
}

export class StoreSink implements ImageSink {
  readonly description: string;

  constructor(
    private readonly d: StorageDriver,
    private readonly repo: string,
  ) {
    this.description = `store repository ${repo}`;
  }

  putBlob(desc: Descriptor, open: () => Promise<Readable>): Promise<BlobPutResult> {
    return uploadBlob(this.d, this.repo, desc, open, `blob ${desc.digest}`);
  }

  hasManifest(desc: Descriptor): Promise<boolean> {
    return hasRevision(this.d, this.repo, desc.digest);
  }

  async putManifest(desc: Descriptor, bytes: Buffer): Promise<number> {
    return (await putManifest(this.d, this.repo, bytes, desc.digest)).writes;
  }

  tag(name: string, desc: Descriptor): Promise<number> {
    return tagManifest(this.d, this.repo, name, desc.digest);
  }
}
