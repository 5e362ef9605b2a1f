import type { Command } from 'commander';
import { action } from '../cli/action.js';
import type { Context } from '../cli/context.js';
import { NotFoundError, UsageError } from '../errors.js';
import { ImageCopier } from '../image/image-copier.js';
import { formatStoreRef, parseStoreRef, type StoreRef } from '../image/reference.js';
import { StoreSink, StoreSource } from '../store/source-sink.js';
import { listTags } from '../store/tags.js';
import { copyFallbackTags } from '../store/import.js';
import { copyProgress, statsLine } from './transfer-progress.js';

interface CopyOptions {
  to: string;
  platform?: string[];
  referrers: boolean;
  repair?: boolean;
}

interface CopiedImage {
  source: string;
  destination: string;
  digest: string;
}

/**
 * What to copy: the one image a tag or digest names, or every tag of the repository (what users
 * mean by copying a repository; the `sha256-<hex>` referrers tags come along that way).
 */
async function sources(ctx: Context, src: StoreRef): Promise<StoreRef[]> {
  if (src.tag || src.digest) return [src];
  const tags = await listTags(await ctx.registryStore(), src.repo);
  if (tags.length === 0) throw new NotFoundError(`repository ${src.repo} has no tags in ${ctx.storeUrl}: name a digest (${src.repo}@sha256:...) to copy an untagged image`);
  return tags.map((tag) => ({ repo: src.repo, tag }));
}

async function copy(ctx: Context, ref: string, destArg: string | undefined, opts: CopyOptions): Promise<number> {
  const src = parseStoreRef(ref);
  const dest = destArg ? parseStoreRef(destArg) : { repo: src.repo };
  if (dest.digest) throw new UsageError(`copy destination ${destArg} names a digest: give a repository and optionally a tag`);
  const refs = await sources(ctx, src);
  if (dest.tag && refs.length > 1) {
    throw new UsageError(`${src.repo} has ${refs.length} tags: copy one (${src.repo}:<tag>) to ${destArg}, or give a destination repository without a tag`);
  }
  const from = await ctx.registryStore();
  const to = await ctx.open(opts.to);
  try {
    const sink = new StoreSink(to, dest.repo, { repair: opts.repair });
    const prog = copyProgress(ctx.output, `copying to ${opts.to}`);
    const copied: CopiedImage[] = [];
    // One copier for every tag: a blob or manifest shared by several is planned and moved once.
    const source = new StoreSource(from, { repo: src.repo });
    const copier = new ImageCopier(source, sink, {
      concurrency: ctx.globals.concurrency,
      platforms: opts.platform,
      referrers: opts.referrers,
      progress: prog.progress,
    });
    try {
      // Every image resolved, every manifest read and every blob checked before the first write:
      // a source that is not whole leaves nothing in the destination.
      const roots = [];
      for (const r of refs) roots.push((await new StoreSource(from, r).images())[0]!.descriptor);
      const plan = await copier.plan(roots);
      await copier.execute(plan);
      for (const [i, r] of refs.entries()) {
        const desc = plan.roots[i]!;
        const tag = dest.tag ?? r.tag ?? 'latest';
        await sink.tag(tag, desc);
        copied.push({ source: formatStoreRef(r), destination: `${dest.repo}:${tag}`, digest: desc.digest });
      }
      if (opts.referrers) await copyFallbackTags(source, sink, copier);
    } finally {
      prog.done();
    }
    ctx.output.result({ to: opts.to, images: copied, stats: copier.stats }, () =>
      [...copied.map((c) => `${c.source} -> ${c.destination} ${c.digest}`), statsLine(copier.stats)].join('\n'),
    );
    return 0;
  } finally {
    await to.close();
  }
}

export function register(program: Command): void {
  program
    .command('copy')
    .description('copy images from the store to another store (directory or bucket), moving only the blobs it lacks')
    .argument('<ref>', '<repo>[:<tag>|@<digest>] in the store; a repository alone copies every tag')
    .argument('[dest]', '<repo>[:<tag>] in the destination store (default: the same name)')
    .requiredOption('--to <store-url>', 'destination store: a directory, file://dir or s3://bucket[/prefix]')
    .option('--platform <os/arch[/variant]>', 'copy only this platform of a multi-arch image (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--no-referrers', 'do not copy signatures, SBOMs and other referrers')
    .option('--repair', 're-hash every blob and manifest of the image the destination has already and replace corrupt ones')
    .action(action(copy));
}
