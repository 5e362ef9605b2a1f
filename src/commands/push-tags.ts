// push --all-tags docker://host/repo: every tag of a live repository that the filters keep, one
// push per tag (a failing tag is reported, the others go on); a summary table at the end. The
// catalog form (push-catalog.ts) plans many repositories and reports through the same code.
import type { Context } from '../cli/context.js';
import { formatBytes } from '../cli/output.js';
import { UsageError } from '../errors.js';
import { parseStoreRef } from '../image/reference.js';
import { redact } from '../image/registry-auth.js';
import { DockerSource, formatDockerRef, type DockerRef } from '../image/registry-client.js';
import { compileTagFilter, selectTags, type TagFilterSpec } from '../image/tag-filter.js';
import { mirrorTags, type MirrorItem, type MirroredTag } from '../store/mirror.js';
import { sourceOptions, type SourceFlags } from './source-options.js';
import { statsLine } from './transfer-progress.js';

export interface TagMirrorFlags extends SourceFlags {
  includeTag?: string[];
  excludeTag?: string[];
  semver?: string;
  latestSemver?: number;
  pageSize?: number;
  includeRepo?: string[];
  excludeRepo?: string[];
  platform?: string[];
  referrers: boolean;
  repair?: boolean;
}

export function tagFilterSpec(opts: TagMirrorFlags): TagFilterSpec {
  return { include: opts.includeTag, exclude: opts.excludeTag, semver: opts.semver, latest: opts.latestSemver };
}

export function oneLine(err: unknown): string {
  return redact((err as Error)?.message ?? String(err)).replace(/\s*\n\s*/g, ' ');
}

/** A source repository of a catalog mirror: what was listed and kept, or why its tags could not be listed. */
export interface RepoPlan {
  name: string;
  destination: string;
  tagsListed: number;
  tagsSelected: number;
  error?: string;
}

/** What a mirror run copies: the items, and what was listed to find them. */
export interface MirrorPlan {
  items: MirrorItem[];
  tagsListed: number;
  /** Catalog mirrors only. */
  repositories?: RepoPlan[];
  repositoriesListed?: number;
}

export interface MirrorRun {
  /** docker://host/repo or docker://host, for the document. */
  source: string;
  /** For progress and messages: host/repo or host. */
  where: string;
  host: string;
  /** Lists what to copy; `say` updates the progress line. */
  plan(say: (text: string) => void, srcOpts: ReturnType<typeof sourceOptions>): Promise<MirrorPlan>;
}

