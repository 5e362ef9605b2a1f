// Retention policies: which tags of which repositories to keep. One model for the command-line
// flags (one rule) and the policy file (many rules per repository pattern), in the spirit of ECR
// lifecycle rules (rules in order, a tag decided by the first rule that selects it) and zot's
// retention config (keep the most recent N and/or those pushed within a window).
// Schema and semantics: docs/retention-policy.md.
import { parse as parseYaml } from 'yaml';
import { InvalidInputError, UsageError } from '../errors.js';
import { parseDuration } from '../util/duration.js';
import { linearRegExp } from '../util/linear-regex.js';

export interface KeepRule {
  /** Tags this rule selects (a regex, anchored by the user); every tag when absent. */
  match?: string;
  /** Keep the N most recently pushed tags the rule selects. */
  keepLast?: number;
  /** Keep tags pushed less than this long ago. */
  keepWithinMs?: number;
}

export interface RepoPolicy {
  /** Repository globs (`*` within a path component, `**` across components, `?` one character). */
  repositories: string[];
  /** Tags never removed (regexes). */
  protect: string[];
  rules: KeepRule[];
  /** Delete manifests no kept tag names whose revision is older than this. */
  untaggedOlderThanMs?: number;
}

export interface Policy {
  policies: RepoPolicy[];
}

/** A policy with its patterns compiled. */
export interface CompiledPolicy {
  index: number;
  source: RepoPolicy;
  repositories: RegExp[];
  protect: RegExp[];
  rules: { index: number; source: KeepRule; match: RegExp }[];
  untaggedOlderThanMs?: number;
}

const REPO_PATTERN_RE = /^[a-z0-9._/*?-]{1,255}$/;

/** A repository name or glob as the registry grammar allows (a file's or the command line's), else a usage error quoting at most 80 characters of it. */
export function checkRepoPattern(glob: string, where = 'repository pattern'): void {
  if (REPO_PATTERN_RE.test(glob)) return;
  const shown = glob.length > 80 ? `${glob.slice(0, 80)}... (${glob.length} characters)` : glob;
  throw new UsageError(`${where} ${JSON.stringify(shown)} is not a repository name or glob (lowercase letters, digits, . _ - /, and * ** ?; at most 255 characters)`);
}

/** `*` within a component, `**` across components, `?` one character; the whole name must match. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        re += '(?:.*/)?'; // `a/**/b` matches `a/b` too
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * `--include-repo` / `--exclude-repo` globs as one test (a repository any include matches, or every
 * one when there is none, and no exclude matches); undefined when there are no globs at all.
 */
export function repoFilter(include: string[] = [], exclude: string[] = [], names = { include: '--include-repo', exclude: '--exclude-repo' }): ((repo: string) => boolean) | undefined {
  for (const g of include) checkRepoPattern(g, names.include);
  for (const g of exclude) checkRepoPattern(g, names.exclude);
  if (include.length + exclude.length === 0) return undefined;
  const inc = include.map(globToRegExp);
  const exc = exclude.map(globToRegExp);
  return (repo) => (inc.length === 0 || inc.some((g) => g.test(repo))) && !exc.some((g) => g.test(repo));
}

function regex(source: string, where: string): RegExp {
  return linearRegExp(source, where);
}

export function compilePolicy(p: Policy): CompiledPolicy[] {
  return p.policies.map((rp, index) => ({
    index,
    source: rp,
    repositories: rp.repositories.map(globToRegExp),
    protect: rp.protect.map((s) => regex(s, `policy ${index + 1} protect`)),
    rules: rp.rules.map((r, i) => ({ index: i, source: r, match: regex(r.match ?? '', `policy ${index + 1} rule ${i + 1} match`) })),
    untaggedOlderThanMs: rp.untaggedOlderThanMs,
  }));
}

/** The policy that governs a repository: the first whose globs match it. */
export function policyFor(policies: CompiledPolicy[], repo: string): CompiledPolicy | undefined {
  return policies.find((p) => p.repositories.some((g) => g.test(repo)));
}

// ---- the policy file ----

