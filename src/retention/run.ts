// Prune from start to end: read the repositories the policies govern, plan each, then either
// return the plan (dry run) or carry it out (execute.ts). One planner for both.
import type { StorageDriver } from '../drivers/driver.js';
import { executeRetention, type PruneOutcome } from './execute.js';
import { readRepositories } from './inventory.js';
import { needsManifests, planRepository, type RepoFacts, type RepoRetention } from './plan.js';
import { policyFor, type CompiledPolicy } from './policy.js';

export interface PruneOptions {
  dryRun: boolean;
  concurrency: number;
  /** The time ages are measured from (default: the start of the run). */
  now?: number;
  /** Repository globs from the command line (none: every repository the policies govern). */
  only?: RegExp[];
}

export interface PrunePlan {
  now: number;
  repositories: RepoRetention[];
  facts: Map<string, RepoFacts>;
}

export interface PruneResult {
  plan: PrunePlan;
  outcome?: PruneOutcome;
}

function governing(policies: CompiledPolicy[], only: RegExp[] | undefined) {
  return (repo: string): CompiledPolicy | undefined => {
    if (only && only.length > 0 && !only.some((g) => g.test(repo))) return undefined;
    return policyFor(policies, repo);
  };
}

/** Reads and plans (the dry run's whole work). `d` may be a fast-reads decorator. */
export async function planPrune(d: StorageDriver, policies: CompiledPolicy[], opts: PruneOptions): Promise<PrunePlan> {
  const now = opts.now ?? Date.now();
  const policyOf = governing(policies, opts.only);
  const read = { concurrency: opts.concurrency, wantManifests: (repo: string, tags: { name: string }[]) => needsManifests(policyOf(repo)!, tags) };
  const facts = await readRepositories(d, (repo) => policyOf(repo) !== undefined, read);
  return {
    now,
    repositories: facts.map((f) => planRepository(f, policyOf(f.name)!, now)),
    facts: new Map(facts.map((f) => [f.name, f])),
  };
}

/** Carries a plan out on `d` (the plain driver: deletions re-check against storage itself). */
export function carryOut(d: StorageDriver, policies: CompiledPolicy[], plan: PrunePlan, opts: PruneOptions): Promise<PruneOutcome> {
  const policyOf = governing(policies, opts.only);
  return executeRetention(d, plan.repositories, plan.facts, {
    concurrency: opts.concurrency,
    now: plan.now,
    policyOf: (repo) => policyOf(repo)!,
    wantManifests: (repo, tags) => needsManifests(policyOf(repo)!, tags),
  });
}
