// Paged lists of the Registry API: `/v2/<name>/tags/list` and `/v2/_catalog` answer `n` names at a
// time and link the next page (`Link: </v2/...?last=x&n=100>; rel="next"`).
import type { IncomingMessage } from 'node:http';
import { NotFoundError } from '../errors.js';
import { RegistryError } from './registry-auth.js';
import { readBody, type RegistryHttp } from './registry-http.js';

/** One page of names is a few thousand short strings: 8 MiB is far past any real one. */
const MAX_PAGE_BYTES = 8 * 1024 * 1024;
/** Past this many names a list is refused rather than held in memory. */
const MAX_NAMES = 1_000_000;

/** The path and query of the `rel="next"` link of a paged answer, if there is one. */
export function nextLink(res: IncomingMessage): string | undefined {
  const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(String(res.headers.link ?? ''));
  if (!next) return undefined;
  const u = new URL(next[1]!, 'http://x');
  return u.pathname + u.search;
}

export interface PagedList {
  /** `/v2/<name>/tags/list` or `/v2/_catalog`. */
  path: string;
  /** The JSON key holding the names: `tags` or `repositories`. */
  key: 'tags' | 'repositories';
  scope: string;
  /** Names asked for per page (`n`); the registry's default when absent. */
  pageSize?: number;
  /** For messages: `tags of host/repo`. */
  what: string;
}

/** Every name of a paged list, in the order the registry gives them. */
export async function listAll(http: RegistryHttp, l: PagedList): Promise<string[]> {
  const out: string[] = [];
  let path: string | undefined = l.pageSize ? `${l.path}?n=${l.pageSize}` : l.path;
  const seen = new Set<string>();
  while (path) {
    // A registry that links a page it already gave would loop for ever.
    if (seen.has(path)) throw new RegistryError(`${l.what}: the registry links page ${path} twice`);
    seen.add(path);
    const res = await http.request({ method: 'GET', path, scope: l.scope, headers: { accept: 'application/json' } });
    if (res.statusCode === 404) {
      res.resume();
      throw new NotFoundError(`${l.what}: the registry answered 404 (no such repository, or no ${l.key} API)`);
    }
    const body = await readBody(res, MAX_PAGE_BYTES, l.what);
    let names: unknown;
    try {
      names = (JSON.parse(body.toString('utf8')) as Record<string, unknown>)[l.key];
    } catch {
      throw new RegistryError(`${l.what}: the answer is not JSON`);
    }
    if (names !== null && names !== undefined && !(Array.isArray(names) && names.every((n) => typeof n === 'string'))) {
      throw new RegistryError(`${l.what}: "${l.key}" is not a list of names`);
    }
    out.push(...((names as string[] | null) ?? []));
    if (out.length > MAX_NAMES) throw new RegistryError(`${l.what}: more than ${MAX_NAMES} names, refused`);
    path = nextLink(res);
  }
  return out;
}
