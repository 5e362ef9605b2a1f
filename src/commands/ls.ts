import type { Context } from '../cli/context.js';
import type { FormatFlags } from '../cli/format.js';
import type { StorageDriver } from '../drivers/driver.js';
import { UsageError } from '../errors.js';
import { localReads } from '../drivers/local-reads/decorator.js';
import { SHA256_HEX, type Digest } from '../image/digest.js';
import { MediaType } from '../image/mediatypes.js';
import { parseRepoName } from '../image/reference.js';
import { linearRegExp } from '../util/linear-regex.js';
import { checkRepoPattern, globToRegExp } from '../retention/policy.js';
import { listAllTags, listRepoTags, listRepositorySummaries, type RepoTags } from '../store/listing.js';
import { ManifestReader } from '../store/summary.js';
import { byName, compareStrings } from '../util/compare.js';

interface LsOptions extends FormatFlags {
  all?: boolean;
  details: boolean;
  created?: boolean;
  sort: string;
  tag?: string;
  omitDigestTags?: boolean;
}

type SortKey = 'tag' | 'pushed' | 'created';
const GLOB_CHARS = /[*?]/;
/** cosign attachments and referrers fallback tags: `sha256-<hex>[.sig|.att|.sbom]`. */
const DIGEST_TAG_RE = new RegExp(`^sha256-${SHA256_HEX}(?:\\.[a-z]+)?$`);

export interface TagRow {
  tag: string;
  digest: Digest | null;
  mediaType?: string | null;
  platforms?: string[] | null;
  size?: number | null;
  /** Push time (ISO 8601 UTC): the tag's current link's modification time. */
  pushed: string | null;
  /** The image's `created` from its config (--created). */
  created?: string | null;
  problem?: string;
}

function iso(t: number | undefined): string | null {
  return t === undefined || Number.isNaN(t) ? null : new Date(t).toISOString();
}

const SHORT_TYPES: Record<string, string> = {
  [MediaType.ociIndex]: 'oci index',
  [MediaType.ociManifest]: 'oci manifest',
  [MediaType.dockerManifestList]: 'docker list',
  [MediaType.dockerManifest]: 'docker manifest',
  [MediaType.dockerSchema1Signed]: 'docker schema1',
  [MediaType.dockerSchema1]: 'docker schema1',
};

async function rows(ctx: Context, d: StorageDriver, repos: RepoTags[], details: boolean, created: boolean): Promise<{ name: string; tags: TagRow[] }[]> {
  const reader = new ManifestReader(d, ctx.globals.concurrency);
  const withCreated = async (t: RepoTags['tags'][number], row: TagRow): Promise<TagRow> => (created ? { ...row, created: t.digest ? iso(await reader.created(t.digest)) : null } : row);
  if (!details) {
    return Promise.all(
      repos.map(async (r) => ({
        name: r.name,
        tags: await Promise.all(r.tags.map((t) => withCreated(t, { tag: t.tag, digest: t.digest ?? null, pushed: iso(t.pushed), ...(t.problem ? { problem: t.problem } : {}) }))),
      })),
    );
  }
  const total = repos.reduce((n, r) => n + r.tags.length, 0);
  const prog = ctx.output.progress(`ls: reading manifests 0/${total}`);
  let done = 0;
  try {
    return await Promise.all(
      repos.map(async (r) => ({
        name: r.name,
        tags: await Promise.all(
          r.tags.map(async (t): Promise<TagRow> => {
            if (!t.digest) return withCreated(t, { tag: t.tag, digest: null, mediaType: null, platforms: null, size: null, pushed: null, problem: t.problem ?? 'tag has no current link' });
            const s = await reader.summarize(t.digest);
            if (++done % 100 === 0) prog.update(`ls: reading manifests ${done}/${total}`);
            return withCreated(t, { tag: t.tag, digest: t.digest, mediaType: s.mediaType, platforms: s.platforms, size: s.size, pushed: iso(t.pushed), ...(s.problem ? { problem: s.problem } : {}) });
          }),
        ),
      })),
    );
  } finally {
    prog.done();
  }
}

