// `docker save` archives (`docker-archive:<file>[:<name:tag>|:@<index>]`), read and written as a
// stream, never unpacked. Both generations are read: the legacy layout (manifest.json naming a
// config file and `<id>/layer.tar` files; a Docker schema2 manifest is synthesized from them) and
// the OCI layout newer Docker writes beside manifest.json (its manifests are used as they are, so
// digests survive; when its index.json is missing, null or names manifests that are not there,
// manifest.json alone decides). Written archives are both: an OCI layout plus manifest.json, which
// `docker load`, `skopeo copy docker-archive:` and regbucket all read. Layers are kept as stored
// (gzip stays gzip: docker load and skopeo decompress), so digests and bytes are not rewritten.
import type { Readable } from 'node:stream';
import { InvalidInputError, InvalidReferenceError, SizeMismatchError } from '../errors.js';
import { isDigest, refuseAliasBlob, sha256, type Digest } from './digest.js';
import { MAX_MANIFEST_BYTES, parseManifest, platformString, type BlobDescriptor, type Descriptor, type ParsedManifest } from './manifest.js';
import { isForeignLayer, MediaType } from './mediatypes.js';
import { dockerRepoTag } from './export-destination.js';
import { blobEntryName, TarLayoutSink } from './oci-archive.js';
import { MAX_INDEX_BYTES, parseLayoutIndex } from './oci-layout.js';
import { parseGoJson, goField } from './go-fields.js';
import { isGzipMagic, otherCompression } from './gzip-strict.js';
import { normalizeEntryName, TarArchive, type LinkPolicy, type TarEntry } from './tar-archive.js';
import type { ImageSource, SourceImage } from './transfer.js';

interface SaveEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

interface ArchiveImage {
  names: string[];
  descriptor: Descriptor;
}

/** An OCI image manifest of newer Docker's index.json, by what it holds. */
interface OciImage {
  descriptor: Descriptor;
  layers: string[];
}

const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
/** skopeo reads a docker-archive member through at most one symlink, and a hard link as an empty file. */
const DOCKER_LINKS: LinkPolicy = { symlinks: 1, hardlinks: false };

