// push --all-tags docker://host/repo: every tag of a live repository that the filters keep, one
// push per tag (a failing tag is reported, the others go on); a summary table at the end.
import type { Context } from '../cli/context.js';
import { formatBytes } from '../cli/output.js';
import { UsageError } from '../errors.js';
import { parseStoreRef } from '../image/reference.js';
import { redact } from '../image/registry-auth.js';
import { DockerSource, formatDockerRef, type DockerRef } from '../image/registry-client.js';
import { compileTagFilter, selectTags, type TagFilterSpec } from '../image/tag-filter.js';
import { mirrorTags } from '../store/mirror.js';
import { sourceOptions, type SourceFlags } from './source-options.js';
import { statsLine } from './transfer-progress.js';

export interface TagMirrorFlags extends SourceFlags {
  includeTag?: string[];
  excludeTag?: string[];
  semver?: string;
  latestSemver?: number;
  pageSize?: number;
  platform?: string[];
  referrers: boolean;
  repair?: boolean;
}

export function tagFilterSpec(opts: TagMirrorFlags): TagFilterSpec {
  return { include: opts.includeTag, exclude: opts.excludeTag, semver: opts.semver, latest: opts.latestSemver };
}

function oneLine(err: unknown): string {
  return redact((err as Error)?.message ?? String(err)).replace(/\s*\n\s*/g, ' ');
}

export async function runAllTags(ctx: Context, ref: DockerRef, destRef: string | undefined, opts: TagMirrorFlags): Promise<number> {
  if (ref.tag || ref.digest) throw new UsageError(`--all-tags takes a repository, not ${formatDockerRef(ref)}: drop the tag or digest (filter with --include-tag)`);
  const dest = destRef === undefined ? { repo: ref.repo } : parseStoreRef(destRef);
  if (dest.tag || dest.digest) throw new UsageError(`push --all-tags destination ${destRef} names a tag or digest: give a repository (each tag keeps its name)`);
  const filter = compileTagFilter(tagFilterSpec(opts));
  const srcOpts = sourceOptions(ctx, opts);
  const jobs = Math.max(1, Math.ceil(ctx.globals.concurrency / 2));
  const lister = new DockerSource(ref, { ...srcOpts, concurrency: ctx.globals.concurrency * jobs });
  const where = `${ref.host}/${ref.repo}`;
  const prog = ctx.output.progress(`listing the tags of ${where}...`);
  try {
    const all = await lister.listTags(opts.pageSize);
    const tags = selectTags(all, filter);
    prog.update(`mirroring ${where}: 0/${tags.length} tags`);
    const d = await ctx.store();
    const result = await mirrorTags(
      d,
      dest.repo,
      tags,
      (tag) => ({ source: new DockerSource({ ...ref, tag }, { ...srcOpts, concurrency: ctx.globals.concurrency * jobs }), ref: `${formatDockerRef(ref)}:${tag}` }),
      {
        jobs,
        concurrency: ctx.globals.concurrency,
        platforms: opts.platform,
        referrers: opts.referrers,
        repair: opts.repair,
        describeError: oneLine,
        onTag: (n, total, r) => prog.update(`mirroring ${where}: ${n}/${total} tags (${r.tag} ${r.status})`),
      },
    );
    prog.done();
    const ok = result.tags.filter((t) => t.status !== 'failed');
    const failed = result.tags.filter((t) => t.status === 'failed');
    const summary = {
      tagsListed: all.length,
      tagsSelected: tags.length,
      copied: ok.filter((t) => t.status === 'copied').length,
      unchanged: ok.filter((t) => t.status === 'unchanged').length,
      failed: failed.length,
      bytesMoved: result.stats.bytesUploaded,
    };
    ctx.output.references(ok.map((t) => `${t.repo}:${t.tag}@${t.digest}`));
    ctx.output.result({ source: formatDockerRef(ref), images: ok, failed, summary, stats: result.stats }, () =>
      [
        tags.length
          ? ctx.output.table(
              ['TAG', 'DESTINATION', 'STATUS', 'DIGEST', 'MOVED'],
              result.tags.map((t) => [t.tag, `${t.repo}:${t.tag}`, t.status, t.digest ?? '-', formatBytes(t.bytesMoved)]),
            )
          : `no tag of ${where} matches the filters (${all.length} listed)`,
        `${summary.copied} copied, ${summary.unchanged} unchanged, ${summary.failed} failed of ${tags.length} tags selected (${all.length} listed); ${statsLine(result.stats)}`,
      ].join('\n'),
    );
    if (failed.length) ctx.output.error(`${failed.length} of ${tags.length} tags failed: ${failed.map((f) => `${f.tag} (${f.error})`).join('; ')}`);
    return failed.length ? 1 : 0;
  } finally {
    prog.done();
    await lister.close();
  }
}
