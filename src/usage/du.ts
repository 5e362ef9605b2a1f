// `du`, pure: from one reading of the store (retention/inventory.ts), what each repository uses,
// what only it uses (deleting it and running gc frees that), what it shares, and what gc frees
// now. A repository uses the blobs its links name: `_layers` (layers, configs) and revisions
// (manifests). Only blobs present in `blobs/` count.
import { MARKED, LISTED, type BlobTable, type RepoScan } from '../gc/store-scan.js';

export interface RepoUsage {
  name: string;
  /** Bytes of the distinct blobs the repository links. */
  bytes: number;
  /** Bytes of blobs no other repository links: what deleting it (then gc) frees. */
  exclusiveBytes: number;
  /** Bytes of blobs other repositories link too. */
  sharedBytes: number;
  /** Bytes of its blobs nothing in the store references: what gc frees now. */
  reclaimableBytes: number;
  blobs: number;
  /** Uploads in flight (`_uploads`) and the bytes written to them so far. */
  uploads: number;
  uploadBytes: number;
}

export interface StoreUsage {
  schemaVersion: 1;
  repositories: RepoUsage[];
  total: {
    /** Bytes of every blob in the store (each once). */
    bytes: number;
    blobs: number;
    /** Sum of the repositories' bytes (before deduplication). */
    logicalBytes: number;
    /** logicalBytes / bytes (1 when nothing is shared; 0 for an empty store). */
    dedupRatio: number;
    /** Bytes of blobs nothing references: what gc frees now (once older than its --min-age). */
    reclaimableBytes: number;
    /** Bytes of blobs no repository links at all. */
    unlinkedBytes: number;
    uploads: number;
    uploadBytes: number;
  };
}

export function computeUsage(table: BlobTable, repos: RepoScan[], uploads: Map<string, { count: number; bytes: number }>): StoreUsage {
  const size = (b: number): number => table.size.data[b]! || 0;
  // owner: -1 no repository, -2 several, else the one repository's index.
  const owner = new Int32Array(table.set.size).fill(-1);
  const sets = repos.map((r, ri) => {
    const mine = [...new Set([...r.layers, ...r.revisions])].filter((b) => table.has(b, LISTED));
    for (const b of mine) owner[b] = owner[b] === -1 ? ri : -2;
    return mine;
  });
  const repositories = repos.map((r, ri): RepoUsage => {
    let bytes = 0;
    let exclusive = 0;
    let reclaimable = 0;
    for (const b of sets[ri]!) {
      bytes += size(b);
      if (owner[b] === ri) exclusive += size(b);
      if (!table.has(b, MARKED)) reclaimable += size(b);
    }
    const u = uploads.get(r.name) ?? { count: 0, bytes: 0 };
    return { name: r.name, bytes, exclusiveBytes: exclusive, sharedBytes: bytes - exclusive, reclaimableBytes: reclaimable, blobs: sets[ri]!.length, uploads: u.count, uploadBytes: u.bytes };
  });
  let bytes = 0;
  let blobs = 0;
  let reclaimable = 0;
  let unlinked = 0;
  for (let i = 0; i < table.set.size; i++) {
    if (!table.has(i, LISTED)) continue;
    blobs++;
    bytes += size(i);
    if (!table.has(i, MARKED)) reclaimable += size(i);
    if (owner[i] === -1) unlinked += size(i);
  }
  const logicalBytes = repositories.reduce((n, r) => n + r.bytes, 0);
  return {
    schemaVersion: 1,
    repositories,
    total: {
      bytes,
      blobs,
      logicalBytes,
      dedupRatio: bytes > 0 ? Math.round((logicalBytes / bytes) * 1000) / 1000 : 0,
      reclaimableBytes: reclaimable,
      unlinkedBytes: unlinked,
      uploads: repositories.reduce((n, r) => n + r.uploads, 0),
      uploadBytes: repositories.reduce((n, r) => n + r.uploadBytes, 0),
    },
  };
}