/** `foo` -> `docker.io/library/foo:latest`: what Docker means by a short name (for matching RepoTags). */
export function normalizeDockerName(name: string): string {
  let n = name;
  const slash = n.indexOf('/');
  const first = slash < 0 ? '' : n.slice(0, slash);
  if (slash < 0 || !(first.includes('.') || first.includes(':') || first === 'localhost')) n = `docker.io/${n}`;
  if (/^docker\.io\/[^/]+$/.test(n.replace(/[:@].*$/, ''))) n = n.replace(/^docker\.io\//, 'docker.io/library/');
  const last = n.slice(n.lastIndexOf('/') + 1);
  if (!last.includes(':') && !last.includes('@')) n = `${n}:latest`;
  return n;
}

/** The name an image carries out of an archive: its RepoTag without Docker Hub's implied prefix. */
function shortName(repoTag: string): string {
  return repoTag.replace(/^docker\.io\//, '');
}

function parseSaveManifest(raw: Buffer, where: string): SaveEntry[] {
  const v = parseGoJson(raw, where);
  if (!Array.isArray(v)) throw new InvalidInputError(`${where} is not a list of images`);
  return v.map((e: unknown, i) => {
    if (!e || typeof e !== 'object' || Array.isArray(e)) throw new InvalidInputError(`${where} entry ${i} is not an object`);
    const o = e as Record<string, unknown>;
    const at = `${where} entry ${i}`;
    const config = goField(o, 'Config', at);
    const layers = goField(o, 'Layers', at) ?? [];
    const tags = goField(o, 'RepoTags', at) ?? [];
    if (typeof config !== 'string') throw new InvalidInputError(`${at} has no Config file name`);
    if (!Array.isArray(layers) || !layers.every((l) => typeof l === 'string')) throw new InvalidInputError(`${at} has no Layers list`);
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) throw new InvalidInputError(`${at} has a malformed RepoTags list`);
    return { Config: config, Layers: layers, RepoTags: tags };
  });
}

function diffIds(config: Buffer, where: string): string[] {
  const c = parseGoJson(config, where);
  const rootfs = c && typeof c === 'object' && !Array.isArray(c) ? goField(c as Record<string, unknown>, 'rootfs', where) : undefined;
  const ids = rootfs && typeof rootfs === 'object' && !Array.isArray(rootfs) ? (goField(rootfs as Record<string, unknown>, 'diff_ids', `${where} rootfs`) ?? []) : [];
  if (!Array.isArray(ids) || !ids.every((d) => typeof d === 'string' && isDigest(d))) {
    throw new InvalidInputError(`${where} has malformed rootfs.diff_ids`);
  }
  return ids;
}

export class DockerArchiveSource implements ImageSource {
  readonly description: string;
  private loaded?: Promise<{ tar: TarArchive; images: ArchiveImage[] }>;
  /** Blobs found by digest outside blobs/sha256 (legacy configs and layer files). */
  private readonly blobs = new Map<string, TarEntry>();
  /** Manifests synthesized from manifest.json. */
  private readonly synthesized = new Map<string, Buffer>();
  /** Each config is read and each layer checked once, however many manifest.json entries name it. */
  private readonly configs = new Map<TarEntry, { bytes: Buffer; digest: Digest; ids: string[] }>();
  private readonly layerChecks = new Map<TarEntry, Promise<{ desc: Descriptor; diffId: string }>>();

  constructor(
    readonly file: string,
    private readonly ref?: string,
  ) {
    this.description = `docker-archive:${file}${ref ? `:${ref}` : ''}`;
  }

  private load(): Promise<{ tar: TarArchive; images: ArchiveImage[] }> {
    this.loaded ??= (async () => {
      const tar = await TarArchive.open(this.file, { hashWhenGzip: true });
      if (!tar.lookup('manifest.json')) {
        throw new InvalidInputError(`${this.file} is not a docker save archive (no manifest.json at its top); an OCI archive is read with oci-archive:${this.file}`);
      }
      const save = parseSaveManifest(await tar.read(tar.file('manifest.json', 'manifest.json', DOCKER_LINKS), MAX_INDEX_BYTES, 'manifest.json'), `manifest.json in ${this.file}`);
      const oci = await this.ociManifests(tar);
      const images: ArchiveImage[] = [];
      for (const [i, e] of save.entries()) images.push({ names: e.RepoTags, descriptor: await this.image(tar, e, i, oci) });
      return { tar, images };
    })();
    return this.loaded;
  }

  /** An entry manifest.json names; a name that climbs out of the archive is refused with the entry that holds it. */
  private member(tar: TarArchive, name: string, what: string): TarEntry {
    try {
      normalizeEntryName(name, this.file);
    } catch {
      throw new InvalidInputError(`manifest.json in ${this.file} names ${what} ${JSON.stringify(name)}, a path outside the archive: refusing it`);
    }
    return tar.file(name, `${what} named in manifest.json,`, DOCKER_LINKS);
  }

  /**
   * Image manifests of newer Docker's index.json by config digest. Any oddity (no index.json,
   * `manifests: null`, null entries, manifests missing from the archive) means: use manifest.json.
   */
  private async ociManifests(tar: TarArchive): Promise<Map<string, OciImage[]>> {
    const out = new Map<string, OciImage[]>();
    if (!tar.lookup('index.json')) return out;
    try {
      const idx = parseLayoutIndex(await tar.read(tar.file('index.json', 'index.json', DOCKER_LINKS), MAX_INDEX_BYTES, 'index.json'), `index.json in ${this.file}`);
      const seen = new Set<string>();
      const visit = async (d: Descriptor, depth: number): Promise<void> => {
        if (seen.has(d.digest)) return;
        seen.add(d.digest);
        const e = tar.lookup(blobEntryName(d.digest));
        if (!e || e.type !== 'file' || e.size !== d.size || e.size > MAX_MANIFEST_BYTES) return;
        const bytes = await tar.read(e, MAX_MANIFEST_BYTES, 'manifest');
        if (sha256(bytes) !== d.digest) return;
        const m = parseManifest(bytes);
        if (m.kind === 'image' && m.config) {
          const list = out.get(m.config.digest) ?? [];
          list.push({ descriptor: { mediaType: m.mediaType, digest: d.digest, size: d.size }, layers: m.layers.map((l) => l.digest) });
          out.set(m.config.digest, list);
        }
        if (m.kind === 'index' && depth === 0) for (const c of m.manifests) await visit(c, 1);
      };
      for (const d of idx.manifests) await visit(d, 0);
    } catch (err) {
      if (!(err instanceof InvalidInputError)) throw err;
    }
    return out;
  }

  private async config(tar: TarArchive, name: string): Promise<{ entry: TarEntry; bytes: Buffer; digest: Digest; ids: string[] }> {
    const entry = this.member(tar, name, 'config');
    let c = this.configs.get(entry);
    if (!c) {
      const bytes = await tar.read(entry, MAX_CONFIG_BYTES, `config ${name}`);
      c = { bytes, digest: sha256(bytes), ids: diffIds(bytes, `config ${name} in ${this.file}`) };
      this.configs.set(entry, c);
    }
    return { entry, ...c };
  }

  /**
   * A layer file as skopeo reads it: decompressed, it must hash to its diff_id. Uncompressed
   * layers are their diff_id (checked as bytes flow when copied); gzip ones are hashed and
   * decompressed here, once per file.
   */
  private layer(tar: TarArchive, path: string, diffId: string): Promise<Descriptor> {
    const entry = this.member(tar, path, 'layer');
    let p = this.layerChecks.get(entry);
    if (!p) {
      p = (async () => {
        const head = await tar.head(entry);
        const other = otherCompression(head);
        if (other) throw new InvalidInputError(`layer ${JSON.stringify(path)} in ${this.file} is ${other}-compressed: regbucket stores gzip or uncompressed layers only`);
        if (!isGzipMagic(head)) return { desc: { mediaType: MediaType.dockerLayerTar, size: entry.size, digest: diffId as Digest }, diffId };
        const { digest, inner } = await tar.digests(entry);
        if (inner?.error) throw new InvalidInputError(`layer ${JSON.stringify(path)} in ${this.file} is not valid gzip: ${inner.error}`);
        if (inner?.digest !== diffId) {
          throw new InvalidInputError(
            `layer ${JSON.stringify(path)} in ${this.file} decompresses to ${inner?.digest}, but the config's diff_id for it is ${diffId}: the archive is inconsistent (skopeo refuses it too)`,
          );
        }
        return { desc: { mediaType: MediaType.dockerLayerGzip, size: entry.size, digest: digest! }, diffId };
      })();
      this.layerChecks.set(entry, p);
    }
    return p.then(({ desc, diffId: first }) => {
      if (first !== diffId) {
        throw new InvalidInputError(`manifest.json in ${this.file} uses layer ${JSON.stringify(path)} for two different diff_ids (${first} and ${diffId}): the archive is inconsistent`);
      }
      this.blobs.set(desc.digest, entry);
      return desc;
    });
  }

  private async image(tar: TarArchive, e: SaveEntry, i: number, oci: Map<string, OciImage[]>): Promise<Descriptor> {
    const cfg = await this.config(tar, e.Config);
    if (cfg.ids.length !== e.Layers.length) {
      throw new InvalidInputError(`image ${i} of ${this.file} lists ${e.Layers.length} layers but its config has ${cfg.ids.length} diff_ids: the archive is inconsistent`);
    }
    const layers: Descriptor[] = [];
    for (const [j, path] of e.Layers.entries()) {
      // skopeo sizes a layer by the header of the member its path names: a symlink's own size
      // (0), so its copy fails, unless the diff_id came earlier (then skopeo skips the path).
      if (tar.lookup(path)?.type === 'symlink' && !cfg.ids.slice(0, j).includes(cfg.ids[j]!)) {
        throw new InvalidInputError(`layer ${JSON.stringify(path)} named in manifest.json of ${this.file} is a symlink: skopeo takes its size from the link and fails, so regbucket refuses it too`);
      }
      layers.push(await this.layer(tar, path, cfg.ids[j]!));
    }
    this.blobs.set(cfg.digest, cfg.entry);
    // newer Docker describes the image twice; the OCI manifest is used (its digest survives) only
    // when it names exactly the layers manifest.json does.
    const candidates = oci.get(cfg.digest) ?? [];
    const same = candidates.find((c) => c.layers.length === layers.length && c.layers.every((d, j) => d === layers[j]!.digest));
    if (same) return same.descriptor;
    if (candidates.length) {
      const c = candidates[0]!;
      const j = c.layers.findIndex((d, k) => d !== layers[k]?.digest);
      const why =
        c.layers.length !== layers.length
          ? `${c.layers.length} layers where manifest.json lists ${layers.length}`
          : `layer ${j} ${c.layers[j]} where manifest.json has ${JSON.stringify(e.Layers[j])} (${layers[j]!.digest})`;
      throw new InvalidInputError(`image ${i} of ${this.file}: index.json's manifest ${c.descriptor.digest} has ${why}; the two descriptions disagree, refusing the archive`);
    }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.dockerManifest,
        config: { mediaType: MediaType.dockerConfig, size: cfg.bytes.length, digest: cfg.digest },
        layers,
      }),
    );
    const digest = sha256(manifest);
    this.synthesized.set(digest, manifest);
    return { mediaType: MediaType.dockerManifest, digest, size: manifest.length };
  }

  async images(): Promise<SourceImage[]> {
    const { images } = await this.load();
    if (images.length === 0) throw new InvalidInputError(`${this.file} holds no image (manifest.json is an empty list)`);
    const ref = this.ref;
    if (ref?.startsWith('@')) {
      const n = Number(ref.slice(1));
      const img = images[n];
      if (!img) throw new InvalidReferenceError(`${this.file} holds ${images.length} image(s): ${ref} is out of range (use @0 to @${images.length - 1})`);
      return [{ name: img.names[0] ? shortName(img.names[0]) : undefined, descriptor: img.descriptor }];
    }
    if (ref) {
      const want = normalizeDockerName(ref);
      const hit = images.flatMap((img, i) => img.names.filter((n) => normalizeDockerName(n) === want).map((n) => ({ name: shortName(n), descriptor: img.descriptor, at: i })));
      if (hit.length === 0) {
        const all = images.flatMap((img) => img.names);
        throw new InvalidInputError(
          `no image named ${JSON.stringify(ref)} in ${this.file}: it has ${all.length ? all.join(', ') : 'no named images'} (or pick one by position: @0 to @${images.length - 1})`,
        );
      }
      this.refuseAmbiguous(hit);
      return hit.slice(0, 1).map(({ name, descriptor }) => ({ name, descriptor }));
    }
    const all = images.flatMap((img, i): { name?: string; descriptor: Descriptor; at: number }[] =>
      img.names.length ? img.names.map((n) => ({ name: shortName(n), descriptor: img.descriptor, at: i })) : [{ name: undefined, descriptor: img.descriptor, at: i }],
    );
    this.refuseAmbiguous(all);
    return all.map(({ name, descriptor }) => (name === undefined ? { descriptor } : { name, descriptor }));
  }

  /** Two different images under one name: skopeo takes the first, a bundle import the last; refused, naming both. */
  private refuseAmbiguous(images: { name?: string; descriptor: Descriptor; at: number }[]): void {
    const seen = new Map<string, { descriptor: Descriptor; at: number }>();
    for (const img of images) {
      if (img.name === undefined) continue;
      const key = normalizeDockerName(img.name);
      const prev = seen.get(key);
      if (prev && prev.descriptor.digest !== img.descriptor.digest) {
        throw new InvalidInputError(
          `${this.file} has two different images named ${JSON.stringify(img.name)}: @${prev.at} (${prev.descriptor.digest}) and @${img.at} (${img.descriptor.digest}); pick one by position (docker-archive:${this.file}:@${prev.at})`,
        );
      }
      seen.set(key, img);
    }
  }

  private async entry(desc: BlobDescriptor): Promise<TarEntry> {
    const { tar } = await this.load();
    const known = this.blobs.get(desc.digest);
    if (known) return known;
    const name = blobEntryName(desc.digest);
    if (!tar.lookup(name)) throw new InvalidInputError(`blob ${desc.digest} is missing from ${this.file}: the archive is incomplete, save it again`);
    return tar.file(name, `blob ${desc.digest}`, DOCKER_LINKS);
  }

  async getManifest(desc: Descriptor): Promise<Buffer> {
    const { tar } = await this.load();
    const s = this.synthesized.get(desc.digest);
    if (s) return s;
    return tar.read(await this.entry(desc), MAX_MANIFEST_BYTES, `manifest ${desc.digest}`);
  }

  async checkBlob(desc: BlobDescriptor): Promise<void> {
    const e = await this.entry(desc);
    if (e.size !== desc.size) throw new SizeMismatchError(desc.digest, desc.size, e.size, this.description);
  }

  async openBlob(desc: BlobDescriptor): Promise<Readable> {
    const { tar } = await this.load();
    return tar.open(await this.entry(desc));
  }

  async close(): Promise<void> {
    if (this.loaded) (await this.loaded.catch(() => undefined))?.tar.close();
  }
}

