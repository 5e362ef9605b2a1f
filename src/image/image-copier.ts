import pLimit, { type LimitFunction } from 'p-limit';
import { DigestMismatchError, InvalidInputError, NotFoundError, SizeMismatchError } from '../errors.js';
import { sha256 } from './digest.js';
import { parseManifest, platformString, requiredBlobs, type BlobDescriptor, type Descriptor, type ParsedManifest } from './manifest.js';
import { referrerListing } from './referrers-tag.js';
import type { ImageSink, ImageSource } from './transfer.js';

export interface CopyProgress {
  onBlob?(desc: BlobDescriptor, result: { uploaded: boolean; bytes: number }): void;
  onManifest?(desc: Descriptor): void;
}

export interface CopyOptions {
  concurrency: number;
  /** `os/arch[/variant]` values: copy only this child of an index. */
  platforms?: string[];
  /** Copy manifests whose `subject` is a copied manifest (default true). */
  referrers?: boolean;
  progress?: CopyProgress;
  /** A limiter shared with other copiers (a whole-store copy's repositories): then `concurrency` is its business. */
  limit?: LimitFunction;
}

export interface CopyStats {
  blobsUploaded: number;
  /** Of the uploaded: damaged copies in the sink (wrong size, or with --repair corrupt) replaced. */
  blobsReplaced: number;
  blobsSkipped: number;
  bytesUploaded: number;
  manifestsWritten: number;
  manifests: number;
}

/** Totals of several copies (one per destination repository or source). */
export function sumStats(all: CopyStats[]): CopyStats {
  const t: CopyStats = { blobsUploaded: 0, blobsReplaced: 0, blobsSkipped: 0, bytesUploaded: 0, manifestsWritten: 0, manifests: 0 };
  for (const s of all) for (const k of Object.keys(t) as (keyof CopyStats)[]) t[k] += s[k];
  return t;
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

interface PlannedManifest {
  desc: Descriptor;
  bytes: Buffer;
}

/** What a copy will write: blobs, then manifests in an order where each follows its references. */
export interface CopyPlan {
  roots: Descriptor[];
  blobs: Map<string, BlobDescriptor>;
  manifests: PlannedManifest[];
}

/**
 * Copies image graphs from a source to a sink in two phases. Planning fetches and checks every
 * manifest and asks the source about every blob before anything is written, so a broken source
 * (missing blob, lying size, bad digest, unknown media type) fails with nothing written. Then
 * blobs go in parallel (bounded, each once), and manifests after everything they reference, so
 * the sink never holds a manifest whose references are missing. A manifest the sink already has
 * is not descended into: its graph is there.
 */
export class ImageCopier {
  readonly stats: CopyStats = { blobsUploaded: 0, blobsReplaced: 0, blobsSkipped: 0, bytesUploaded: 0, manifestsWritten: 0, manifests: 0 };
  private readonly limit;
  private readonly planned = new Set<string>();

  constructor(
    private readonly source: ImageSource,
    private readonly sink: ImageSink,
    private readonly opts: CopyOptions,
  ) {
    this.limit = opts.limit ?? pLimit(Math.max(1, opts.concurrency));
  }

  /** Copies one image (and its referrers); returns the descriptor that ended up in the sink. */
  async copy(root: Descriptor): Promise<Descriptor> {
    const plan = await this.plan([root]);
    await this.execute(plan);
    return plan.roots[0]!;
  }

  async plan(roots: Descriptor[]): Promise<CopyPlan> {
    const plan: CopyPlan = { roots: [], blobs: new Map(), manifests: [] };
    for (const r of roots) plan.roots.push(await this.planRoot(r, plan));
    for (const b of plan.blobs.values()) this.sink.refuseBlob?.(b);
    await Promise.all([...plan.blobs.values()].map((b) => this.limit(() => this.source.checkBlob?.(b))));
    return plan;
  }

  private async planRoot(root: Descriptor, plan: CopyPlan): Promise<Descriptor> {
    let { bytes, manifest } = await fetchManifest(this.source, root);
    let desc: Descriptor = { ...root, mediaType: root.mediaType ?? manifest.mediaType };
    if (manifest.kind === 'index' && this.opts.platforms?.length) {
      desc = this.choosePlatform(manifest);
      ({ bytes, manifest } = await fetchManifest(this.source, desc));
    }
    this.sink.checkRoot?.(desc, manifest);
    await this.planManifest(desc, bytes, manifest, plan);
    if (this.opts.referrers !== false) await this.planReferrers(desc, plan);
    return desc;
  }

  private async planManifest(desc: Descriptor, bytes: Buffer, manifest: ParsedManifest, plan: CopyPlan): Promise<void> {
    if (this.planned.has(desc.digest)) return;
    this.planned.add(desc.digest);
    this.stats.manifests++;
    const present = await this.sink.hasManifest(desc, manifest);
    if (manifest.kind === 'index') {
      // Children are checked even under an index the sink has: one of them may be damaged there.
      for (const child of manifest.manifests) {
        const c = await fetchManifest(this.source, child);
        await this.planManifest(child, c.bytes, c.manifest, plan);
      }
    } else if (!present) {
      for (const b of requiredBlobs(manifest)) {
        if (b.size < 0) throw new InvalidInputError(`manifest ${desc.digest} in ${this.source.description} is a legacy schema 1 manifest: convert it first`);
        plan.blobs.set(b.digest, b);
      }
    }
    if (!present) plan.manifests.push({ desc, bytes });
  }

  private async planReferrers(subject: Descriptor, plan: CopyPlan): Promise<void> {
    if (!this.source.referrers) return;
    for (const r of await this.source.referrers(subject)) {
      if (this.planned.has(r.digest)) continue;
      const { bytes, manifest } = await fetchManifest(this.source, r);
      await this.planManifest(r, bytes, manifest, plan);
      this.sink.noteReferrer?.(subject.digest, referrerListing(r, bytes, manifest));
      await this.planReferrers(r, plan);
    }
  }

  /** `--platform`: one match copies that child as the image itself. */
  private choosePlatform(index: ParsedManifest): Descriptor {
    const wanted = this.opts.platforms!;
    const chosen = index.manifests.filter((c) => wanted.some((w) => platformMatches(w, platformString(c.platform))));
    const available = index.manifests
      .map((c) => platformString(c.platform))
      .filter(Boolean)
      .join(', ');
    if (chosen.length === 0) {
      throw new NotFoundError(`no platform ${wanted.join(', ')} in ${this.source.description}: it has ${available || 'no platforms'}`);
    }
    if (chosen.length > 1) {
      throw new InvalidInputError(`--platform ${wanted.join(', ')} selects ${chosen.length} images of the index in ${this.source.description}; select one, or copy the whole index without --platform`);
    }
    return chosen[0]!;
  }

  async execute(plan: CopyPlan): Promise<void> {
    await Promise.all(
      [...plan.blobs.values()].map((desc) =>
        this.limit(async () => {
          const r = await this.sink.putBlob(desc, () => this.source.openBlob(desc));
          if (r.uploaded) {
            this.stats.blobsUploaded++;
            this.stats.bytesUploaded += r.bytes;
            if (r.replaced) this.stats.blobsReplaced++;
          } else this.stats.blobsSkipped++;
          this.opts.progress?.onBlob?.(desc, r);
        }),
      ),
    );
    for (const m of plan.manifests) {
      this.stats.manifestsWritten += (await this.sink.putManifest(m.desc, m.bytes)) > 0 ? 1 : 0;
      this.opts.progress?.onManifest?.(m.desc);
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
