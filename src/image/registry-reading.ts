// How registry 2.8.2 reads a stored manifest (registry/storage/manifeststore.go Get), with Go's
// encoding/json (go-json.ts): first `schemaVersion` and `mediaType` alone, then the struct of
// the kind they select. What it references is what its gc marks (References()) and what its
// manifest PUT checked. A type error anywhere in the struct fails the read: the registry then
// answers 500 for the manifest and its garbage-collect aborts.
import { goUnmarshal, items, parseGoJson, T, type Decoded, type GoType, type GoValue } from './go-json.js';
import { MediaType } from './mediatypes.js';

// The structs, as distribution v2.8.2 declares them, plus the OCI 1.1 fields (subject,
// artifactType, data) that skopeo, containerd and registry 3 decode: a wrong type there fails
// those readers, so regbucket refuses it too.
const platform = T.struct('Platform', [
  ['architecture', T.string],
  ['os', T.string],
  ['os.version', T.string],
  ['os.features', T.slice(T.string)],
  ['variant', T.string],
  ['features', T.slice(T.string)],
]);
const descriptorFields: Array<[string, GoType]> = [
  ['mediaType', T.string],
  ['size', T.int64],
  ['digest', T.string],
  ['urls', T.slice(T.string)],
  ['annotations', T.map(T.string)],
  ['platform', T.ptr(platform)],
  ['artifactType', T.string],
  ['data', T.bytes],
];
const descriptor = T.struct('Descriptor', descriptorFields);
const versioned: Array<[string, GoType]> = [
  ['schemaVersion', T.int],
  ['mediaType', T.string],
];

export const VERSIONED = T.struct('Versioned', versioned);
export const IMAGE_MANIFEST = T.struct('Manifest', [
  ...versioned,
  ['config', descriptor],
  ['layers', T.slice(descriptor)],
  ['annotations', T.map(T.string)],
  ['subject', T.ptr(descriptor)],
  ['artifactType', T.string],
]);
// manifestlist.ManifestDescriptor: the embedded Descriptor's `platform` is shadowed by a
// PlatformSpec value (not a pointer).
export const INDEX = T.struct('ManifestList', [
  ...versioned,
  ['manifests', T.slice(T.struct('ManifestDescriptor', [...descriptorFields.filter(([n]) => n !== 'platform'), ['platform', platform]]))],
  ['annotations', T.map(T.string)],
  ['subject', T.ptr(descriptor)],
  ['artifactType', T.string],
]);
export const SCHEMA1 = T.struct('SignedManifest', [
  ...versioned,
  ['name', T.string],
  ['tag', T.string],
  ['architecture', T.string],
  ['fsLayers', T.slice(T.struct('FSLayer', [['blobSum', T.string]]))],
  ['history', T.slice(T.struct('History', [['v1Compatibility', T.string]]))],
]);
/** What the registry's PUT checks before taking an index (validateIndex) or an OCI manifest (validateManifest). */
const UNKNOWN_DOCUMENT = T.struct('unknownDocument', [
  ['config', T.any],
  ['layers', T.any],
  ['manifests', T.any],
]);

export interface GoDescriptor {
  mediaType: string;
  size: number;
  digest: string;
  urls: string[];
  annotations: Record<string, string> | null;
  platform: { architecture: string; os: string; variant: string; 'os.version': string } | null;
  artifactType: string;
}

export type RegistryReading =
  | {
      ok: true;
      kind: 'image' | 'index' | 'schema1';
      /** The declared mediaType ('' when absent). */
      mediaType: string;
      config?: GoDescriptor;
      layers: GoDescriptor[];
      manifests: GoDescriptor[];
      subject?: GoDescriptor;
      artifactType: string;
      annotations: Record<string, string> | null;
      /** Why the registry's PUT would refuse these bytes under the kind they read as (served all the same). */
      putRefusal?: string;
    }
  | { ok: false; reason: string };

function toDescriptor(v: Decoded): GoDescriptor {
  const d = v as Record<string, unknown>;
  const ann = d.annotations as Map<string, string> | null;
  return {
    mediaType: d.mediaType as string,
    size: d.size as number,
    digest: d.digest as string,
    urls: items<string>(d.urls),
    annotations: ann ? Object.fromEntries(ann) : null,
    platform: (d.platform as GoDescriptor['platform']) ?? null,
    artifactType: (d.artifactType as string) ?? '',
  };
}

function decode(tree: GoValue, t: GoType): { ok: true; v: Record<string, unknown> } | { ok: false; reason: string } {
  const { value, error } = goUnmarshal(tree, t);
  return error ? { ok: false, reason: error.message } : { ok: true, v: value as Record<string, unknown> };
}