/**
 * Writes what `docker load` takes: an OCI layout (blobs/sha256, index.json, oci-layout) plus
 * manifest.json with Config, RepoTags and Layers pointing into blobs/sha256, as Docker 25+ saves.
 * One platform per image: a multi-arch index is refused before anything is written.
 */
export class DockerArchiveSink extends TarLayoutSink {
  private readonly images = new Map<string, ParsedManifest>();

  constructor(file: string) {
    super(file, 'docker-archive');
  }

  override refuseBlob(desc: BlobDescriptor): void {
    refuseAliasBlob(desc.digest, this.description);
  }

  override checkRoot(desc: Descriptor, manifest: ParsedManifest): void {
    if (manifest.kind === 'index') {
      const platforms = manifest.manifests.map((m) => platformString(m.platform)).filter(Boolean);
      throw new InvalidInputError(
        `a docker-archive holds one platform per image, and ${desc.digest} is a multi-arch index (${platforms.join(', ') || 'no platforms listed'}): pick one with --platform os/arch`,
      );
    }
    if (!manifest.config) throw new InvalidInputError(`${desc.digest} has no config: docker-archive cannot hold it`);
    const foreign = manifest.layers.find((l) => isForeignLayer(l.mediaType) && l.urls?.length);
    if (foreign) {
      throw new InvalidInputError(
        `${desc.digest} has a foreign (non-distributable) layer ${foreign.digest}, stored elsewhere (${foreign.urls![0]}): a docker-archive must hold every layer and regbucket does not download it; pull into oci: or oci-archive:, which keep its URLs`,
      );
    }
  }