const POLICY_KEYS = new Set(['repositories', 'protect', 'rules', 'untaggedOlderThan']);
const RULE_KEYS = new Set(['match', 'keepLast', 'keepWithin']);

function fail(where: string, what: string): never {
  throw new InvalidInputError(`policy file: ${where}: ${what} (docs/retention-policy.md describes the schema)`);
}

function stringList(v: unknown, where: string): string[] {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string' && x.length > 0)) fail(where, 'must be a string or a list of strings');
  return list as string[];
}

function keepLast(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(where, `must be a whole number, got ${JSON.stringify(v)}`);
  return v;
}

function duration(v: unknown, where: string): number {
  if (typeof v !== 'string' && v !== 0) fail(where, `must be a duration such as 7d or 12h, got ${JSON.stringify(v)}`);
  return parseDuration(String(v), `policy file: ${where}`);
}

function checkKeys(o: Record<string, unknown>, allowed: Set<string>, where: string): void {
  for (const k of Object.keys(o)) if (!allowed.has(k)) fail(where, `unknown key ${JSON.stringify(k)} (one of ${[...allowed].join(', ')})`);
}

export function parseRule(v: unknown, where: string): KeepRule {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(where, 'must be a mapping');
  const o = v as Record<string, unknown>;
  checkKeys(o, RULE_KEYS, where);
  const rule: KeepRule = {};
  if (o.match !== undefined) {
    if (typeof o.match !== 'string') fail(`${where}.match`, 'must be a string (a regular expression)');
    rule.match = o.match;
    regex(rule.match, `policy file: ${where}.match`);
  }
  if (o.keepLast !== undefined) rule.keepLast = keepLast(o.keepLast, `${where}.keepLast`);
  if (o.keepWithin !== undefined) rule.keepWithinMs = duration(o.keepWithin, `${where}.keepWithin`);
  if (rule.keepLast === undefined && rule.keepWithinMs === undefined) fail(where, 'needs keepLast or keepWithin (keepLast: 0 removes every tag it selects)');
  return rule;
}

/** Parses and validates a policy file's text (YAML or JSON). */
export function parsePolicyFile(text: string): Policy {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new InvalidInputError(`policy file: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail('top level', 'must be a mapping with "version: 1" and "policies"');
  const top = doc as Record<string, unknown>;
  checkKeys(top, new Set(['version', 'policies']), 'top level');
  if (top.version !== 1) fail('version', `must be 1, got ${JSON.stringify(top.version)}`);
  if (!Array.isArray(top.policies) || top.policies.length === 0) fail('policies', 'must be a non-empty list');
  const policies = (top.policies as unknown[]).map((p, i): RepoPolicy => {
    const where = `policies[${i}]`;
    if (typeof p !== 'object' || p === null || Array.isArray(p)) fail(where, 'must be a mapping');
    const o = p as Record<string, unknown>;
    checkKeys(o, POLICY_KEYS, where);
    if (o.repositories === undefined) fail(where, 'needs "repositories" (globs; "**" for every repository)');
    const rules = o.rules === undefined ? [] : o.rules;
    if (!Array.isArray(rules)) fail(`${where}.rules`, 'must be a list');
    const out: RepoPolicy = {
      repositories: stringList(o.repositories, `${where}.repositories`),
      protect: o.protect === undefined ? [] : stringList(o.protect, `${where}.protect`),
      rules: (rules as unknown[]).map((r, j) => parseRule(r, `${where}.rules[${j}]`)),
    };
    for (const [j, g] of out.repositories.entries()) checkRepoPattern(g, `policy file: ${where}.repositories[${j}]:`);
    for (const [j, s] of out.protect.entries()) regex(s, `policy file: ${where}.protect[${j}]`);
    if (o.untaggedOlderThan !== undefined) out.untaggedOlderThanMs = duration(o.untaggedOlderThan, `${where}.untaggedOlderThan`);
    if (out.rules.length === 0 && out.untaggedOlderThanMs === undefined) fail(where, 'has no rules and no untaggedOlderThan: it would change nothing');
    return out;
  });
  return { policies };
}
