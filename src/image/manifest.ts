import { InvalidInputError } from '../errors.js';
import { isAliasDigest, isAnyDigest, isDigest, type AnyDigest, type Digest } from './digest.js';
import { isForeignLayer, MediaType } from './mediatypes.js';
import { registryReading, type GoDescriptor } from './registry-reading.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
}

/**
 * A descriptor. Manifests (an index's children, a subject) are sha256: the registry stores and
 * finds manifests only by the sha256 of their bytes. Blobs (config, layers) may name a sha384 or
 * sha512 digest, which registry 2.8.2 resolves through the repository's `_layers/<algorithm>/`
 * alias link to the blob stored under its sha256 digest.
 */
export interface Descriptor<D extends AnyDigest = Digest> {
  mediaType: string;
  digest: D;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export type ManifestKind = 'image' | 'index' | 'schema1';

/** A config or layer descriptor: sha256, or an alias digest (sha384, sha512). */
export type BlobDescriptor = Descriptor<AnyDigest>;

/** A parsed manifest: what it is and what it references. The raw bytes stay authoritative. */
export interface ParsedManifest {
  kind: ManifestKind;
  /** The declared mediaType, or the one the content implies when the field is absent. */
  mediaType: string;
  config?: BlobDescriptor;
  layers: BlobDescriptor[];
  manifests: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** Raised for bytes that are not a manifest regbucket understands. */
export class ManifestParseError extends InvalidInputError {}

/** Refuse JSON bigger than this: no registry accepts manifests this large (distribution: 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

function checkBlobDescriptor(d: GoDescriptor, where: string): BlobDescriptor {
  if (!isAnyDigest(d.digest)) {
    throw new ManifestParseError(`${where}: digest ${JSON.stringify(d.digest)} is not a sha256, sha384 or sha512 digest`);
  }
  return descriptorOf(d, d.digest, where);
}

/** Manifests: the registry finds them only under the sha256 of their bytes (registry/storage/linkedblobstore.go Put). */
function checkManifestDescriptor(d: GoDescriptor, where: string): Descriptor {
  if (!isDigest(d.digest)) {
    const alias = isAliasDigest(d.digest) ? ': the registry stores manifests only by their sha256 digest' : '';
    throw new ManifestParseError(`${where}: digest ${JSON.stringify(d.digest)} is not a sha256 digest${alias}`);
  }
  return descriptorOf(d, d.digest, where);
}

function descriptorOf<D extends AnyDigest>(d: GoDescriptor, digest: D, where: string): Descriptor<D> {
  if (!Number.isSafeInteger(d.size) || d.size < 0) {
    throw new ManifestParseError(`${where}: descriptor ${d.digest} has an invalid size ${d.size}`);
  }
  const out: Descriptor<D> = { mediaType: d.mediaType, digest, size: d.size };
  if (d.urls.length > 0) out.urls = d.urls;
  if (d.annotations) out.annotations = d.annotations;
  const p = d.platform;
  if (p && (p.os || p.architecture || p.variant || p['os.version'])) {
    out.platform = { os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}), ...(p['os.version'] ? { 'os.version': p['os.version'] } : {}) };
  }
  if (d.artifactType) out.artifactType = d.artifactType;
  return out;
}

/**
 * Parses manifest bytes as the registry reads them (Go's encoding/json into distribution's
 * structs: registry-reading.ts), and refuses what the registry would not serve or not accept
 * on a PUT, naming the field. Like the registry, decides by content when `mediaType` is absent
 * (umoci writes OCI manifests without it): schemaVersion 2 with `manifests` is an index,
 * otherwise an image manifest; schemaVersion 1 is the legacy format.
 */
export function parseManifest(bytes: Buffer, where = 'manifest'): ParsedManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new ManifestParseError(`${where} is ${bytes.length} bytes: manifests over ${MAX_MANIFEST_BYTES} bytes are refused`);
  }
  const r = registryReading(bytes);
  if (!r.ok) throw new ManifestParseError(`${where}: the registry cannot read it: ${r.reason}`);
  if (r.putRefusal) throw new ManifestParseError(`${where}: the registry refuses ${r.putRefusal}`);
  const declared = r.mediaType || undefined;
  if (r.kind === 'schema1') {
    const layers = r.layers.map((l, i) => {
      if (!isDigest(l.digest)) throw new ManifestParseError(`${where}: fsLayers[${i}].blobSum is not a sha256 digest`);
      return { mediaType: MediaType.dockerLayerGzip, digest: l.digest, size: -1 };
    });
    return { kind: 'schema1', mediaType: declared ?? MediaType.dockerSchema1Signed, layers, manifests: [] };
  }
  const extras = {
    subject: r.subject ? checkManifestDescriptor(r.subject, `${where} subject`) : undefined,
    artifactType: r.artifactType || undefined,
    annotations: r.annotations ?? undefined,
  };
  if (r.kind === 'index') {
    const manifests = r.manifests.map((m, i) => checkManifestDescriptor(m, `${where} manifests[${i}]`));
    return { kind: 'index', mediaType: declared ?? MediaType.ociIndex, layers: [], manifests, ...extras };
  }
  return {
    kind: 'image',
    mediaType: declared ?? MediaType.ociManifest,
    config: checkBlobDescriptor(r.config!, `${where} config`),
    layers: r.layers.map((l, i) => checkBlobDescriptor(l, `${where} layers[${i}]`)),
    manifests: [],
    ...extras,
  };
}

/** Blobs (config and layers) a manifest needs in the repository, foreign layers excepted. */
export function requiredBlobs(m: ParsedManifest): BlobDescriptor[] {
  const out: BlobDescriptor[] = [];
  if (m.config) out.push(m.config);
  for (const l of m.layers) if (!(isForeignLayer(l.mediaType) && l.urls?.length)) out.push(l);
  return out;
}

export function platformString(p: Platform | undefined): string {
  if (!p) return '';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}