function present(tree: GoValue): { config: boolean; layers: boolean; manifests: boolean } {
  const { value } = goUnmarshal(tree, UNKNOWN_DOCUMENT);
  const v = value as Record<string, unknown>;
  return { config: v.config !== null, layers: v.layers !== null, manifests: v.manifests !== null };
}

function imageReading(tree: GoValue, mediaType: string): RegistryReading {
  const r = decode(tree, IMAGE_MANIFEST);
  if (!r.ok) return r;
  const v = r.v;
  let putRefusal: string | undefined;
  if (mediaType === MediaType.ociManifest || mediaType === '') {
    if (present(tree).manifests) putRefusal = 'an image manifest with a manifests field';
  }
  const ann = v.annotations as Map<string, string> | null;
  return {
    ok: true,
    kind: 'image',
    mediaType,
    config: toDescriptor(v.config),
    layers: items<Decoded>(v.layers).map(toDescriptor),
    manifests: [],
    subject: v.subject ? toDescriptor(v.subject) : undefined,
    artifactType: v.artifactType as string,
    annotations: ann ? Object.fromEntries(ann) : null,
    putRefusal,
  };
}

function indexReading(v: Record<string, unknown>, tree: GoValue, mediaType: string): RegistryReading {
  const p = present(tree);
  const ann = v.annotations as Map<string, string> | null;
  return {
    ok: true,
    kind: 'index',
    mediaType,
    layers: [],
    manifests: items<Decoded>(v.manifests).map(toDescriptor),
    subject: v.subject ? toDescriptor(v.subject) : undefined,
    artifactType: v.artifactType as string,
    annotations: ann ? Object.fromEntries(ann) : null,
    putRefusal: mediaType !== MediaType.dockerManifestList && (p.config || p.layers) ? 'an index with a config or layers field' : undefined,
  };
}

/** Reads manifest bytes as registry 2.8.2 does when serving them (and when its gc marks). */
export function registryReading(bytes: Buffer): RegistryReading {
  let tree: GoValue;
  try {
    tree = parseGoJson(bytes);
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  if (tree.t !== 'obj' && tree.t !== 'null')
    return { ok: false, reason: `the manifest is not a JSON object (an ${tree.t === 'arr' ? 'array' : tree.t === 'str' ? 'string' : tree.t === 'num' ? 'number' : 'bool'})` };
  const ver = decode(tree, VERSIONED);
  if (!ver.ok) return ver;
  const schemaVersion = ver.v.schemaVersion as number;
  const mediaType = ver.v.mediaType as string;
  if (schemaVersion === 1) {
    // The registry signs the content itself and reads the payload back: the same bytes (its
    // own `signatures` key, appended last, replaces any stored one), after libtrust's decode
    // into map[string]interface{} (every number a float64).
    if (tree.t !== 'obj') return { ok: false, reason: 'a schema 1 manifest must be a JSON object' };
    const whole = decode(tree, T.map(T.any));
    if (!whole.ok) return whole;
    const r = decode(tree, SCHEMA1);
    if (!r.ok) return r;
    const layers = items<Record<string, unknown>>(r.v.fsLayers).map((l) =>
      toDescriptor({ mediaType: MediaType.dockerLayerGzip, size: 0, digest: l.blobSum, urls: null, annotations: null, platform: null }),
    );
    return { ok: true, kind: 'schema1', mediaType, layers, manifests: [], artifactType: '', annotations: null };
  }
  if (schemaVersion !== 2) return { ok: false, reason: `schemaVersion: unrecognized manifest schema version ${schemaVersion}` };
  switch (mediaType) {
    case MediaType.dockerManifest:
    case MediaType.ociManifest:
      return imageReading(tree, mediaType);
    case MediaType.dockerManifestList:
    case MediaType.ociIndex: {
      const r = decode(tree, INDEX);
      return r.ok ? indexReading(r.v, tree, mediaType) : r;
    }
    case '': {
      // An index if it decodes as one with a non-nil `manifests` (`[]` counts, `null` does
      // not); a decode error there makes 2.8.2 panic (nil interface conversion): not served.
      const r = decode(tree, INDEX);
      if (!r.ok) return { ok: false, reason: `${r.reason} (read as an index first, since mediaType is absent)` };
      if (r.v.manifests !== null) return indexReading(r.v, tree, mediaType);
      return imageReading(tree, mediaType);
    }
    default:
      return { ok: false, reason: `mediaType: unknown media type ${JSON.stringify(mediaType)}` };
  }
}
