import type { Context } from '../cli/context.js';
import { UsageError } from '../errors.js';
import { ImageCopier, sumStats } from '../image/image-copier.js';
import type { Descriptor } from '../image/manifest.js';
import { parseStoreRef, formatStoreRef, type StoreRef } from '../image/reference.js';
import { openSink } from '../image/transports.js';
import { OciLayoutSink } from '../image/oci-layout.js';
import { TarLayoutSink } from '../image/oci-archive.js';
import { DockerArchiveSink } from '../image/docker-archive.js';
import { hasLocalPaths } from '../drivers/driver.js';
import { StoreSource } from '../store/source-sink.js';
import { copyFallbackTags } from '../store/import.js';
import { DockerSink } from '../image/registry-sink.js';
import { RegistryError } from '../image/registry-auth.js';
import { copyProgress, statsLine } from './transfer-progress.js';
import { destOptions, type DestFlags } from './source-options.js';

interface PullOptions extends DestFlags {
  platform?: string[];
  referrers: boolean;
  repair?: boolean;
  destChunkSize?: number;
}

interface PulledImage {
  source: string;
  name: string | null;
  digest: string;
  mediaType: string;
}

/**
 * `pull <ref>... <dest>`: one image, or several into one layout or archive (an air-gap bundle:
 * every blob once, each image named by its `repo:tag`, which `push <bundle>` without a
 * destination puts back where it came from).
 */
export async function run(ctx: Context, args: string[], opts: PullOptions): Promise<number> {
  if (args.length < 2) throw new UsageError('pull takes one or more store references and a destination: regbucket pull <repo>[:<tag>|@<digest>]... <dest>');
  const destRef = args.at(-1)!;
  const refs = args.slice(0, -1).map((r) => parseStoreRef(r));
  const { sink, ref: destName } = openSink(destRef, { repair: opts.repair, ...destOptions(ctx, opts), chunkSize: opts.destChunkSize });
  const registry = sink instanceof DockerSink ? sink : undefined;
  const multi = refs.length > 1;
  if (multi && destName) throw new UsageError(`${refs.length} images go to ${destRef}: drop ":${destName}", each image is named by its own repo:tag`);
  if (destName?.startsWith('@')) throw new UsageError(`${destRef}: a destination is named by name:tag, not by position`);
  // docker load needs RepoTags of the form repo:tag; layouts name a single image by its tag, as before.
  // A registry repository names each image by its tag (the store's tag, or latest).
  const fullNames = !registry && (multi || sink instanceof DockerArchiveSink);
  const d = await ctx.store();
  // Never write into the store being exported from (it would overwrite what it reads).
  await sink.checkDestination?.(hasLocalPaths(d) ? d.localRoot : undefined);
  const prog = copyProgress(ctx.output, `pulling ${args.slice(0, -1).join(' ')}`);
  const copiers: ImageCopier[] = [];
  const pulled: PulledImage[] = [];
  try {
    try {
      for (const ref of refs) {
        const source = new StoreSource(d, ref);
        const [image] = await source.images();
        const copier = new ImageCopier(source, sink, {
          concurrency: ctx.globals.concurrency,
          platforms: opts.platform,
          referrers: opts.referrers,
          progress: prog.progress,
        });
        copiers.push(copier);
        const name = destName ?? (fullNames ? fullName(ref) : image!.name);
        const desc = registry ? await intoRegistry(registry, source, copier, image!.descriptor, name, opts.referrers) : await copier.copy(image!.descriptor);
        if (!registry) await nameImage(sink, name, desc);
        pulled.push({ source: formatStoreRef(ref), name: name ?? null, digest: desc.digest, mediaType: desc.mediaType });
      }
    } finally {
      prog.done();
    }
    await sink.commit?.();
  } finally {
    await sink.close?.();
  }
  const stats = sumStats(copiers.map((c) => c.stats));
  const mounted = registry ? { blobsMounted: registry.blobsMounted } : {};
  // One --json shape whatever the number of images (schemaVersion 1; docs/json.md).
  ctx.output.result({ destination: destRef, images: pulled, stats, ...mounted }, () =>
    multi
      ? [...pulled.map((p) => `${destRef}:${p.name ?? ''} ${p.digest}`), statsLine(stats)].join('\n')
      : [`${destRef}${pulled[0]!.name && !destName ? `:${pulled[0]!.name}` : ''} ${pulled[0]!.digest}`, statsLine(stats)].join('\n'),
  );
  return 0;
}

/**
 * One image into a live registry: blobs mounted from the store's repository name where the
 * registry has it, the image, its referrers after it, then the referrers' `sha256-<hex>` tags
 * where the registry has no referrers API (2.8), and its tag. A registry error names the image.
 */
async function intoRegistry(sink: DockerSink, source: StoreSource, copier: ImageCopier, root: Descriptor, name: string | undefined, referrers: boolean): Promise<Descriptor> {
  sink.mountFrom = source.ref.repo;
  try {
    const desc = await copier.copy(root);
    const api = referrers && (await sink.hasReferrersApi());
    if (referrers) await copyFallbackTags(source, sink, copier, (tag) => !(api && /^sha256-[a-f0-9]{64}$/.test(tag)));
    if (name) await sink.tag(name, desc);
    return desc;
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err;
    const E = err.constructor as typeof RegistryError;
    throw new E(`pushing ${formatStoreRef(source.ref)} to ${sink.description}: ${err.message}`, err.status);
  }
}

/** `repo:tag` (`latest` when none was given); nothing for an image pulled by digest. */
function fullName(ref: StoreRef): string | undefined {
  return ref.digest ? undefined : `${ref.repo}:${ref.tag ?? 'latest'}`;
}

async function nameImage(sink: ReturnType<typeof openSink>['sink'], name: string | undefined, desc: Descriptor): Promise<void> {
  if (name) await sink.tag(name, desc);
  else if (sink instanceof OciLayoutSink || sink instanceof TarLayoutSink) sink.addUnnamed(desc);
}
