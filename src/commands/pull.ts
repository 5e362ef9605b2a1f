import type { Command } from 'commander';
import { action } from '../cli/action.js';
import type { Context } from '../cli/context.js';
import { ImageCopier } from '../image/copy.js';
import { parseStoreRef } from '../image/reference.js';
import { openSink } from '../image/transports.js';
import { OciLayoutSink } from '../image/oci-layout.js';
import { StoreSource } from '../store/image-io.js';
import { copyProgress, statsLine } from './transfer-progress.js';

interface PullOptions {
  platform?: string[];
  referrers: boolean;
}

async function pull(ctx: Context, ref: string, destRef: string, opts: PullOptions): Promise<number> {
  const src = parseStoreRef(ref);
  const { sink, ref: destName } = openSink(destRef);
  const d = await ctx.store();
  const source = new StoreSource(d, src);
  const [image] = await source.images();
  const prog = copyProgress(ctx.output, `pulling ${ref}`);
  const copier = new ImageCopier(source, sink, {
    concurrency: ctx.globals.concurrency,
    platforms: opts.platform,
    referrers: opts.referrers,
    progress: prog.progress,
  });
  let desc;
  try {
    desc = await copier.copy(image!.descriptor);
  } finally {
    prog.done();
  }
  const name = destName ?? image!.name;
  if (name) await sink.tag(name, desc);
  else if (sink instanceof OciLayoutSink) sink.addUnnamed(desc);
  await sink.commit?.();
  ctx.output.result({ source: ref, destination: destRef, name: name ?? null, digest: desc.digest, mediaType: desc.mediaType, stats: copier.stats }, () =>
    [`${destRef}${name && !destName ? `:${name}` : ''} ${desc.digest}`, statsLine(copier.stats)].join('\n'),
  );
  return 0;
}

export function register(program: Command): void {
  program
    .command('pull')
    .description('export an image from the store (destination: oci:<dir>[:<ref>])')
    .argument('<ref>', '<repo>[:<tag>|@<digest>] in the store')
    .argument('<dest>', 'oci:<dir>[:<ref>]')
    .option('--platform <os/arch[/variant]>', 'pull only this platform of a multi-arch image (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--no-referrers', 'do not copy signatures, SBOMs and other referrers')
    .action(action(pull));
}
