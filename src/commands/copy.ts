import type { Context } from '../cli/context.js';
import { NotFoundError, UsageError } from '../errors.js';
import { ImageCopier } from '../image/image-copier.js';
import { formatStoreRef, parseStoreRef, type StoreRef } from '../image/reference.js';
import { StoreSink, StoreSource } from '../store/source-sink.js';
import { listTags } from '../store/tags.js';
import { copyFallbackTags } from '../store/import.js';
import { copyProgress, statsLine } from './transfer-progress.js';
import { runAll, type CopyAllOptions } from './copy-all.js';

interface CopyOptions extends CopyAllOptions {
  to?: string;
  allRepositories?: boolean;
  allTags?: boolean;
  platform?: string[];
  referrers: boolean;
  repair?: boolean;
}

interface CopiedImage {
  source: string;
  destination: string;
  digest: string;
}

const SCHEME_RE = /^[a-z][a-z0-9+.-]*:\/\//i;

/** A store URL as a user writes one: a path (absolute, ./ or ../, ~), or a scheme URL. */
function looksLikeStoreUrl(s: string): boolean {
  return SCHEME_RE.test(s) || s.startsWith('/') || s.startsWith('./') || s.startsWith('../') || s === '.' || s === '..' || s.startsWith('~');
}

/**
 * DST: `<store-url>[//<repo>[:<tag>]]`, or with --to only `<repo>[:<tag>]`. A repository name
 * never starts with `/`, `.` or `~` and never holds `//` or a scheme, so the two cannot be confused;
 * a bare word like `mirror` is a repository, and needs --to for its store.
 */
export function parseCopyDestination(dst: string | undefined, to: string | undefined): { store: string; ref?: StoreRef } {
  if (to !== undefined) {
    if (dst !== undefined && looksLikeStoreUrl(dst)) throw new UsageError(`copy got two destination stores, --to ${to} and ${dst}: give one`);
    return { store: to, ref: dst === undefined ? undefined : parseStoreRef(dst) };
  }
  if (dst === undefined) throw new UsageError('copy needs a destination: regbucket copy <repo>[:<tag>] <store-url>[//<repo>[:<tag>]]');
  if (!looksLikeStoreUrl(dst)) {
    throw new UsageError(`copy destination ${dst} is a repository, not a store: write the store as a path or URL (./${dst}, /srv/${dst}, s3://bucket/prefix), or give it with --to`);
  }
  const scheme = SCHEME_RE.exec(dst)?.[0] ?? '';
  const at = dst.indexOf('//', scheme.length);
  if (at < 0) return { store: dst };
  const store = dst.slice(0, at);
  const repo = dst.slice(at + 2);
  if (!repo) return { store };
  return { store, ref: parseStoreRef(repo) };
}

/**
 * What to copy: the one image a tag or digest names (a repository alone means latest), or with
 * --all-tags every tag of the repository (the `sha256-<hex>` referrers tags come along that way).
 */
async function sources(ctx: Context, src: StoreRef, allTags: boolean): Promise<StoreRef[]> {
  if (allTags) {
    if (src.tag || src.digest) throw new UsageError(`--all-tags copies a whole repository: give ${src.repo}, not ${formatStoreRef(src)}`);
    const tags = await listTags(await ctx.registryStore(), src.repo);
    if (tags.length === 0) throw new NotFoundError(`repository ${src.repo} has no tags in ${ctx.storeUrl}: name a digest (${src.repo}@sha256:...) to copy an untagged image`);
    return tags.map((tag) => ({ repo: src.repo, tag }));
  }
  if (src.tag || src.digest) return [src];
  const d = await ctx.registryStore();
  const tags = await listTags(d, src.repo);
  if (!tags.includes('latest') && tags.length > 0) {
    // Before --all-tags, a bare repository copied every tag: say how to get that now.
    throw new UsageError(
      `${src.repo} has no tag latest, which a repository alone means: name a tag (${tags
        .slice(0, 3)
        .map((t) => `${src.repo}:${t}`)
        .join(', ')}) or pass --all-tags to copy all ${tags.length}`,
    );
  }
  return [{ repo: src.repo, tag: 'latest' }];
}

/** --all-repositories: one argument (or --to), the destination store alone; flags that select within an image refused. */
function runAllRepositories(ctx: Context, ref: string | undefined, dstArg: string | undefined, opts: CopyOptions): Promise<number> {
  const usage = 'copy --all-repositories takes the destination store alone: regbucket --store <src> copy --all-repositories <store-url>';
  if (dstArg !== undefined || (ref === undefined) === (opts.to === undefined)) throw new UsageError(usage);
  const { store, ref: repo } = parseCopyDestination(ref, opts.to);
  if (repo) throw new UsageError(`copy --all-repositories keeps every repository's name: give the store alone, not ${ref}`);
  for (const [flag, set] of [
    ['--all-tags', opts.allTags],
    ['--platform', opts.platform],
    ['--no-referrers', !opts.referrers],
    ['--repair', opts.repair],
  ] as const) {
    if (set) throw new UsageError(`${flag} does not go with --all-repositories, which copies every tag whole, referrers tags included`);
  }
  return runAll(ctx, store, opts);
}

export async function run(ctx: Context, ref: string | undefined, dstArg: string | undefined, opts: CopyOptions): Promise<number> {
  if (opts.allRepositories) return runAllRepositories(ctx, ref, dstArg, opts);
  if (opts.includeRepo || opts.excludeRepo || opts.verify) throw new UsageError('--include-repo, --exclude-repo and --verify go with --all-repositories');
  if (ref === undefined) throw new UsageError('copy needs a source: regbucket copy <repo>[:<tag>] <store-url>[//<repo>[:<tag>]], or --all-repositories <store-url>');
  const src = parseStoreRef(ref);
  const { store: toUrl, ref: destRef } = parseCopyDestination(dstArg, opts.to);
  const dest = destRef ?? { repo: src.repo };
  const destText = destRef ? formatStoreRef(destRef) : undefined;
  if (dest.digest) throw new UsageError(`copy destination ${destText} names a digest: give a repository and optionally a tag`);
  const refs = await sources(ctx, src, Boolean(opts.allTags));
  if (dest.tag && refs.length > 1) {
    throw new UsageError(`--all-tags copies ${refs.length} tags of ${src.repo}: give a destination repository without a tag`);
  }
  const from = await ctx.registryStore();
  const to = await ctx.open(toUrl);
  try {
    const sink = new StoreSink(to, dest.repo, { repair: opts.repair });
    const prog = copyProgress(ctx.output, `copying to ${toUrl}`);
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
    ctx.output.references(copied.map((c) => `${c.destination}@${c.digest}`));
    ctx.output.result({ to: toUrl, images: copied, stats: copier.stats }, () => [...copied.map((c) => `${c.source} -> ${c.destination} ${c.digest}`), statsLine(copier.stats)].join('\n'));
    return 0;
  } finally {
    await to.close();
  }
}
