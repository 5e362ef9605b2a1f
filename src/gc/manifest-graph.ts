// Reading manifests for the mark phase: every revision of every repository once (by digest,
// whatever the number of repositories holding it), and the children of indexes that are not
// revisions anywhere. Only the digests a manifest references are kept, as table indexes.
import type { StorageDriver } from '../drivers/driver.js';
import { isDigest, sha256, SHA256_HEX } from '../image/digest.js';
import { jsReading } from '../image/js-reading.js';
import { MAX_MANIFEST_BYTES, type ManifestKind } from '../image/manifest.js';
import { registryReading } from '../image/registry-reading.js';
import { blobDataPath } from '../store/paths.js';
import { eachLimit } from '../util/each-limit.js';
import { hasFastReads } from '../drivers/driver.js';
import { LISTED, type BlobTable } from './store-scan.js';
import { orIfNotFound } from '../util/not-found.js';

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
      /** Set when the registry's Go reading and JSON.parse's differ: what either references is kept. */
      ambiguous?: string;
    }
  /** A revision whose manifest blob is gone: it references nothing that can be found. */
  | { state: 'missing' }
  /** Bytes that are not a manifest regbucket can follow: what they reference is unknown. */
  | { state: 'unreadable'; reason: string; scraped?: number[] };

export type ManifestGraph = Map<number, ManifestInfo>;

export interface ReadOptions {
  concurrency: number;
  onRead?: (done: number, total: number) => void;
}

const ANY_SHA256_HEX = new RegExp(SHA256_HEX, 'g');

/** The manifest's bytes, or why there are none to parse. */
async function manifestBytes(d: StorageDriver, table: BlobTable, i: number): Promise<Buffer | ManifestInfo> {
  const path = blobDataPath(table.set.digest(i));
  // Not LISTED: written after the blob listing (a re-check finds a new revision) or missing.
  let size = table.has(i, LISTED) ? table.size.data[i]! : NaN;
  // A revision that is really a 10 GB layer must not be read into memory.
  const tooBig = (n?: number): ManifestInfo => ({ state: 'unreadable', reason: `its blob is ${n ?? `over ${MAX_MANIFEST_BYTES}`} bytes: not a manifest` });
  const missing: ManifestInfo = { state: 'missing' };
  return orIfNotFound(async () => {
    if (Number.isNaN(size) && hasFastReads(d)) {
      const bytes = await d.getSmall(path, MAX_MANIFEST_BYTES);
      return bytes === 'too-big' ? tooBig() : bytes;
    }
    if (Number.isNaN(size)) size = (await d.stat(path)).size;
    if (size > MAX_MANIFEST_BYTES) return tooBig(size);
    return await d.getContent(path);
  }, missing);
}

async function readOne(d: StorageDriver, table: BlobTable, i: number): Promise<ManifestInfo> {
  const digest = table.set.digest(i);
  const bytes = await manifestBytes(d, table, i);
  if (!Buffer.isBuffer(bytes)) return bytes;
  // The registry's gc reads the bytes as they are: keep whatever they name.
  if (sha256(bytes) !== digest) return { state: 'unreadable', reason: 'its bytes do not hash to its digest', scraped: scrapeDigests(bytes).map((x) => table.add(x)) };
  return manifestInfo(bytes, (x) => table.add(x));
}

/**
 * What a manifest references, as gc marks it: the registry's (Go) reading; where JSON.parse
 * reads it differently, the union of both readings and of every digest written in it; where
 * the registry cannot read it at all (its gc aborts), unreadable, with every digest written in
 * it to keep.
 */
/** Digests the registry (go-digest) accepts besides sha256. */
const OTHER_ALGORITHM_RE = /^(?:sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$/;

export function manifestInfo(bytes: Buffer, add: (digest: string) => number): ManifestInfo {
  const go = registryReading(bytes);
  const js = jsReading(bytes);
  const scraped = (): number[] => scrapeDigests(bytes).map(add);
  if (!go.ok) return { state: 'unreadable', reason: `the registry cannot read it: ${go.reason}`, scraped: scraped() };
  // Registry 2.8.2 stores a blob pushed by a sha512 (or sha384) digest under its sha256 path and
  // links the other digest in the repository (`_layers/sha512/<hex>/link` holding the sha256
  // one); its own gc then marks the sha512 digest and deletes the sha256 blob. regbucket does
  // not read those alias links yet, so the repository is pinned: every blob linked into it is kept.
  const other = [...(go.config ? [go.config] : []), ...go.layers, ...go.manifests, ...(go.subject ? [go.subject] : [])].find((x) => OTHER_ALGORITHM_RE.test(x.digest));
  if (other) {
    const shown = JSON.stringify(other.digest.length > 80 ? `${other.digest.slice(0, 80)}...` : other.digest);
    return {
      state: 'unreadable',
      reason: `it references ${shown}, not a sha256 digest: the registry resolves that through the repository's _layers link of that algorithm, which regbucket does not read`,
      scraped: scraped(),
    };
  }
  const digests = (ds: Array<{ digest: string }>): string[] => ds.map((x) => x.digest).filter(isDigest);
  const goBlobs = digests([...(go.config ? [go.config] : []), ...go.layers]);
  const goChildren = digests(go.manifests);
  const goSubject = go.subject && isDigest(go.subject.digest) ? go.subject.digest : undefined;
  const same = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x, k) => x === b[k]);
  let ambiguous: string | undefined;
  if (js instanceof Error) ambiguous = `JSON.parse reads it differently (${js.message})`;
  else if (js.kind !== go.kind)
    ambiguous = `JSON.parse reads it as ${js.kind === 'image' ? 'an image manifest' : `a ${js.kind}`}, the registry as ${go.kind === 'image' ? 'an image manifest' : `a ${go.kind}`}`;
  else if (!same(js.blobs, goBlobs) || !same(js.children, goChildren) || js.subject !== goSubject) ambiguous = 'JSON.parse reads other references than the registry (Go) does';
  const blobs = goBlobs.map(add);
  const children = goChildren.map(add);
  if (ambiguous) {
    if (!(js instanceof Error)) {
      blobs.push(...js.blobs.map(add));
      children.push(...js.children.map(add));
    }
    blobs.push(...scraped());
  }
  const subject = goSubject ?? (js instanceof Error ? undefined : js.subject);
  return { state: 'ok', kind: go.kind, blobs: [...new Set(blobs)], children: [...new Set(children)], subject: subject ? add(subject) : -1, ...(ambiguous ? { ambiguous } : {}) };
}

/** Every sha256 digest written in the bytes, whatever the reading (raw text, and JSON-escaped text decoded). */
export function scrapeDigests(bytes: Buffer): string[] {
  const out = new Set<string>();
  const texts = [bytes.toString('latin1')];
  try {
    texts.push(JSON.stringify(JSON.parse(bytes.toString('utf8'))));
  } catch {
    // raw text only
  }
  for (const text of texts) for (const m of text.matchAll(ANY_SHA256_HEX)) out.add(`sha256:${m[0]}`);
  return [...out];
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
