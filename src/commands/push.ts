import type { Command } from 'commander';
import { action } from '../cli/action.js';
import type { Context } from '../cli/context.js';
import { InvalidReferenceError, UsageError } from '../errors.js';
import { ImageCopier } from '../image/copy.js';
import { isTag, parseStoreRef } from '../image/reference.js';
import { openSource } from '../image/transports.js';
import type { ImageSource, SourceImage } from '../image/transfer.js';
import { StoreSink } from '../store/image-io.js';
import { DockerSource } from '../image/registry-client.js';
import { addSourceOptions, sourceOptions, type SourceFlags } from './source-options.js';
import { copyProgress, statsLine } from './transfer-progress.js';

interface PushOptions extends SourceFlags {
  platform?: string[];
  referrers: boolean;
}

export interface PushedImage {
  repo: string;
  tag: string;
  digest: string;
  mediaType: string;
}

/** Which tag each source image gets: the destination's, else the image's own name. */
function planTags(images: SourceImage[], repo: string, tag: string | undefined, source: string): { image: SourceImage; tag: string }[] {
  if (tag !== undefined) {
    if (images.length > 1) {
      const names = images.map((i) => i.name ?? i.descriptor.digest).join(', ');
      throw new UsageError(`${source} holds ${images.length} images (${names}): name one (${source}:<ref>) or push to ${repo} without a tag to push them all under their own names`);
    }
    return [{ image: images[0]!, tag }];
  }
  return images.map((image) => {
    const name = images.length === 1 && !image.name ? 'latest' : image.name;
    if (!name || !isTag(name)) {
      throw new InvalidReferenceError(
        `image ${image.descriptor.digest} in ${source} is named ${JSON.stringify(name ?? '')}, which is not a valid tag: give one, as in regbucket push ${source} ${repo}:<tag>`,
      );
    }
    return { image, tag: name };
  });
}

/**
 * A registry without the referrers API lists referrers in a `sha256-<hex>` tag; the store gets
 * that tag too, so a registry serving it (2.8 has no referrers API either) shows them to clients.
 */
async function copyFallbackTags(source: ImageSource, sink: StoreSink, main: ImageCopier): Promise<void> {
  if (!(source instanceof DockerSource)) return;
  for (const [tag, desc] of source.fallbackTags) {
    const copier = new ImageCopier(source, sink, { concurrency: 1, referrers: false });
    await copier.copy(desc);
    main.stats.manifestsWritten += copier.stats.manifestsWritten;
    await sink.tag(tag, desc);
  }
}

async function push(ctx: Context, sourceRef: string, destRef: string, opts: PushOptions): Promise<number> {
  const dest = parseStoreRef(destRef);
  if (dest.digest) throw new UsageError(`push destination ${destRef} names a digest: give a repository and optionally a tag`);
  const source = openSource(sourceRef, sourceOptions(ctx, opts));
  try {
    const plan = planTags(await source.images(), dest.repo, dest.tag, sourceRef);
    const d = await ctx.store();
    const sink = new StoreSink(d, dest.repo);
    const prog = copyProgress(ctx.output, `pushing to ${dest.repo}`);
    const copier = new ImageCopier(source, sink, {
      concurrency: ctx.globals.concurrency,
      platforms: opts.platform,
      referrers: opts.referrers,
      progress: prog.progress,
    });
    const pushed: PushedImage[] = [];
    try {
      for (const { image, tag } of plan) {
        const desc = await copier.copy(image.descriptor);
        await sink.tag(tag, desc);
        pushed.push({ repo: dest.repo, tag, digest: desc.digest, mediaType: desc.mediaType });
      }
      if (opts.referrers) await copyFallbackTags(source, sink, copier);
    } finally {
      prog.done();
    }
    ctx.output.result({ images: pushed, stats: copier.stats }, () =>
      [...pushed.map((p) => `${p.repo}:${p.tag} ${p.digest}`), statsLine(copier.stats)].join('\n'),
    );
    return 0;
  } finally {
    await source.close?.();
  }
}

export function register(program: Command): void {
  const cmd = program
    .command('push')
    .description('import an image into the store (source: oci:<dir>[:<ref>] or docker://<host>/<repo>[:<tag>|@<digest>])')
    .argument('<source>', 'oci:<dir>[:<ref>] or docker://<host>[:<port>]/<repo>[:<tag>|@<digest>]')
    .argument('<dest>', '<repo>[:<tag>] in the store')
    .option('--platform <os/arch[/variant]>', 'push only this platform of a multi-arch image (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--no-referrers', 'do not copy signatures, SBOMs and other referrers');
  addSourceOptions(cmd).action(action(push));
}
