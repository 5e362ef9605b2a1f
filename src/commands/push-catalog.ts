// push docker://host --include-repo <glob>: the repositories of a registry's catalog that the globs
// keep, each with every tag the tag filters keep, into the store under its own name (or under a
// destination prefix). Repositories are listed a few at a time; their tags are mirrored together.
import pLimit from 'p-limit';
import type { Context } from '../cli/context.js';
import { UsageError } from '../errors.js';
import { parseRepoName, parseStoreRef } from '../image/reference.js';
import { DockerSource, listRepositories } from '../image/registry-client.js';
import { compileTagFilter, selectTags } from '../image/tag-filter.js';
import { repoFilter } from '../retention/policy.js';
import type { MirrorItem } from '../store/mirror.js';
import { mirrorAndReport, oneLine, tagFilterSpec, type RepoPlan, type TagMirrorFlags } from './push-tags.js';

export async function runCatalog(ctx: Context, host: string, destRef: string | undefined, opts: TagMirrorFlags): Promise<number> {
  const select = repoFilter(opts.includeRepo, opts.excludeRepo);
  if (!opts.includeRepo?.length) {
    throw new UsageError(`docker://${host} is a whole registry: name its repositories with --include-repo <glob> ('**' for all of them), or give docker://${host}/<repo>`);
  }
  const prefix = destRef === undefined ? undefined : parseStoreRef(destRef);
  if (prefix?.tag || prefix?.digest) throw new UsageError(`push destination ${destRef} names a tag or digest: give a repository prefix (each repository keeps its name under it)`);
  const filter = compileTagFilter(tagFilterSpec(opts));
  const jobs = Math.max(1, Math.ceil(ctx.globals.concurrency / 2));
  return mirrorAndReport(
    ctx,
    {
      source: `docker://${host}`,
      where: host,
      host,
      async plan(say, srcOpts) {
        say(`listing the catalog of ${host}...`);
        const all = await listRepositories(host, srcOpts, opts.pageSize);
        const names = all.filter((r) => select!(r));
        const items: MirrorItem[][] = [];
        let tagsListed = 0;
        let listed = 0;
        const limit = pLimit(jobs);
        const repositories = await Promise.all(
          names.map((name, i) =>
            limit(async (): Promise<RepoPlan> => {
              const destination = prefix ? `${prefix.repo}/${name}` : name;
              let lister: DockerSource | undefined;
              try {
                // Names come from the registry: outside the grammar they never reach a path or a URL.
                parseRepoName(name);
                parseRepoName(destination);
                lister = new DockerSource({ host, repo: name }, srcOpts);
                const tags = await lister.listTags(opts.pageSize);
                tagsListed += tags.length;
                const kept = selectTags(tags, filter);
                items[i] = kept.map((tag) => ({ repo: destination, tag, from: name }));
                return { name, destination, tagsListed: tags.length, tagsSelected: kept.length };
              } catch (err) {
                return { name, destination, tagsListed: 0, tagsSelected: 0, error: oneLine(err) };
              } finally {
                await lister?.close();
                say(`listing the tags of ${host}: ${++listed}/${names.length} repositories`);
              }
            }),
          ),
        );
        return { items: items.flat(), tagsListed, repositories, repositoriesListed: all.length };
      },
    },
    opts,
  );
}