  /** RepoTags as Docker writes them: `docker.io/library/foo:latest` is `foo:latest`; names Docker cannot load are refused. */
  override async tag(name: string, desc: Descriptor): Promise<number> {
    return super.tag(dockerRepoTag(name), desc);
  }

  override async putManifest(desc: Descriptor, bytes: Buffer): Promise<number> {
    const m = parseManifest(bytes);
    if (m.kind === 'image') this.images.set(desc.digest, m);
    return super.putManifest(desc, bytes);
  }

  protected override extraFiles(): [string, string][] {
    const byDigest = new Map<string, { desc: Descriptor; tags: string[] }>();
    for (const [name, d] of this.named) {
      const e = byDigest.get(d.digest) ?? { desc: d, tags: [] };
      e.tags.push(name);
      byDigest.set(d.digest, e);
    }
    for (const d of this.unnamed) if (!byDigest.has(d.digest)) byDigest.set(d.digest, { desc: d, tags: [] });
    const entries = [...byDigest.values()].map(({ desc, tags }) => {
      const m = this.images.get(desc.digest);
      if (!m?.config) throw new InvalidInputError(`image ${desc.digest} was not written as a single-platform image: docker-archive cannot list it`);
      return { Config: blobEntryName(m.config.digest), RepoTags: tags, Layers: m.layers.map((l) => blobEntryName(l.digest)) };
    });
    return [['manifest.json', JSON.stringify(entries)]];
  }
}
