import type { Command } from 'commander';
import { action } from '../cli/action.js';
import type { Context } from '../cli/context.js';
import { formatBytes } from '../cli/output.js';
import type { StorageDriver } from '../drivers/driver.js';
import { UsageError } from '../errors.js';
import { localReads } from '../drivers/local-reads/decorator.js';
import type { Digest } from '../image/digest.js';
import { MediaType } from '../image/mediatypes.js';
import { parseRepoName } from '../image/reference.js';
import { listAllTags, listRepoTags, listRepositorySummaries, type RepoTags } from '../store/listing.js';
import { ManifestReader } from '../store/summary.js';

interface LsOptions {
  all?: boolean;
  details: boolean;
}

export interface TagRow {
  tag: string;
  digest: Digest | null;
  mediaType?: string | null;
  platforms?: string[] | null;
  size?: number | null;
  problem?: string;
}

const SHORT_TYPES: Record<string, string> = {
  [MediaType.ociIndex]: 'oci index',
  [MediaType.ociManifest]: 'oci manifest',
  [MediaType.dockerManifestList]: 'docker list',
  [MediaType.dockerManifest]: 'docker manifest',
  [MediaType.dockerSchema1Signed]: 'docker schema1',
  [MediaType.dockerSchema1]: 'docker schema1',
};

async function rows(ctx: Context, d: StorageDriver, repos: RepoTags[], details: boolean): Promise<{ name: string; tags: TagRow[] }[]> {
  if (!details) return repos.map((r) => ({ name: r.name, tags: r.tags.map((t) => ({ tag: t.tag, digest: t.digest ?? null, ...(t.problem ? { problem: t.problem } : {}) })) }));
  const reader = new ManifestReader(d, ctx.globals.concurrency);
  const total = repos.reduce((n, r) => n + r.tags.length, 0);
  const prog = ctx.output.progress(`ls: reading manifests 0/${total}`);
  let done = 0;
  try {
    return await Promise.all(
      repos.map(async (r) => ({
        name: r.name,
        tags: await Promise.all(
          r.tags.map(async (t): Promise<TagRow> => {
            if (!t.digest) return { tag: t.tag, digest: null, mediaType: null, platforms: null, size: null, problem: t.problem ?? 'tag has no current link' };
            const s = await reader.summarize(t.digest);
            if (++done % 100 === 0) prog.update(`ls: reading manifests ${done}/${total}`);
            return { tag: t.tag, digest: t.digest, mediaType: s.mediaType, platforms: s.platforms, size: s.size, ...(s.problem ? { problem: s.problem } : {}) };
          }),
        ),
      })),
    );
  } finally {
    prog.done();
  }
}

function tagTable(ctx: Context, repos: { name: string; tags: TagRow[] }[], details: boolean, withRepo: boolean): string {
  const head = [...(withRepo ? ['REPOSITORY'] : []), 'TAG', 'DIGEST', ...(details ? ['TYPE', 'PLATFORMS', 'SIZE'] : [])];
  const body = repos.flatMap((r) =>
    r.tags.map((t) => [
      ...(withRepo ? [r.name] : []),
      t.tag,
      t.digest ?? '-',
      ...(details
        ? [t.mediaType ? (SHORT_TYPES[t.mediaType] ?? t.mediaType) : '-', t.platforms?.join(',') || '-', t.size !== null && t.size !== undefined ? formatBytes(t.size) : '?']
        : []),
    ]),
  );
  const problems = repos.flatMap((r) => r.tags.filter((t) => t.problem).map((t) => `${r.name}:${t.tag}: ${t.problem}`));
  for (const p of problems) ctx.output.warn(p);
  return ctx.output.table(head, body);
}

async function ls(ctx: Context, repos: string[], opts: LsOptions): Promise<number> {
  const names = [...new Set(repos.map(parseRepoName))];
  if (opts.all && names.length > 0) throw new UsageError('give repositories or --all, not both');
  let out: { name: string; tags: TagRow[] }[];
  // A local store is read with synchronous calls while the page cache answers (gc's local reads):
  // listings and links are thousands of tiny reads.
  const { d, release } = localReads(await ctx.registryStore());
  const concurrency = Math.max(1, ctx.globals.concurrency);
  try {
    if (names.length === 0 && !opts.all) {
      const list = await listRepositorySummaries(d, concurrency);
      ctx.output.result({ repositories: list }, () => ctx.output.table(['REPOSITORY', 'TAGS'], list.map((r) => [r.unaddressable ? `${r.name} (a name no storage path can hold: see verify)` : r.name, r.tagCount])));
      return 0;
    }
    const listed = opts.all ? await listAllTags(d, concurrency) : await Promise.all(names.map((n) => listRepoTags(d, n, concurrency)));
    out = await rows(ctx, d, listed, opts.details);
  } finally {
    await release();
  }
  ctx.output.result({ repositories: out }, () => tagTable(ctx, out, opts.details, Boolean(opts.all) || names.length > 1));
  return 0;
}

export function register(program: Command): void {
  program
    .command('ls')
    .description('list repositories, or the tags of repositories with digest, type, platforms and size')
    .argument('[repos...]', 'list the tags of these repositories')
    .option('-a, --all', 'list the tags of every repository')
    .option('--no-details', 'tags and digests only: read no manifests')
    .action(action(ls));
}
