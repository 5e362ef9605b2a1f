import pLimit, { type LimitFunction } from 'p-limit';
import { DigestMismatchError, InvalidInputError, NotFoundError, SizeMismatchError } from '../errors.js';
import { sha256 } from './digest.js';
import { parseManifest, platformString, requiredBlobs, type Descriptor, type ParsedManifest } from './manifest.js';
import type { ImageSink, ImageSource } from './transfer.js';

export interface CopyProgress {
  onBlob?(desc: Descriptor, result: { uploaded: boolean; bytes: number }): void;
  onManifest?(desc: Descriptor): void;
}

export interface CopyOptions {
  concurrency: number;
  /** `os/arch[/variant]` values: copy only these children of an index. */
  platforms?: string[];
  /** Copy manifests whose `subject` is a copied manifest (default true). */
  referrers?: boolean;
  progress?: CopyProgress;
}

export interface CopyStats {
  blobsUploaded: number;
  blobsSkipped: number;
  bytesUploaded: number;
  manifestsWritten: number;
  manifests: number;
}

/** A manifest as fetched and checked: bytes hash to the descriptor's digest and have its size. */
export async function fetchManifest(source: ImageSource, desc: Descriptor): Promise<{ bytes: Buffer; manifest: ParsedManifest }> {
  const bytes = await source.getManifest(desc);
  const actual = sha256(bytes);
  if (actual !== desc.digest) throw new DigestMismatchError(desc.digest, actual, `manifest in ${source.description}`);
  if (desc.size >= 0 && bytes.length !== desc.size) {
    throw new SizeMismatchError(desc.digest, desc.size, bytes.length, `manifest in ${source.description}`);
  }
  return { bytes, manifest: parseManifest(bytes, `manifest ${desc.digest} in ${source.description}`) };
}

/**
 * Copies an image graph from a source to a sink: blobs first (in parallel, bounded, each blob
 * once even when several children share it), then each manifest after everything it references,
 * so the sink never holds a manifest whose references are missing. Only blob transfers take a
 * concurrency slot: the recursion over manifests never waits on a slot it holds.
 */
export class ImageCopier {
  readonly stats: CopyStats = { blobsUploaded: 0, blobsSkipped: 0, bytesUploaded: 0, manifestsWritten: 0, manifests: 0 };
  private readonly limit: LimitFunction;
  private readonly blobs = new Map<string, Promise<void>>();
  private readonly manifests = new Map<string, Promise<Descriptor>>();

  constructor(
    private readonly source: ImageSource,
    private readonly sink: ImageSink,
    private readonly opts: CopyOptions,
  ) {
    this.limit = pLimit(Math.max(1, opts.concurrency));
  }

  /** Copies one root (and its referrers); returns the descriptor that ended up in the sink. */
  async copy(root: Descriptor): Promise<Descriptor> {
    const out = await this.copyManifest(root, true);
    if (this.opts.referrers !== false) await this.copyReferrers(out);
    return out;
  }

  private copyManifest(desc: Descriptor, isRoot: boolean): Promise<Descriptor> {
    const key = `${desc.digest}|${isRoot}`;
    let p = this.manifests.get(key);
    if (!p) {
      p = this.doCopyManifest(desc, isRoot);
      this.manifests.set(key, p);
    }
    return p;
  }

  private async doCopyManifest(desc: Descriptor, isRoot: boolean): Promise<Descriptor> {
    this.stats.manifests++;
    const { bytes, manifest } = await fetchManifest(this.source, desc);
    const full: Descriptor = { ...desc, mediaType: desc.mediaType ?? manifest.mediaType, size: bytes.length };
    if (manifest.kind === 'index' && isRoot && this.opts.platforms?.length) {
      return this.copyPlatforms(manifest);
    }
    if (await this.sink.hasManifest(full)) {
      this.opts.progress?.onManifest?.(full);
      return full;
    }
    if (manifest.kind === 'index') {
      await Promise.all(manifest.manifests.map((c) => this.copyManifest(c, false)));
    } else {
      await Promise.all(requiredBlobs(manifest).map((b) => this.copyBlob(b)));
    }
    this.stats.manifestsWritten += (await this.sink.putManifest(full, bytes)) > 0 ? 1 : 0;
    this.opts.progress?.onManifest?.(full);
    return full;
  }

  /** `--platform`: one match copies that child as the image itself; several are refused for now. */
  private async copyPlatforms(index: ParsedManifest): Promise<Descriptor> {
    const wanted = this.opts.platforms!;
    const chosen = index.manifests.filter((c) => wanted.some((w) => platformMatches(w, platformString(c.platform))));
    const available = index.manifests.map((c) => platformString(c.platform)).filter(Boolean).join(', ');
    if (chosen.length === 0) {
      throw new NotFoundError(`no platform ${wanted.join(', ')} in ${this.source.description}: it has ${available || 'no platforms'}`);
    }
    if (chosen.length > 1) {
      throw new InvalidInputError(
        `--platform ${wanted.join(', ')} selects ${chosen.length} images of the index in ${this.source.description}; select one, or copy the whole index without --platform`,
      );
    }
    return this.copyManifest(chosen[0]!, false);
  }

  private copyBlob(desc: Descriptor): Promise<void> {
    let p = this.blobs.get(desc.digest);
    if (!p) {
      p = this.limit(async () => {
        const r = await this.sink.putBlob(desc, () => this.source.openBlob(desc));
        if (r.uploaded) {
          this.stats.blobsUploaded++;
          this.stats.bytesUploaded += r.bytes;
        } else this.stats.blobsSkipped++;
        this.opts.progress?.onBlob?.(desc, r);
      });
      this.blobs.set(desc.digest, p);
    }
    return p;
  }

  private async copyReferrers(subject: Descriptor): Promise<void> {
    if (!this.source.referrers) return;
    const refs = await this.source.referrers(subject);
    for (const r of refs) {
      const copied = await this.copyManifest(r, false);
      await this.copyReferrers(copied);
    }
  }
}

/** `linux/arm64` matches `linux/arm64/v8`; `linux/arm/v7` needs the variant. */
export function platformMatches(wanted: string, actual: string): boolean {
  if (wanted === actual) return true;
  const w = wanted.split('/');
  const a = actual.split('/');
  return w.length === 2 && a.length === 3 && w[0] === a[0] && w[1] === a[1];
}
