// Sources produce images, sinks take them; copying is "read from one, write to the other"
// (go-containerregistry's shape), so a new format is one small module, not a change to every command.
import type { Readable } from 'node:stream';
import type { AnyDigest } from './digest.js';
import type { BlobDescriptor, Descriptor, ParsedManifest } from './manifest.js';

/** One image a source offers: a root manifest or index, and the name it carries there (tag / ref). */
export interface SourceImage {
  name?: string;
  descriptor: Descriptor;
}

export interface ImageSource {
  /** For messages: `oci:/path/to/layout`, `store repo`, ... */
  readonly description: string;
  /** The images selected by the reference the source was opened with. */
  images(): Promise<SourceImage[]>;
  /** Raw manifest bytes; the copier checks them against the descriptor. */
  getManifest(desc: Descriptor): Promise<Buffer>;
  /** Blob bytes as a stream; the sink checks them against the descriptor as they flow. */
  openBlob(desc: BlobDescriptor): Promise<Readable>;
  /**
   * Where the source can tell cheaply: throws unless the blob is there with the descriptor's size
   * (lets a copy fail before anything is written).
   */
  checkBlob?(desc: BlobDescriptor): Promise<void>;
  /** Manifests whose OCI 1.1 `subject` is `subject` (signatures, SBOMs), where the source can tell. */
  referrers?(subject: Descriptor): Promise<Descriptor[]>;
  /**
   * Referrers fallback tags (`sha256-<hex>` -> their index) that referrers() read, where the
   * source lists referrers that way: a copy writes them as tags too, for registries without the
   * referrers API (2.8) serving the destination.
   */
  readonly fallbackTags?: ReadonlyMap<string, Descriptor>;
  close?(): Promise<void>;
}

export interface BlobPutResult {
  uploaded: boolean;
  bytes: number;
  /** The sink had a damaged copy (wrong size, or bytes that hash to another digest) that this replaced. */
  replaced?: 'wrong-size' | 'corrupt';
}

export interface ImageSink {
  readonly description: string;
  /** Writes a blob unless the sink has it (then only links it where that applies). */
  putBlob(desc: BlobDescriptor, open: () => Promise<Readable>): Promise<BlobPutResult>;
  /**
   * True when the sink has this manifest intact, and for an image manifest every blob it needs
   * (as far as the sink can tell cheaply: sizes); the copier then skips them. An index's
   * children are asked about one by one.
   */
  hasManifest(desc: Descriptor, manifest: ParsedManifest): Promise<boolean>;
  /** Stores a manifest whose references the sink already holds; returns files written. */
  putManifest(desc: Descriptor, bytes: Buffer): Promise<number>;
  /** Names the image (a tag in a store, a ref annotation in a layout). */
  tag(name: string, desc: Descriptor): Promise<number>;
  /** Refuses, before anything is written, a blob the format cannot hold (a sha512 blob where only sha256 paths exist). */
  refuseBlob?(desc: BlobDescriptor): void;
  /** Refuses a root the format cannot hold (docker-archive: an index), before anything is written. */
  checkRoot?(desc: Descriptor, manifest: ParsedManifest): void;
  /** Checks the destination before anything is written: never inside `storeRoot` (the store exported from). */
  checkDestination?(storeRoot?: string): Promise<void>;
  /** Which referrers fallback tags (`sha256-<hex>`) the sink needs: a registry with the referrers API needs none. */
  fallbackTagFilter?(): Promise<(tag: string) => boolean>;
  /**
   * A referrer of `subject` the copy carries (written now or there already): a sink that lists
   * referrers in `sha256-<hex>` tags (src/image/referrers-tag.ts) writes them at commit.
   */
  noteReferrer?(subject: AnyDigest, listed: Descriptor): void;
  /** Makes everything written visible where the format needs one final step (index.json, referrers tags). */
  commit?(): Promise<void>;
  close?(): Promise<void>;
}

/** Where a push writes, repository by repository: the store, or a live registry (docker://). */
export interface PushTarget {
  sink(repo: string): ImageSink;
  /** The destination as the user reads it: `repo:tag`, `docker://host/repo:tag`. */
  name(repo: string, tag: string): string;
}
