// What `ls` shows per tag and `inspect` per manifest: kind, media type, platforms and the total
// size of the blobs an image references, from the manifests alone (descriptor sizes; no blob is
// stat'ed). Manifests are read once per digest, with bounded concurrency.
import pLimit, { type LimitFunction } from 'p-limit';
import type { StorageDriver } from '../drivers/driver.js';
import { isDigest, type Digest } from '../image/digest.js';
import { parseManifest, platformString, type ParsedManifest } from '../image/manifest.js';
import { readBlob, statBlob } from './blobs.js';

export interface ManifestSummary {
  digest: Digest;
  /** Declared media type, or the one the content implies; null when the manifest cannot be read. */
  mediaType: string | null;
  kind: ParsedManifest['kind'] | null;
  /** Platforms of an index's children (`os/arch[/variant]`, unknown/unknown left out); null for an image. */
  platforms: string[] | null;
  /**
   * Bytes of the distinct config and layer blobs the image references (for an index: across all
   * its children); null when a manifest it needs is missing or unreadable.
   */
  size: number | null;
  /** Why something is null: a missing or unparsable manifest. */
  problem?: string;
}

/** Image configs bigger than this are not read for their `created` time. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** Nesting of indexes followed for sizes (an index of indexes of images). */
const MAX_DEPTH = 4;

export class ManifestReader {
  private readonly cache = new Map<Digest, Promise<{ bytes: Buffer; manifest: ParsedManifest }>>();
  private readonly limit: LimitFunction;

  constructor(
    private readonly d: StorageDriver,
    concurrency: number,
  ) {
    this.limit = pLimit(Math.max(1, concurrency));
  }

  /** Bytes and parsed form of a manifest blob, read once. Rejects for a missing or unparsable one. */
  read(digest: Digest): Promise<{ bytes: Buffer; manifest: ParsedManifest }> {
    let p = this.cache.get(digest);
    if (!p) {
      p = this.limit(async () => {
        const bytes = await readBlob(this.d, digest);
        return { bytes, manifest: parseManifest(bytes, `manifest ${digest}`) };
      });
      this.cache.set(digest, p);
    }
    return p;
  }

  /** Distinct blobs (digest -> size) an image or index references, through nested indexes. */
  private async blobs(digest: Digest, depth: number, into: Map<string, number>): Promise<void> {
    const { manifest: m } = await this.read(digest);
    if (m.config) into.set(m.config.digest, m.config.size);
    for (const l of m.layers) if (l.size >= 0) into.set(l.digest, l.size);
    if (m.manifests.length === 0) return;
    if (depth >= MAX_DEPTH) throw new Error(`index ${digest} nests more than ${MAX_DEPTH} levels`);
    await Promise.all(m.manifests.map((c) => this.blobs(c.digest, depth + 1, into)));
  }

  /**
   * The image's `created` time from its config (ms since the epoch); for an index, the newest of
   * its children's. Undefined when no config says (or it cannot be read).
   */
  async created(digest: Digest, depth = 0): Promise<number | undefined> {
    let m: ParsedManifest;
    try {
      m = (await this.read(digest)).manifest;
    } catch {
      return undefined;
    }
    if (m.manifests.length > 0 && depth < MAX_DEPTH) {
      const times = await Promise.all(m.manifests.map((c) => this.created(c.digest, depth + 1)));
      const known = times.filter((t): t is number => t !== undefined);
      return known.length > 0 ? Math.max(...known) : undefined;
    }
    if (!m.config || m.config.size > MAX_CONFIG_BYTES) return undefined;
    try {
      const digest = m.config.digest;
      if (!isDigest(digest)) return undefined; // a sha512 config: found only through a repository's alias link
      // The descriptor's size may lie in a hostile store: the blob's own size bounds the read.
      const bytes = await this.limit(async () => (((await statBlob(this.d, digest))?.size ?? Infinity) <= MAX_CONFIG_BYTES ? readBlob(this.d, digest) : undefined));
      if (!bytes) return undefined;
      const config = JSON.parse(bytes.toString('utf8')) as { created?: unknown };
      const t = typeof config.created === 'string' ? Date.parse(config.created) : NaN;
      return Number.isNaN(t) ? undefined : t;
    } catch {
      return undefined;
    }
  }

  async summarize(digest: Digest): Promise<ManifestSummary> {
    let m: ParsedManifest;
    try {
      m = (await this.read(digest)).manifest;
    } catch (err) {
      return { digest, mediaType: null, kind: null, platforms: null, size: null, problem: (err as Error).message };
    }
    const platforms = m.kind === 'index' ? m.manifests.map((c) => platformString(c.platform)).filter((p) => p !== '' && p !== 'unknown/unknown') : null;
    const out: ManifestSummary = { digest, mediaType: m.mediaType, kind: m.kind, platforms, size: null };
    if (m.kind === 'schema1') return { ...out, problem: 'schema 1 manifests do not record blob sizes' };
    try {
      const blobs = new Map<string, number>();
      await this.blobs(digest, 0, blobs);
      out.size = [...blobs.values()].reduce((a, b) => a + b, 0);
    } catch (err) {
      out.problem = (err as Error).message;
    }
    return out;
  }
}
