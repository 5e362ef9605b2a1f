// Sync list entries that name a whole repository (`tags:` filters) or a registry's catalog
// (`repos:` globs): checked when the list is read, expanded into one entry per tag by listing the
// registry before anything is copied.
import pLimit from 'p-limit';
import { InvalidInputError, NotFoundError } from '../errors.js';
import { parseRepoName, parseStoreRef, parseTag } from '../image/reference.js';
import { DockerSource, listRepositories, parseDockerHost, parseDockerRef, type DockerRef, type DockerSourceOptions } from '../image/registry-client.js';
import { compileTagFilter, selectTags, type TagFilter, type TagFilterSpec } from '../image/tag-filter.js';
import { repoFilter } from '../retention/policy.js';
import { oneLine } from './push-tags.js';

/** A repository (every tag the filters keep) or a catalog (every repository the globs keep). */
export interface WholeEntry {
  source: string;
  host: string;
  /** The source repository; absent for a catalog. */
  repo?: string;
  /** The destination repository, or for a catalog the prefix; absent: the source's names. */
  destination?: string;
  platforms?: string[];
  tags: TagFilter;
  repos?: (repo: string) => boolean;
  where: string;
}

/** One image a whole entry expanded to. */
export interface ExpandedImage {
  source: string;
  destination: { repo: string; tag: string };
  platforms?: string[];
  where: string;
}

const TAG_KEYS = ['include', 'exclude', 'semver', 'latest'];
const REPO_KEYS = ['include', 'exclude'];

function bad(where: string, detail: string): InvalidInputError {
  return new InvalidInputError(`${where}: ${detail}`);
}

/** A mapping with only `known` keys, else a one-line error naming the entry and the key. */
export function checkKeys(value: unknown, known: readonly string[], where: string, what: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw bad(where, `${what} is a mapping (${known.join(', ')})`);
  for (const k of Object.keys(value)) {
    if (!known.includes(k)) throw bad(where, `unknown key ${JSON.stringify(k.slice(0, 40))} in ${what} (known: ${known.join(', ')})`);
  }
  return value as Record<string, unknown>;
}

function strings(v: unknown, where: string, key: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v;
  throw bad(where, `${key} is a string or a list of strings`);
}

function tagSpec(v: unknown, where: string): TagFilterSpec {
  if (v === undefined) return {};
  const o = checkKeys(v, TAG_KEYS, where, 'tags');
  if (o.semver !== undefined && typeof o.semver !== 'string') throw bad(where, 'tags.semver is a string (a semver range such as ">=1.2 <2")');
  if (o.latest !== undefined && typeof o.latest !== 'number') throw bad(where, 'tags.latest is a number (the newest N semver tags)');
  return { include: strings(o.include, where, 'tags.include'), exclude: strings(o.exclude, where, 'tags.exclude'), semver: o.semver, latest: o.latest };
}

function repoGlobs(v: unknown, where: string): (repo: string) => boolean {
  const o = typeof v === 'string' || Array.isArray(v) ? { include: v } : checkKeys(v, REPO_KEYS, where, 'repos');
  const include = strings(o.include, where, 'repos.include');
  if (!include?.length) throw bad(where, "repos needs include globs ('**' for every repository)");
  return repoFilter(include, strings(o.exclude, where, 'repos.exclude'), { include: `${where}: repos.include`, exclude: `${where}: repos.exclude` })!;
}

