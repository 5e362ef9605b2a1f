// Reading manifests for the mark phase: every revision of every repository once (by digest,
// whatever the number of repositories holding it), and the children of indexes that are not
// revisions anywhere. Only the digests a manifest references are kept, as table indexes.
import type { StorageDriver } from '../drivers/driver.js';
import { isNotFound } from '../errors.js';
import { sha256 } from '../image/digest.js';
import { MAX_MANIFEST_BYTES, parseManifest, type ManifestKind } from '../image/manifest.js';
import { blobDataPath } from '../store/paths.js';
import { eachLimit } from '../util/each-limit.js';
import { hasFastReads } from '../drivers/driver.js';
import { LISTED, type BlobTable } from './store-scan.js';

export type ManifestInfo =
  | {
      state: 'ok';
      kind: ManifestKind;
      /** Config and layers (image manifests, schema 1 fsLayers). */
      blobs: number[];
      /** Child manifests (indexes). */
      children: number[];
      /** The OCI 1.1 subject, -1 for none. */
      subject: number;
    }
  /** A revision whose manifest blob is gone: it references nothing that can be found. */
  | { state: 'missing' }
  /** Bytes that are not a manifest regbucket can follow: what they reference is unknown. */
  | { state: 'unreadable'; reason: string };

export type ManifestGraph = Map<number, ManifestInfo>;

export interface ReadOptions {
  concurrency: number;
  onRead?: (done: number, total: number) => void;
}

/** The manifest's bytes, or why there are none to parse. */
async function manifestBytes(d: StorageDriver, table: BlobTable, i: number): Promise<Buffer | ManifestInfo> {
  const path = blobDataPath(table.set.digest(i));
  // Not LISTED: written after the blob listing (a re-check finds a new revision) or missing.
  let size = table.has(i, LISTED) ? table.size.data[i]! : NaN;
  // A revision that is really a 10 GB layer must not be read into memory.
  const tooBig = (n?: number): ManifestInfo => ({ state: 'unreadable', reason: `its blob is ${n ?? `over ${MAX_MANIFEST_BYTES}`} bytes: not a manifest` });
  try {
    if (Number.isNaN(size) && hasFastReads(d)) {
      const bytes = await d.getSmall(path, MAX_MANIFEST_BYTES);
      return bytes === 'too-big' ? tooBig() : bytes;
    }
    if (Number.isNaN(size)) size = (await d.stat(path)).size;
    if (size > MAX_MANIFEST_BYTES) return tooBig(size);
    return await d.getContent(path);
  } catch (err) {
    if (isNotFound(err)) return { state: 'missing' };
    throw err;
  }
}

async function readOne(d: StorageDriver, table: BlobTable, i: number): Promise<ManifestInfo> {
  const digest = table.set.digest(i);
  const bytes = await manifestBytes(d, table, i);
  if (!Buffer.isBuffer(bytes)) return bytes;
  if (sha256(bytes) !== digest) return { state: 'unreadable', reason: 'its bytes do not hash to its digest' };
  try {
    const m = parseManifest(bytes, `manifest ${digest}`);
    const blobs = [...(m.config ? [m.config] : []), ...m.layers].map((x) => table.add(x.digest));
    return { state: 'ok', kind: m.kind, blobs, children: m.manifests.map((x) => table.add(x.digest)), subject: m.subject ? table.add(m.subject.digest) : -1 };
  } catch (err) {
    return { state: 'unreadable', reason: (err as Error).message };
  }
}

/**
 * Reads the manifests named by `digests` into `graph` (those not read yet), then the children of
 * indexes among them, until every reachable manifest is known.
 */
export async function readManifests(d: StorageDriver, table: BlobTable, graph: ManifestGraph, digests: Iterable<number>, opts: ReadOptions): Promise<void> {
  let todo = [...new Set(digests)].filter((i) => !graph.has(i));
  let done = 0;
  let total = todo.length;
  while (todo.length > 0) {
    const next: number[] = [];
    await eachLimit(todo, opts.concurrency, async (i) => {
      if (graph.has(i)) return;
      const info = await readOne(d, table, i);
      graph.set(i, info);
      if (info.state === 'ok') for (const c of info.children) if (!graph.has(c)) next.push(c);
      opts.onRead?.(++done, total);
    });
    todo = [...new Set(next)].filter((i) => !graph.has(i));
    total += todo.length;
  }
}
