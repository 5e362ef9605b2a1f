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
/**
 * Pages of one list: a registry that links pages without end (each a new `last`) must not hold a
 * run for ever. 10,000 pages of the usual 100 names is MAX_NAMES; a smaller `n` asked for allows more.
 */
const MAX_PAGES = 10_000;
/** Pages in a row that give no name yet link another: nothing a paging registry does. */
const MAX_EMPTY_PAGES = 100;

/**
 * The `rel="next"` links of one paged list, followed on the registry's own origin: only the list's
 * own path (another path or host in a Link is refused, never requested), each page once, at most
 * `maxPages` pages.
 */
export class PageLinks {
  private readonly seen = new Set<string>();

  constructor(
    /** The list's path (`/v2/<name>/tags/list`). */
    private readonly path: string,
    private readonly what: string,
    private readonly maxPages: number,
  ) {}

  /** The first page, with `query` (`n=100`) when given. */
  first(query?: string): string {
    return this.visit(query ? `${this.path}?${query}` : this.path);
  }

  /** The path and query of the next page, or undefined at the end. */
  next(res: IncomingMessage): string | undefined {
    const header = String(res.headers.link ?? '');
    const next = /<([^>]*)>\s*;\s*rel="?next"?/.exec(header);
    if (!next) return undefined;
    let u: URL;
    try {
      u = new URL(next[1]!, 'http://registry.invalid');
    } catch {
      throw new RegistryError(`${this.what}: the registry's Link header names no usable next page: refused`);
    }
    if (u.pathname !== this.path) throw new RegistryError(`${this.what}: the registry links a next page outside ${this.path}: refused`);
    return this.visit(u.pathname + u.search);
  }

  private visit(path: string): string {
    // A registry that links a page it already gave would loop for ever.
    if (this.seen.has(path)) throw new RegistryError(`${this.what}: the registry links page ${path} twice`);
    if (this.seen.size >= this.maxPages) throw new RegistryError(`${this.what}: more than ${this.maxPages} pages, refused (the registry links pages without end)`);
    this.seen.add(path);
    return path;
  }
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

/** The names of one page: `{"<key>": [...]}`, the list null or absent when there is none. */
function pageNames(body: Buffer, l: PagedList): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new RegistryError(`${l.what}: the answer is not JSON`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new RegistryError(`${l.what}: the answer is not a JSON object with "${l.key}"`);
  const names = Object.hasOwn(doc, l.key) ? (doc as Record<string, unknown>)[l.key] : undefined;
  if (names === null || names === undefined) return [];
  if (!(Array.isArray(names) && names.every((n) => typeof n === 'string'))) throw new RegistryError(`${l.what}: "${l.key}" is not a list of names`);
  return names;
}

/**
 * Every name of a paged list, each once (pages that overlap, as when names are added while the
 * list is read, give a name twice), in the order the registry gives them.
 */
export async function listAll(http: RegistryHttp, l: PagedList): Promise<string[]> {
  const out = new Set<string>();
  const links = new PageLinks(l.path, l.what, l.pageSize ? Math.max(MAX_PAGES, Math.ceil(MAX_NAMES / l.pageSize)) : MAX_PAGES);
  let path: string | undefined = links.first(l.pageSize ? `n=${l.pageSize}` : undefined);
  let empty = 0;
  while (path) {
    const res = await http.request({ method: 'GET', path, scope: l.scope, headers: { accept: 'application/json' } });
    if (res.statusCode === 404) {
      res.resume();
      throw new NotFoundError(`${l.what}: the registry answered 404 (no such repository, or no ${l.key} API)`);
    }
    const names = pageNames(await readBody(res, MAX_PAGE_BYTES, l.what), l);
    // One at a time: spreading a page of 100,000s of names into push() overflows the stack.
    for (const n of names) out.add(n);
    if (out.size > MAX_NAMES) throw new RegistryError(`${l.what}: more than ${MAX_NAMES} names, refused`);
    path = links.next(res);
    empty = names.length ? 0 : empty + 1;
    if (path && empty >= MAX_EMPTY_PAGES) throw new RegistryError(`${l.what}: ${empty} pages in a row without a name, each linking another: refused`);
  }
  return [...out];
}
