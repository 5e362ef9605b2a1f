// docker save archives made by hand from a generated image (no Docker engine here): the legacy
// layout and the OCI layout newer Docker writes, with its known oddities.
import { gunzipSync } from 'node:zlib';
import { digestOf, type LayoutWriter, type Blob } from './images.js';
import { rawTar, type RawEntry } from './tarball.js';

export interface SaveOptions {
  repoTags?: string[];
  /** Keep layers gzip-compressed as stored (default: uncompressed, as docker save writes). */
  gzipLayers?: boolean;
  /** Newer Docker: blobs/sha256 + index.json + manifest.json. */
  oci?: boolean;
  /** index.json oddity (oci only): 'null-entry', 'null-manifests', 'missing'. */
  indexOddity?: 'null-entry' | 'null-manifests' | 'missing';
}

export interface SavedImage {
  entries: RawEntry[];
  config: Blob;
  diffIds: string[];
  /** Layer digests as stored in the archive. */
  layerDigests: string[];
  /** The OCI manifest written beside manifest.json (newer Docker only). */
  manifestDigest?: string;
}

/** Entries for one single-platform image `root` of `w`. */
export function dockerSave(w: LayoutWriter, root: Blob, opts: SaveOptions = {}): SavedImage {
  const m = JSON.parse(root.bytes.toString()) as { config: { digest: string }; layers: { digest: string }[] };
  const config = w.blobs.get(m.config.digest)!;
  const layers = m.layers.map((l) => w.blobs.get(l.digest)!.bytes);
  const stored = layers.map((b) => (opts.gzipLayers ? b : gunzipSync(b)));
  const diffIds = layers.map((b) => digestOf(gunzipSync(b)));
  const layerDigests = stored.map(digestOf);
  const tags = opts.repoTags ?? ['example.com/app:v1'];
  const entries: RawEntry[] = [];
  if (!opts.oci) {
    entries.push({ name: `${config.digest.slice(7)}.json`, data: config.bytes });
    stored.forEach((b, i) => {
      entries.push({ name: `layer${i}/`, type: 'dir' }, { name: `layer${i}/VERSION`, data: '1.0' }, { name: `layer${i}/layer.tar`, data: b });
    });
    entries.push({
      name: 'manifest.json',
      data: JSON.stringify([{ Config: `${config.digest.slice(7)}.json`, RepoTags: tags, Layers: stored.map((_, i) => `layer${i}/layer.tar`) }]),
    });
    return { entries, config, diffIds, layerDigests };
  }
  const blob = (b: Buffer): string => `blobs/sha256/${digestOf(b).slice(7)}`;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: stored.map((b) => ({
        mediaType: opts.gzipLayers ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar',
        digest: digestOf(b),
        size: b.length,
      })),
    }),
  );
  entries.push({ name: 'blobs/', type: 'dir' }, { name: 'blobs/sha256/', type: 'dir' });
  for (const b of [config.bytes, ...stored, manifest]) entries.push({ name: blob(b), data: b });
  const desc = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: digestOf(manifest),
    size: manifest.length,
    annotations: { 'io.containerd.image.name': tags[0], 'org.opencontainers.image.ref.name': tags[0]!.split(':').at(-1) },
  };
  let index: unknown = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [desc] };
  if (opts.indexOddity === 'null-entry') index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [null] };
  if (opts.indexOddity === 'null-manifests') index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: null };
  if (opts.indexOddity !== 'missing') entries.push({ name: 'index.json', data: JSON.stringify(index) });
  entries.push({ name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' });
  entries.push({ name: 'manifest.json', data: JSON.stringify([{ Config: blob(config.bytes), RepoTags: tags, Layers: stored.map(blob) }]) });
  return { entries, config, diffIds, layerDigests, manifestDigest: digestOf(manifest) };
}

export function dockerSaveTar(w: LayoutWriter, root: Blob, opts: SaveOptions = {}): Buffer {
  return rawTar(dockerSave(w, root, opts).entries);
}
