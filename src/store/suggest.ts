// "Does not exist" errors that name what does: the nearest tags of the repository, or the
// nearest repositories of the store. Only ever computed on the error path.
import { basename, type StorageDriver } from '../drivers/driver.js';
import { NotFoundError } from '../errors.js';
import { isStoredTag } from '../image/reference.js';
import { tagsDir } from './paths.js';
import { listOrEmpty, listRepositories, repoExists } from './walk.js';
import { compareStrings } from '../util/compare.js';

/** Levenshtein distance, two rows. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * Up to `max` candidates closest to `word`: those sharing a prefix or within a third of its
 * length in edits, nearest first (ties in name order).
 */
export function nearest(word: string, candidates: Iterable<string>, max = 3): string[] {
  const scored: [number, string][] = [];
  for (const c of candidates) {
    const d = c.startsWith(word) || word.startsWith(c) ? 0.5 : distance(word, c);
    if (d <= Math.max(2, Math.ceil(word.length / 3))) scored.push([d, c]);
  }
  return scored
    .sort((x, y) => x[0] - y[0] || compareStrings(x[1], y[1]))
    .slice(0, max)
    .map(([, c]) => c);
}

/** "; nearest: a, b" or, with nothing near, "; it has: a, b, c" (a few), or nothing. */
export function suggestion(word: string, have: string[], what: string): string {
  const near = nearest(word, have);
  if (near.length) return `; did you mean ${near.join(', ')}?`;
  if (have.length === 0) return '';
  const few = have.slice(0, 5).join(', ');
  return `; ${what}: ${few}${have.length > 5 ? `, ... (${have.length})` : ''}`;
}

/** A missing tag: names the nearest tags, or when the repository itself is missing, the nearest repositories. */
export async function tagNotFound(d: StorageDriver, repo: string, tag: string): Promise<NotFoundError> {
  const tags = (await listOrEmpty(d, tagsDir(repo)).catch(() => [])).map(basename).filter(isStoredTag);
  if (tags.length === 0) {
    const missing = await repositoryNotFound(d, repo);
    if (missing) return missing;
  }
  return new NotFoundError(`tag ${repo}:${tag} does not exist${suggestion(tag, tags, `${repo} has tags`)} (regbucket ls ${repo} lists them)`);
}

/** A missing repository, naming the nearest ones; undefined when the repository does exist. */
export async function repositoryNotFound(d: StorageDriver, repo: string): Promise<NotFoundError | undefined> {
  if (await repoExists(d, repo).catch(() => false)) return undefined;
  const names = await listRepositories(d).catch(() => [] as string[]);
  return new NotFoundError(`repository ${repo} is not in the store${suggestion(repo, names, 'it has')} (regbucket ls lists them)`);
}
