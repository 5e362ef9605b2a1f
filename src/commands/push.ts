import type { Command } from 'commander';
import { action } from '../cli/action.js';
import type { Context } from '../cli/context.js';
import { UsageError } from '../errors.js';
import { parseStoreRef } from '../image/reference.js';
import { openSource } from '../image/transports.js';
import { pushInto, type PushIntoResult } from '../store/import.js';
import { addSourceOptions, sourceOptions, type SourceFlags } from './source-options.js';
import { copyProgress, statsLine } from './transfer-progress.js';

interface PushOptions extends SourceFlags {
  platform?: string[];
  referrers: boolean;
  repair?: boolean;
}

async function push(ctx: Context, sourceRef: string, destRef: string | undefined, opts: PushOptions): Promise<number> {
  const dest = destRef === undefined ? undefined : parseStoreRef(destRef);
  if (dest?.digest) throw new UsageError(`push destination ${destRef} names a digest: give a repository and optionally a tag`);
  const source = openSource(sourceRef, sourceOptions(ctx, opts));
  try {
    const d = await ctx.store();
    const prog = copyProgress(ctx.output, `pushing to ${dest?.repo ?? 'the store'}`);
    let result: PushIntoResult;
    try {
      result = await pushInto(d, source, sourceRef, dest, { concurrency: ctx.globals.concurrency, platforms: opts.platform, referrers: opts.referrers, progress: prog.progress, repair: opts.repair });
    } finally {
      prog.done();
    }
    const { pushed, stats } = result;
    ctx.output.result({ images: pushed, stats }, () => [...pushed.map((p) => `${p.repo}:${p.tag} ${p.digest}`), statsLine(stats)].join('\n'));
    return 0;
  } finally {
    await source.close?.();
  }
}

export function register(program: Command): void {
  const cmd = program
    .command('push')
    .description(
      'import images into the store (source: oci:<dir>[:<ref>], docker://<host>[:<port>]/<repo>[:<tag>|@<digest>], oci-archive:<file>[:<ref>], docker-archive:<file>[:<name:tag>|:@<n>]); ' +
        'without <dest>, every image goes to the repo:tag it is named by (an air-gap bundle from regbucket pull)',
    )
    .argument('<source>', 'oci:<dir>[:<ref>], docker://<host>[:<port>]/<repo>[:<tag>|@<digest>], oci-archive:<file>[:<ref>] or docker-archive:<file>[:<name:tag>|:@<n>]')
    .argument('[dest]', '<repo>[:<tag>] in the store; a repo without a tag takes every named image under its own tag')
    .option('--platform <os/arch[/variant]>', 'push only this platform of a multi-arch image (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--no-referrers', 'do not copy signatures, SBOMs and other referrers')
    .option('--repair', 're-hash every blob and manifest of the image the store has already and replace corrupt ones from the source (the repair for digest-mismatch findings of verify)');
  addSourceOptions(cmd).action(action(push));
}
