// `docker save` archives (`docker-archive:<file>[:<name:tag>|:@<index>]`), read and written as a
// stream, never unpacked. Both generations are read: the legacy layout (manifest.json naming a
// config file and `<id>/layer.tar` files; a Docker schema2 manifest is synthesized from them) and
// the OCI layout newer Docker writes beside manifest.json (its manifests are used as they are, so
// digests survive; when its index.json is missing, null or names manifests that are not there,
// manifest.json alone decides). Written archives are both: an OCI layout plus manifest.json, which
// `docker load`, `skopeo copy docker-archive:` and regbucket all read. Layers are kept as stored
// (gzip stays gzip: docker load and skopeo decompress), so digests and bytes are not rewritten.
import type { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { InvalidInputError, InvalidReferenceError, SizeMismatchError } from '../errors.js';
import { isDigest, sha256, type Digest } from './digest.js';
import { MAX_MANIFEST_BYTES, parseManifest, platformString, type Descriptor, type ParsedManifest } from './manifest.js';
import { MediaType } from './mediatypes.js';
import { blobEntryName, TarLayoutSink } from './oci-archive.js';
import { MAX_INDEX_BYTES, parseLayoutIndex } from './oci-layout.js';
import { normalizeEntryName, TarArchive, type TarEntry } from './tar-archive.js';
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

const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

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
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new InvalidInputError(`${where} is not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(v)) throw new InvalidInputError(`${where} is not a list of images`);
  return v.map((e: unknown, i) => {
    const o = e as Partial<Record<keyof SaveEntry, unknown>> | null;
    if (!o || typeof o !== 'object') throw new InvalidInputError(`${where} entry ${i} is not an object`);
    if (typeof o.Config !== 'string') throw new InvalidInputError(`${where} entry ${i} has no Config file name`);
    if (!Array.isArray(o.Layers) || !o.Layers.every((l) => typeof l === 'string')) throw new InvalidInputError(`${where} entry ${i} has no Layers list`);
    const tags = o.RepoTags ?? [];
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) throw new InvalidInputError(`${where} entry ${i} has a malformed RepoTags list`);
    return { Config: o.Config, Layers: o.Layers as string[], RepoTags: tags as string[] };
  });
}

function diffIds(config: Buffer, where: string): string[] {
  let c: { rootfs?: { diff_ids?: unknown } };
  try {
    c = JSON.parse(config.toString('utf8'));
  } catch (err) {
    throw new InvalidInputError(`${where} is not valid JSON (${(err as Error).message})`);
  }
  const ids = c?.rootfs?.diff_ids ?? [];
  if (!Array.isArray(ids) || !ids.every((d) => typeof d === 'string' && isDigest(d))) {
    throw new InvalidInputError(`${where} has malformed rootfs.diff_ids`);
  }
  return ids as string[];
}

export class DockerArchiveSource implements ImageSource {
  readonly description: string;
  private loaded?: Promise<{ tar: TarArchive; images: ArchiveImage[] }>;
  /** Blobs found by digest outside blobs/sha256 (legacy configs and layer files). */
  private readonly blobs = new Map<string, TarEntry>();
  /** Manifests synthesized from manifest.json. */
  private readonly synthesized = new Map<string, Buffer>();

  constructor(
    readonly file: string,
    private readonly ref?: string,
  ) {
    this.description = `docker-archive:${file}${ref ? `:${ref}` : ''}`;
  }

  private load(): Promise<{ tar: TarArchive; images: ArchiveImage[] }> {
    this.loaded ??= (async () => {
      const tar = await TarArchive.open(this.file, { hashWhenGzip: true });
      if (!tar.entries.has('manifest.json')) {
        throw new InvalidInputError(`${this.file} is not a docker save archive (no manifest.json at its top); an OCI archive is read with oci-archive:${this.file}`);
      }
      const save = parseSaveManifest(await tar.read(tar.file('manifest.json'), MAX_INDEX_BYTES, 'manifest.json'), `manifest.json in ${this.file}`);
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
    return tar.file(name, `${what} named in manifest.json,`);
  }

  /**
   * Image manifests of newer Docker's index.json by config digest. Any oddity (no index.json,
   * `manifests: null`, null entries, manifests missing from the archive) means: use manifest.json.
   */
  private async ociManifests(tar: TarArchive): Promise<Map<string, Descriptor>> {
    const out = new Map<string, Descriptor>();
    if (!tar.has('index.json')) return out;
    try {
      const idx = parseLayoutIndex(await tar.read(tar.file('index.json'), MAX_INDEX_BYTES, 'index.json'), `index.json in ${this.file}`);
      const visit = async (d: Descriptor, depth: number): Promise<void> => {
        if (!tar.has(blobEntryName(d.digest))) return;
        const e = tar.file(blobEntryName(d.digest));
        if (e.size !== d.size || e.size > MAX_MANIFEST_BYTES) return;
        const bytes = await tar.read(e, MAX_MANIFEST_BYTES, 'manifest');
        if (sha256(bytes) !== d.digest) return;
        const m = parseManifest(bytes);
        if (m.kind === 'image' && m.config) out.set(`${m.config.digest}/${m.layers.length}`, { mediaType: m.mediaType, digest: d.digest, size: d.size });
        if (m.kind === 'index' && depth === 0) for (const c of m.manifests) await visit(c, 1);
      };
      for (const d of idx.manifests) await visit(d, 0);
    } catch (err) {
      if (!(err instanceof InvalidInputError)) throw err;
    }
    return out;
  }

  private async image(tar: TarArchive, e: SaveEntry, i: number, oci: Map<string, Descriptor>): Promise<Descriptor> {
    const cfgEntry = this.member(tar, e.Config, 'config');
    const config = await tar.read(cfgEntry, MAX_CONFIG_BYTES, `config ${e.Config}`);
    const configDigest = sha256(config);
    const ids = diffIds(config, `config ${e.Config} in ${this.file}`);
    if (ids.length !== e.Layers.length) {
      throw new InvalidInputError(`image ${i} of ${this.file} lists ${e.Layers.length} layers but its config has ${ids.length} diff_ids: the archive is inconsistent`);
    }
    const known = oci.get(`${configDigest}/${e.Layers.length}`);
    if (known) return known;
    this.blobs.set(configDigest, cfgEntry);
    const layers: Descriptor[] = [];
    for (const [j, path] of e.Layers.entries()) {
      const entry = this.member(tar, path, 'layer');
      const gzip = entry.head[0] === 0x1f && entry.head[1] === 0x8b;
      // An uncompressed layer is its diff_id (checked as bytes flow); a gzip one is hashed here.
      const digest = (entry.digest ?? (gzip ? await this.hash(tar, entry) : ids[j]!)) as Digest;
      this.blobs.set(digest, entry);
      layers.push({ mediaType: gzip ? MediaType.dockerLayerGzip : MediaType.dockerLayerTar, size: entry.size, digest });
    }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.dockerManifest,
        config: { mediaType: MediaType.dockerConfig, size: config.length, digest: configDigest },
        layers,
      }),
    );
    const digest = sha256(manifest);
    this.synthesized.set(digest, manifest);
    return { mediaType: MediaType.dockerManifest, digest, size: manifest.length };
  }

  private async hash(tar: TarArchive, entry: TarEntry): Promise<Digest> {
    const h = createHash('sha256');
    let n = 0;
    for await (const c of await tar.open(entry)) {
      h.update(c as Buffer);
      n += (c as Buffer).length;
    }
    if (n !== entry.size) throw new InvalidInputError(`${this.file} is truncated inside ${JSON.stringify(entry.name)}`);
    return `sha256:${h.digest('hex')}`;
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
      const hit = images.flatMap((img) => img.names.filter((n) => normalizeDockerName(n) === want).map((n) => ({ name: shortName(n), descriptor: img.descriptor })));
      if (hit.length === 0) {
        const all = images.flatMap((img) => img.names);
        throw new InvalidInputError(`no image named ${JSON.stringify(ref)} in ${this.file}: it has ${all.length ? all.join(', ') : 'no named images'} (or pick one by position: @0 to @${images.length - 1})`);
      }
      return hit.slice(0, 1);
    }
    return images.flatMap((img) =>
      img.names.length ? img.names.map((n) => ({ name: shortName(n), descriptor: img.descriptor })) : [{ descriptor: img.descriptor }],
    );
  }

  private async entry(desc: Descriptor): Promise<TarEntry> {
    const { tar } = await this.load();
    const known = this.blobs.get(desc.digest);
    if (known) return known;
    const name = blobEntryName(desc.digest);
    if (!tar.has(name)) throw new InvalidInputError(`blob ${desc.digest} is missing from ${this.file}: the archive is incomplete, save it again`);
    return tar.file(name);
  }

  async getManifest(desc: Descriptor): Promise<Buffer> {
    const { tar } = await this.load();
    const s = this.synthesized.get(desc.digest);
    if (s) return s;
    return tar.read(await this.entry(desc), MAX_MANIFEST_BYTES, `manifest ${desc.digest}`);
  }

  async checkBlob(desc: Descriptor): Promise<void> {
    const e = await this.entry(desc);
    if (e.size !== desc.size) throw new SizeMismatchError(desc.digest, desc.size, e.size, this.description);
  }

  async openBlob(desc: Descriptor): Promise<Readable> {
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

  override checkRoot(desc: Descriptor, manifest: ParsedManifest): void {
    if (manifest.kind === 'index') {
      const platforms = manifest.manifests.map((m) => platformString(m.platform)).filter(Boolean);
      throw new InvalidInputError(
        `a docker-archive holds one platform per image, and ${desc.digest} is a multi-arch index (${platforms.join(', ') || 'no platforms listed'}): pick one with --platform os/arch`,
      );
    }
    if (!manifest.config) throw new InvalidInputError(`${desc.digest} has no config: docker-archive cannot hold it`);
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
