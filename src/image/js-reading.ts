// The JSON.parse reading of a manifest: what regbucket read before it read manifests as the
// registry does (registry-reading.ts). The gc keeps what either reading references, so a
// store written by anything that reads JSON this way loses nothing it relied on.
import { isDigest } from './digest.js';
import { isIndexMediaType } from './mediatypes.js';

export interface JsReading {
  kind: 'image' | 'index' | 'schema1';
  blobs: string[];
  children: string[];
  subject?: string;
}

function digestOf(v: unknown, where: string): string {
  const d = v as { digest?: unknown } | null;
  if (!d || typeof d !== 'object' || typeof d.digest !== 'string' || !isDigest(d.digest)) throw new Error(`${where}: no sha256 digest`);
  return d.digest;
}

function digestsOf(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Error(`${where} is not an array`);
  return v.map((x, i) => digestOf(x, `${where}[${i}]`));
}

/** References by JSON.parse (exact keys, first-level checks only), or an Error. */
export function jsReading(bytes: Buffer): JsReading | Error {
  try {
    const m = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    if (!m || typeof m !== 'object' || Array.isArray(m)) throw new Error('not a JSON object');
    const subject = m.subject !== undefined && m.subject !== null ? digestOf(m.subject, 'subject') : undefined;
    if (m.schemaVersion === 1) {
      const fs = Array.isArray(m.fsLayers) ? (m.fsLayers as Array<{ blobSum?: unknown }>) : [];
      return { kind: 'schema1', blobs: fs.map((l) => digestOf({ digest: l?.blobSum }, 'fsLayers')), children: [] };
    }
    if (m.schemaVersion !== 2) throw new Error('schemaVersion is not 2');
    const declared = typeof m.mediaType === 'string' ? m.mediaType : undefined;
    if (isIndexMediaType(declared) || (declared === undefined && m.manifests !== undefined)) {
      return { kind: 'index', blobs: [], children: digestsOf(m.manifests, 'manifests'), subject };
    }
    const config = m.config !== undefined ? [digestOf(m.config, 'config')] : [];
    return { kind: 'image', blobs: [...config, ...digestsOf(m.layers, 'layers')], children: [], subject };
  } catch (err) {
    return err as Error;
  }
}
