// push <source> docker://...: images from a layout, an archive (an air-gap bundle) or another
// registry into a live registry over the Registry API, without a store. The source streams: an
// archive's blobs are read from the tar in place, never copied out first.
import type { Context } from '../cli/context.js';
import { UsageError } from '../errors.js';
import { parseDockerHost } from '../image/registry-client.js';
import { hasTagFilter } from '../image/tag-filter.js';
import { openSource } from '../image/transports.js';
import { parseRegistryDest, RegistryTarget } from '../image/registry-target.js';
import { preparePush } from '../store/import.js';
import type { TagMirrorFlags } from './push-tags.js';
import { tagFilterSpec } from './push-tags.js';
import { destOptions, sourceOptions, type DestFlags } from './source-options.js';
import { copyProgress, statsLine } from './transfer-progress.js';

interface IntoRegistryOptions extends TagMirrorFlags, DestFlags {
  allTags?: boolean;
  destChunkSize?: number;
}

export async function intoRegistry(ctx: Context, sourceRef: string, destRef: string, opts: IntoRegistryOptions): Promise<number> {
  const whole = (opts.allTags && sourceRef.startsWith('docker://')) || parseDockerHost(sourceRef) !== undefined || opts.includeRepo?.length || opts.excludeRepo?.length;
  if (whole || hasTagFilter(tagFilterSpec(opts)) || opts.pageSize !== undefined) {
    throw new UsageError(`a repository's tags go from one live registry to another through the store: push --all-tags ${sourceRef} <repo>, then pull <repo>:<tag>... ${destRef}`);
  }
  const target = new RegistryTarget(parseRegistryDest(destRef), { ...destOptions(ctx, opts), chunkSize: opts.destChunkSize });
  const source = openSource(sourceRef, sourceOptions(ctx, opts));
  try {
    const prog = copyProgress(ctx.output, `pushing to ${destRef}`);
    let result;
    try {
      // Every image named and every manifest read and checked before the first upload.
      const prepared = await preparePush(target, source, sourceRef, target.storeRef, {
        concurrency: ctx.globals.concurrency,
        platforms: opts.platform,
        referrers: opts.referrers,
        progress: prog.progress,
      });
      result = await prepared.run();
    } finally {
      prog.done();
    }
    const images = result.pushed.map((p) => ({ ...p, repo: target.repoOf(p.repo) }));
    const names = result.pushed.map((p) => target.name(p.repo, p.tag));
    ctx.output.references(names.map((n, i) => `${n}@${images[i]!.digest}`));
    ctx.output.result({ destination: destRef, images, stats: result.stats, blobsMounted: target.blobsMounted }, () =>
      [...names.map((n, i) => `${n} ${images[i]!.digest}`), statsLine(result.stats)].join('\n'),
    );
    return 0;
  } finally {
    await source.close?.();
    await target.close();
  }
}