function tagTable(ctx: Context, repos: { name: string; tags: TagRow[] }[], details: boolean, withRepo: boolean, created: boolean): string {
  const now = Date.now();
  const out = ctx.output;
  const exact = out.tabular.format === 'tsv';
  const head = [...(withRepo ? ['REPOSITORY'] : []), 'TAG', 'DIGEST', ...(details ? ['TYPE', 'PLATFORMS', 'SIZE'] : []), 'PUSHED', ...(created ? ['CREATED'] : [])];
  const body = repos.flatMap((r) =>
    r.tags.map((t) => [
      ...(withRepo ? [r.name] : []),
      t.tag,
      t.digest ?? '-',
      ...(details
        ? [t.mediaType ? (exact ? t.mediaType : (SHORT_TYPES[t.mediaType] ?? t.mediaType)) : '-', t.platforms?.join(',') || '-', t.size !== null && t.size !== undefined ? out.size(t.size) : '?']
        : []),
      out.time(t.pushed, now),
      ...(created ? [out.time(t.created, now)] : []),
    ]),
  );
  const problems = repos.flatMap((r) => r.tags.filter((t) => t.problem).map((t) => `${r.name}:${t.tag}: ${t.problem}`));
  for (const p of problems) ctx.output.warn(p);
  return ctx.output.table(head, body);
}

/** Keeps the tags the filters select and orders them (newest first for times). */
function filterAndSort(repos: { name: string; tags: TagRow[] }[], opts: LsOptions, tagRe: RegExp | undefined): void {
  const key = opts.sort as SortKey;
  const time = (t: TagRow): number => {
    const v = key === 'pushed' ? t.pushed : t.created;
    return v ? Date.parse(v) : -Infinity;
  };
  for (const r of repos) {
    r.tags = r.tags.filter((t) => (!tagRe || tagRe.test(t.tag)) && !(opts.omitDigestTags && DIGEST_TAG_RE.test(t.tag)));
    if (key !== 'tag') r.tags.sort((a, b) => time(b) - time(a) || compareStrings(a.tag, b.tag));
  }
}

export async function run(ctx: Context, repos: string[], opts: LsOptions): Promise<number> {
  ctx.output.useFormat(opts);
  if (!['tag', 'pushed', 'created'].includes(opts.sort)) throw new UsageError(`--sort ${JSON.stringify(opts.sort)}: use tag, pushed or created`);
  if (opts.sort === 'created' && !opts.created) throw new UsageError('--sort created needs --created (it reads every image config)');
  const tagRe = opts.tag === undefined ? undefined : linearRegExp(opts.tag, '--tag');
  const globs = repos.filter((r) => GLOB_CHARS.test(r));
  for (const g of globs) checkRepoPattern(g);
  const names = [...new Set(repos.filter((r) => !GLOB_CHARS.test(r)).map(parseRepoName))];
  if (opts.all && names.length + globs.length > 0) throw new UsageError('give repositories or --all, not both');
  let out: { name: string; tags: TagRow[] }[];
  // A local store is read with synchronous calls while the page cache answers (gc's local reads):
  // listings and links are thousands of tiny reads.
  const { d, release } = localReads(await ctx.registryStore());
  const concurrency = Math.max(1, ctx.globals.concurrency);
  try {
    if (globs.length > 0) {
      const only = globs.map(globToRegExp);
      const listed = (await listAllTags(d, concurrency)).filter((r) => only.some((g) => g.test(r.name)) || names.includes(r.name));
      const missing = names.filter((n) => !listed.some((r) => r.name === n));
      listed.push(...(await Promise.all(missing.map((n) => listRepoTags(d, n, concurrency)))));
      listed.sort(byName);
      out = await rows(ctx, d, listed, opts.details, Boolean(opts.created));
    } else if (names.length === 0 && !opts.all) {
      const list = await listRepositorySummaries(d, concurrency);
      ctx.output.result({ repositories: list }, () =>
        ctx.output.table(
          ['REPOSITORY', 'TAGS'],
          list.map((r) => [r.unaddressable && ctx.output.tabular.format === 'table' ? `${r.name} (a name no storage path can hold: see verify)` : r.name, r.tagCount]),
        ),
      );
      ctx.output.references(list.map((r) => r.name));
      return 0;
    } else {
      const listed = opts.all ? await listAllTags(d, concurrency) : await Promise.all(names.map((n) => listRepoTags(d, n, concurrency)));
      out = await rows(ctx, d, listed, opts.details, Boolean(opts.created));
    }
  } finally {
    await release();
  }
  filterAndSort(out, opts, tagRe);
  // -q: the references only, repo:tag one a line.
  ctx.output.references(out.flatMap((r) => r.tags.map((t) => `${r.name}:${t.tag}`)));
  ctx.output.result({ repositories: out }, () => tagTable(ctx, out, opts.details, Boolean(opts.all) || names.length + globs.length > 1 || globs.length > 0, Boolean(opts.created)));
  return 0;
}
