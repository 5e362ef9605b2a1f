import type { Context } from '../cli/context.js';
import { UsageError } from '../errors.js';
import { parseStoreRef } from '../image/reference.js';
import { parseDockerHost, parseDockerRef } from '../image/registry-client.js';
import { hasTagFilter } from '../image/tag-filter.js';
import { openSource } from '../image/transports.js';
import { pushInto, type PushIntoResult } from '../store/import.js';
import { runCatalog } from './push-catalog.js';
import { runAllTags, tagFilterSpec, type TagMirrorFlags } from './push-tags.js';
import { sourceOptions, type DestFlags } from './source-options.js';
import { intoRegistry } from './push-registry.js';
import { copyProgress, statsLine } from './transfer-progress.js';

interface PushOptions extends TagMirrorFlags, DestFlags {
  allTags?: boolean;
  destChunkSize?: number;
}

export async function run(ctx: Context, sourceRef: string, destRef: string | undefined, opts: PushOptions): Promise<number> {
  if (destRef?.startsWith('docker://')) return intoRegistry(ctx, sourceRef, destRef, opts);
  const filtered = hasTagFilter(tagFilterSpec(opts)) || opts.pageSize !== undefined;
  const host = parseDockerHost(sourceRef);
  if (host !== undefined) return runCatalog(ctx, host, destRef, opts);
  if (opts.includeRepo?.length || opts.excludeRepo?.length) {
    throw new UsageError(`--include-repo and --exclude-repo select repositories of a registry's catalog: the source is docker://<host> (no repository), not ${sourceRef}`);
  }
  if (opts.allTags && sourceRef.startsWith('docker://')) return runAllTags(ctx, parseDockerRef(sourceRef), destRef, opts);
  if (filtered)
    throw new UsageError(
      '--include-tag, --exclude-tag, --semver, --latest-semver and --page-size filter the tags of a live repository: use them with --all-tags docker://<host>/<repo> or docker://<host> --include-repo <glob>',
    );
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
    if (pushed.length > 1 && !opts.allTags && dest !== undefined) {
      ctx.output.warn(`${sourceRef} held ${pushed.length} images, all pushed: pass --all-tags to say so (a future version will require it)`);
    }
    ctx.output.references(pushed.map((p) => `${p.repo}:${p.tag}@${p.digest}`));
    ctx.output.result({ images: pushed, stats }, () => [...pushed.map((p) => `${p.repo}:${p.tag} ${p.digest}`), statsLine(stats)].join('\n'));
    return 0;
  } finally {
    await source.close?.();
  }
}