/** An entry with `tags:` or `repos:`; `platforms` already checked. */
export function wholeEntry(o: Record<string, unknown>, platforms: string[] | undefined, where: string): WholeEntry {
  const source = o.source;
  if (typeof source !== 'string' || !source.startsWith('docker://')) throw bad(where, 'tags and repos need a docker:// source (docker://host/repo, or docker://host for a catalog)');
  const names = { include: `${where}: tags.include`, exclude: `${where}: tags.exclude`, semver: `${where}: tags.semver`, latest: `${where}: tags.latest` };
  const tags = compileTagFilter(tagSpec(o.tags, where), names);
  if (o.destination !== undefined && typeof o.destination !== 'string') throw bad(where, 'destination is a string (a repository)');
  let destination: string | undefined;
  if (o.destination !== undefined) {
    const d = wrap(where, 'destination', () => parseStoreRef(o.destination as string));
    if (d.tag || d.digest) throw bad(where, `destination ${o.destination} names a tag or digest: give a repository (each tag keeps its name)`);
    destination = d.repo;
  }
  const host = parseDockerHost(source);
  if (o.repos !== undefined) {
    if (host === undefined) throw bad(where, `repos takes a registry, docker://<host>, not ${source}`);
    return { source, host, destination, platforms, tags, repos: repoGlobs(o.repos, where), where };
  }
  if (host !== undefined) throw bad(where, `docker://${host} is a whole registry: add repos: <glob> ('**' for every repository), or name a repository`);
  const ref: DockerRef = wrap(where, 'source', () => parseDockerRef(source));
  if (ref.tag || ref.digest) throw bad(where, `tags filters the tags of a repository: drop the tag or digest of ${source}`);
  return { source, host: ref.host, repo: ref.repo, destination, platforms, tags, where };
}

function wrap<T>(where: string, key: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw bad(where, `${key}: ${(err as Error).message}`);
  }
}

export interface Expansion {
  /** What each entry expanded to, in the registry's order. */
  images: Map<WholeEntry, ExpandedImage[]>;
  /** Repositories whose tags could not be listed: `source` and one-line error. */
  failed: { source: string; destination: string; error: string }[];
}

/**
 * Lists what whole entries name. A repository or catalog that does not exist is a bad entry (exit
 * 2, thrown); a catalog repository whose tags cannot be listed fails on its own.
 */
export async function expandEntries(entries: WholeEntry[], opts: DockerSourceOptions, jobs: number): Promise<Expansion> {
  const limit = pLimit(jobs);
  const out: Expansion = { images: new Map(), failed: [] };
  const listTags = async (host: string, repo: string): Promise<string[]> => {
    const lister = new DockerSource({ host, repo }, opts);
    try {
      return await lister.listTags();
    } finally {
      await lister.close();
    }
  };
  const images = (e: WholeEntry, repo: string, dest: string, tags: string[]): ExpandedImage[] =>
    selectTags(tags, e.tags).flatMap((tag) => {
      try {
        parseTag(tag);
      } catch (err) {
        out.failed.push({ source: `docker://${e.host}/${repo}`, destination: dest, error: `tag ${oneLine(err)}` });
        return [];
      }
      return [{ source: `docker://${e.host}/${repo}:${tag}`, destination: { repo: dest, tag }, platforms: e.platforms, where: `${e.where} (${repo}:${tag})` }];
    });
  const listed = await Promise.all(
    entries.map(async (e): Promise<ExpandedImage[]> => {
      try {
        if (e.repo !== undefined) return images(e, e.repo, e.destination ?? e.repo, await limit(() => listTags(e.host, e.repo!)));
        const names = (await limit(() => listRepositories(e.host, opts))).filter((r) => e.repos!(r));
        const each = await Promise.all(
          names.map((name) =>
            limit(async () => {
              const dest = e.destination ? `${e.destination}/${name}` : name;
              try {
                parseRepoName(name);
                parseRepoName(dest);
                return images(e, name, dest, await listTags(e.host, name));
              } catch (err) {
                out.failed.push({ source: `docker://${e.host}/${name}`, destination: dest, error: oneLine(err) });
                return [];
              }
            }),
          ),
        );
        return each.flat();
      } catch (err) {
        if (err instanceof NotFoundError || err instanceof InvalidInputError) throw bad(e.where, `${e.source}: ${oneLine(err)}`);
        out.failed.push({ source: e.source, destination: e.destination ?? e.repo ?? '', error: oneLine(err) });
        return [];
      }
    }),
  );
  entries.forEach((e, i) => out.images.set(e, listed[i]!));
  return out;
}