/** Lists, mirrors and reports: a table (or -q references, or --json), exit 1 naming what failed. */
export async function mirrorAndReport(ctx: Context, run: MirrorRun, opts: TagMirrorFlags): Promise<number> {
  const jobs = Math.max(1, Math.ceil(ctx.globals.concurrency / 2));
  // Sources on one registry share a client: its connection pool serves every job at once.
  const srcOpts = { ...sourceOptions(ctx, opts), concurrency: ctx.globals.concurrency * jobs };
  const prog = ctx.output.progress(`listing ${run.where}...`);
  try {
    const plan = await run.plan((text) => prog.update(text), srcOpts);
    const catalog = plan.repositories !== undefined;
    // A catalog's rows name the source repository too; one repository's, the tag alone.
    const tagLabel = (t: MirroredTag) => (catalog ? t.source.slice(t.source.indexOf('/', 'docker://'.length) + 1) : t.tag);
    const selected = plan.items.length;
    prog.update(`mirroring ${run.where}: 0/${selected} tags`);
    const d = await ctx.store();
    const result = await mirrorTags(
      d,
      plan.items,
      (item) => {
        const ref: DockerRef = { host: run.host, repo: item.from, tag: item.tag };
        return { source: new DockerSource(ref, srcOpts), ref: formatDockerRef(ref) };
      },
      {
        jobs,
        concurrency: ctx.globals.concurrency,
        platforms: opts.platform,
        referrers: opts.referrers,
        repair: opts.repair,
        describeError: oneLine,
        onTag: (n, total, r) => prog.update(`mirroring ${run.where}: ${n}/${total} tags (${tagLabel(r)} ${r.status})`),
      },
    );
    prog.done();
    const ok = result.tags.filter((t) => t.status !== 'failed');
    const failed = result.tags.filter((t) => t.status === 'failed');
    const badRepos = (plan.repositories ?? []).filter((r) => r.error !== undefined);
    const summary = {
      ...(catalog ? { repositoriesListed: plan.repositoriesListed ?? 0, repositoriesSelected: plan.repositories!.length, repositoriesFailed: badRepos.length } : {}),
      tagsListed: plan.tagsListed,
      tagsSelected: selected,
      copied: ok.filter((t) => t.status === 'copied').length,
      unchanged: ok.filter((t) => t.status === 'unchanged').length,
      failed: failed.length,
      bytesMoved: result.stats.bytesUploaded,
    };
    ctx.output.references(ok.map((t) => `${t.repo}:${t.tag}@${t.digest}`));
    const rows = [
      ...result.tags.map((t) => [tagLabel(t), `${t.repo}:${t.tag}`, t.status, t.digest ?? '-', formatBytes(t.bytesMoved)]),
      ...badRepos.map((r) => [`${r.name} (tags not listed)`, r.destination, 'failed', '-', formatBytes(0)]),
    ];
    const repoCount = catalog ? `${plan.repositories!.length} repositories (${summary.repositoriesListed} listed), ` : '';
    ctx.output.result({ source: run.source, images: ok, failed, summary, ...(catalog ? { repositories: plan.repositories } : {}), stats: result.stats }, () =>
      [
        rows.length
          ? ctx.output.table([catalog ? 'SOURCE' : 'TAG', 'DESTINATION', 'STATUS', 'DIGEST', 'MOVED'], rows)
          : `nothing in ${run.where} matches the filters (${catalog ? `${summary.repositoriesListed} repositories, ` : ''}${plan.tagsListed} tags listed)`,
        `${summary.copied} copied, ${summary.unchanged} unchanged, ${summary.failed} failed of ${selected} tags selected (${plan.tagsListed} listed)${catalog ? ` in ${repoCount.slice(0, -2)}` : ''}; ${statsLine(result.stats)}`,
      ].join('\n'),
    );
    const named = [...badRepos.map((r) => `repository ${r.name} (${r.error})`), ...failed.map((f) => `${tagLabel(f)} (${f.error})`)];
    if (named.length) {
      const what = [failed.length || !badRepos.length ? `${failed.length} of ${selected} tags` : '', badRepos.length ? `${badRepos.length} of ${plan.repositories!.length} repositories` : '']
        .filter(Boolean)
        .join(' and ');
      ctx.output.error(`${what} failed: ${named.join('; ')}`);
    }
    return named.length ? 1 : 0;
  } finally {
    prog.done();
  }
}

export async function runAllTags(ctx: Context, ref: DockerRef, destRef: string | undefined, opts: TagMirrorFlags): Promise<number> {
  if (ref.tag || ref.digest) throw new UsageError(`--all-tags takes a repository, not ${formatDockerRef(ref)}: drop the tag or digest (filter with --include-tag)`);
  const dest = destRef === undefined ? { repo: ref.repo } : parseStoreRef(destRef);
  if (dest.tag || dest.digest) throw new UsageError(`push --all-tags destination ${destRef} names a tag or digest: give a repository (each tag keeps its name)`);
  const filter = compileTagFilter(tagFilterSpec(opts));
  return mirrorAndReport(
    ctx,
    {
      source: formatDockerRef(ref),
      where: `${ref.host}/${ref.repo}`,
      host: ref.host,
      async plan(say, srcOpts) {
        say(`listing the tags of ${ref.host}/${ref.repo}...`);
        const lister = new DockerSource(ref, srcOpts);
        try {
          const all = await lister.listTags(opts.pageSize);
          return { items: selectTags(all, filter).map((tag) => ({ repo: dest.repo, tag, from: ref.repo })), tagsListed: all.length };
        } finally {
          await lister.close();
        }
      },
    },
    opts,
  );
}
