// What the gc knows about a store: one table of every digest it has seen (blobs listed in
// `blobs/`, digests named by links and manifests), with typed-array columns, and per repository
// the digests its links name. Times are milliseconds since the epoch; NaN is "not known yet"
// (tree listings learn names only; times are fetched for the few candidates that need one).
import { Column, DigestSet } from './digest-set.js';

/** Flags per digest. */
export const LISTED = 1; // blob data exists (seen in `blobs/`)
export const MARKED = 2; // referenced by something kept: never deleted
export const DELETE = 4; // planned for deletion
export const DELETED = 8; // deleted by this run

export class BlobTable {
  readonly set: DigestSet;
  readonly flags: Column<Uint8Array>;
  /** Size of the blob's data in bytes. */
  readonly size: Column<Float64Array>;
  /** Modification time of the blob's data. */
  readonly mtime: Column<Float64Array>;

  constructor(expected = 4096) {
    this.set = new DigestSet(expected);
    this.flags = new Column(this.set, (n) => new Uint8Array(n));
    this.size = new Column(this.set, (n) => new Float64Array(n), NaN);
    this.mtime = new Column(this.set, (n) => new Float64Array(n), NaN);
  }

  add(digest: string): number {
    return this.set.add(digest);
  }

  /** Records a blob seen in `blobs/`. */
  listed(hex: string, size = NaN, mtime = NaN): number {
    const i = this.set.add(hex);
    this.flags.data[i]! |= LISTED;
    this.size.data[i] = size;
    this.mtime.data[i] = mtime;
    return i;
  }

  has(i: number, flag: number): boolean {
    return (this.flags.data[i]! & flag) !== 0;
  }

  /** Bytes held by the table and its columns. */
  get bytes(): number {
    return this.set.bytes + this.set.capacity * (1 + 8 + 8);
  }
}

export interface TagScan {
  name: string;
  /** Digest index the `current` link names; undefined when there is no current link. */
  current?: number;
  /** Why the current link could not be read (malformed): the repo is then kept whole. */
  unreadable?: string;
  /** The listing's ETag of the current link (flat listings), to resolve it without a read. */
  currentEtag?: string;
  /** The current link's modification time (the push time), when the listing gave it. */
  currentTime?: number;
  /** Digest indexes with an entry in the tag's `index/` (history); undefined until listed. */
  history?: number[];
}

export interface UploadScan {
  id: string;
  /** The upload directory. */
  path: string;
  /** From `startedat`, else the newest modification time inside the upload. */
  startedAt: number;
}

export interface RepoScan {
  name: string;
  /** A name outside the grammar: marked from (the registry walks it), nothing deleted in it. */
  outsideGrammar?: boolean;
  /** A name no driver path can hold: nothing in it can be read, so no blob of the store is deleted. */
  unaddressable?: boolean;
  hasManifests: boolean;
  hasLayers: boolean;
  hasUploads: boolean;
  /** Digest indexes of revision links, with each link's modification time. */
  revisions: number[];
  revisionTimes: number[];
  /** Digest indexes of `_layers` links, with each link's modification time (-1: no link file). */
  layers: number[];
  layerTimes: number[];
  tags: TagScan[];
  uploads: UploadScan[];
  /** Newest modification time of any file of the repository, when known. */
  newest: number;
}

export function newRepo(name: string): RepoScan {
  return {
    name,
    hasManifests: false,
    hasLayers: false,
    hasUploads: false,
    revisions: [],
    revisionTimes: [],
    layers: [],
    layerTimes: [],
    tags: [],
    uploads: [],
    newest: NaN,
  };
}

/** An S3 multipart upload in flight under the store's prefix. */
export interface MultipartUpload {
  key: string;
  uploadId: string;
  initiated: number;
}

/** A leftover of a killed write outside the registry's layout (drivers/driver.ts WriteDebris). */
export interface WriteDebrisEntry {
  path: string;
  modified: number;
}

export interface StoreScan {
  table: BlobTable;
  repos: RepoScan[];
  /** Undefined when the backend has no multipart uploads (filesystem, memory). */
  multipart?: MultipartUpload[];
}
