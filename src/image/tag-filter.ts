// Which tags of a repository a mirror takes: anchored include/exclude regexes, a semver range and
// the newest N semver tags. Regexes run in linear time (tags are named by whoever can push).
import semver from 'semver';
import { UsageError } from '../errors.js';
import { linearRegExp } from '../util/linear-regex.js';

export interface TagFilterSpec {
  include?: string[];
  exclude?: string[];
  semver?: string;
  latest?: number;
}

export interface TagFilter {
  include: RegExp[];
  exclude: RegExp[];
  range?: string;
  latest?: number;
}

/** Names the flags (or YAML keys) in errors: `{ include: '--include-tag', ... }`. */
export interface TagFilterNames {
  include: string;
  exclude: string;
  semver: string;
  latest: string;
}

export const FLAG_NAMES: TagFilterNames = { include: '--include-tag', exclude: '--exclude-tag', semver: '--semver', latest: '--latest-semver' };

/** Referrers fallback tags (`sha256-<hex>`, cosign's `sha256-<hex>.sig`): they follow their subject. */
const FALLBACK_TAG_RE = /^sha256-[0-9a-f]{64}(?:\.[A-Za-z0-9_-]+)?$/;

export function isFallbackTag(tag: string): boolean {
  return FALLBACK_TAG_RE.test(tag);
}

/** Compiles a spec; a bad regex, range or count is a one-line usage error naming where it came from. */
export function compileTagFilter(spec: TagFilterSpec, names: TagFilterNames = FLAG_NAMES): TagFilter {
  const anchored = (src: string, where: string) => linearRegExp(`^(?:${src})$`, where);
  let range: string | undefined;
  if (spec.semver !== undefined) {
    // npm reads an empty range as every version: from an unset shell variable, that mirrors everything.
    range = spec.semver.trim() === '' ? undefined : (semver.validRange(spec.semver) ?? undefined);
    if (range === undefined) throw new UsageError(`${names.semver}: ${JSON.stringify(spec.semver)} is not a semver range (examples: ">=1.2 <2", "^1.4", "1.x")`);
  }
  if (spec.latest !== undefined && (!Number.isSafeInteger(spec.latest) || spec.latest < 1)) {
    throw new UsageError(`${names.latest}: ${JSON.stringify(spec.latest)} is not a positive whole number`);
  }
  for (const src of [...(spec.include ?? []), ...(spec.exclude ?? [])]) {
    // `(?:a)|b)` would unbalance the anchoring: the source must be a regex on its own first.
    linearRegExp(src, (spec.include ?? []).includes(src) ? names.include : names.exclude);
  }
  return {
    include: (spec.include ?? []).map((s) => anchored(s, names.include)),
    exclude: (spec.exclude ?? []).map((s) => anchored(s, names.exclude)),
    range,
    latest: spec.latest,
  };
}

/** The semver version of a tag (an optional leading `v`), or undefined. */
export function semverOf(tag: string): semver.SemVer | undefined {
  return semver.parse(tag.startsWith('v') ? tag.slice(1) : tag) ?? undefined;
}

/**
 * The tags the filter keeps, in the order given. Fallback tags are kept only when an include
 * regex names them; with a semver range or a latest count, tags that are not semver never match,
 * nor do prereleases unless the range names one.
 */
export function selectTags(tags: readonly string[], f: TagFilter): string[] {
  const semverWanted = f.range !== undefined || f.latest !== undefined;
  const kept = tags.filter((t) => {
    if (f.include.length ? !f.include.some((r) => r.test(t)) : isFallbackTag(t)) return false;
    if (f.exclude.some((r) => r.test(t))) return false;
    if (!semverWanted) return true;
    const v = semverOf(t);
    // npm's rule: a prerelease (1.2.0-rc.1) is kept only by a range that names one; `*` keeps releases.
    return v !== undefined && semver.satisfies(v, f.range ?? '*');
  });
  if (f.latest === undefined) return kept;
  const newest = new Set([...kept].sort((a, b) => semver.rcompare(semverOf(a)!, semverOf(b)!) || (a < b ? -1 : a > b ? 1 : 0)).slice(0, f.latest));
  return kept.filter((t) => newest.has(t));
}

/** True when the spec asks for anything at all. */
export function hasTagFilter(spec: TagFilterSpec): boolean {
  return Boolean(spec.include?.length || spec.exclude?.length || spec.semver !== undefined || spec.latest !== undefined);
}
