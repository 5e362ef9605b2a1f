import { InvalidInputError } from '../errors.js';
import { isDigest, type Digest } from './digest.js';
import { isForeignLayer, isIndexMediaType, MediaType } from './mediatypes.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export type ManifestKind = 'image' | 'index' | 'schema1';

/** A parsed manifest: what it is and what it references. The raw bytes stay authoritative. */
export interface ParsedManifest {
  kind: ManifestKind;
  /** The declared mediaType, or the one the content implies when the field is absent. */
  mediaType: string;
  config?: Descriptor;
  layers: Descriptor[];
  manifests: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** Raised for bytes that are not a manifest regbucket understands. */
export class ManifestParseError extends InvalidInputError {}

/** Refuse JSON bigger than this: no registry accepts manifests this large (distribution: 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

function descriptor(v: unknown, where: string): Descriptor {
  const d = v as Partial<Descriptor> | null;
  if (!d || typeof d !== 'object') throw new ManifestParseError(`${where}: descriptor is not an object`);
  if (typeof d.digest !== 'string' || !isDigest(d.digest)) {
    throw new ManifestParseError(`${where}: descriptor digest ${JSON.stringify(d.digest)} is not a sha256 digest`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new ManifestParseError(`${where}: descriptor ${d.digest} has an invalid size ${JSON.stringify(d.size)}`);
  }
  return d as Descriptor;
}

function descriptors(v: unknown, where: string): Descriptor[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ManifestParseError(`${where} is not an array`);
  return v.map((x, i) => descriptor(x, `${where}[${i}]`));
}

/**
 * Parses manifest bytes. Like the registry, decides by content when `mediaType` is absent
 * (umoci writes OCI manifests without it): schemaVersion 2 with `manifests` is an index, with
 * `config`/`layers` an image manifest; schemaVersion 1 is the legacy format.
 */
export function parseManifest(bytes: Buffer, where = 'manifest'): ParsedManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new ManifestParseError(`${where} is ${bytes.length} bytes: manifests over ${MAX_MANIFEST_BYTES} bytes are refused`);
  }
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new ManifestParseError(`${where} is not valid JSON (${(err as Error).message})`);
  }
  if (!m || typeof m !== 'object' || Array.isArray(m)) throw new ManifestParseError(`${where} is not a JSON object`);
  const declared = typeof m.mediaType === 'string' ? m.mediaType : undefined;
  const annotations = (m.annotations as Record<string, string> | undefined) ?? undefined;
  const artifactType = typeof m.artifactType === 'string' ? m.artifactType : undefined;
  const subject = m.subject !== undefined ? descriptor(m.subject, `${where} subject`) : undefined;

  if (m.schemaVersion === 1) {
    const fsLayers = Array.isArray(m.fsLayers) ? m.fsLayers : [];
    const layers = fsLayers.map((l: { blobSum?: unknown }, i: number) => {
      if (typeof l?.blobSum !== 'string' || !isDigest(l.blobSum)) {
        throw new ManifestParseError(`${where} fsLayers[${i}] blobSum is not a sha256 digest`);
      }
      return { mediaType: MediaType.dockerLayerGzip, digest: l.blobSum, size: -1 } as Descriptor;
    });
    return { kind: 'schema1', mediaType: declared ?? MediaType.dockerSchema1Signed, layers, manifests: [] };
  }
  if (m.schemaVersion !== 2) {
    throw new ManifestParseError(`${where} has schemaVersion ${JSON.stringify(m.schemaVersion)}: expected 2 (or legacy 1)`);
  }
  if (isIndexMediaType(declared) || (declared === undefined && m.manifests !== undefined)) {
    return {
      kind: 'index',
      mediaType: declared ?? MediaType.ociIndex,
      layers: [],
      manifests: descriptors(m.manifests, `${where} manifests`),
      subject,
      artifactType,
      annotations,
    };
  }
  if (
    declared === MediaType.ociManifest ||
    declared === MediaType.dockerManifest ||
    (declared === undefined && (m.config !== undefined || m.layers !== undefined))
  ) {
    return {
      kind: 'image',
      mediaType: declared ?? MediaType.ociManifest,
      config: descriptor(m.config, `${where} config`),
      layers: descriptors(m.layers, `${where} layers`),
      manifests: [],
      subject,
      artifactType,
      annotations,
    };
  }
  throw new ManifestParseError(`${where} has unknown media type ${JSON.stringify(declared)}`);
}

/** Blobs (config and layers) a manifest needs in the repository, foreign layers excepted. */
export function requiredBlobs(m: ParsedManifest): Descriptor[] {
  const out: Descriptor[] = [];
  if (m.config) out.push(m.config);
  for (const l of m.layers) if (!(isForeignLayer(l.mediaType) && l.urls?.length)) out.push(l);
  return out;
}

export function platformString(p: Platform | undefined): string {
  if (!p) return '';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}
