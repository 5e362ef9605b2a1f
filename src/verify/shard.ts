// verify --shard i/n: which blobs a shard hashes. A blob belongs to shard
// (its sha256 hex read as one number) mod n: every blob to exactly one shard, decided by the
// digest alone, so shards need no coordination, any n works (not only divisors of 256, as a
// prefix split would need) and anyone can recompute it. Each shard still lists the whole store
// and does every structural check; only the byte-bound work (hashing) is split.
import { UsageError } from '../errors.js';
import type { Digest } from '../image/digest.js';

/** Shard `index` of `count`, numbered from 0. */
export interface Shard {
  index: number;
  count: number;
}

/** Recorded in each shard report; merging refuses shards split another way. */
export const SHARD_ASSIGNMENT = 'sha256-hex-mod-n';

/** The most shards: far beyond any job array, small enough that the arithmetic below stays exact. */
export const MAX_SHARDS = 1_000_000;

/** The digest's hex as a number, mod `count`, one digit at a time (exact for count < 2^45). */
export function shardOf(digest: Digest, count: number): number {
  let r = 0;
  for (let i = digest.indexOf(':') + 1; i < digest.length; i++) r = (r * 16 + parseInt(digest[i]!, 16)) % count;
  return r;
}

export function owns(shard: Shard | undefined, digest: Digest): boolean {
  return !shard || shardOf(digest, shard.count) === shard.index;
}

function wholeNumber(text: string): number {
  return /^\d{1,9}$/.test(text.trim()) ? Number(text.trim()) : NaN;
}

function checked(index: number, count: number, given: string): Shard {
  if (!Number.isInteger(count) || count < 1 || count > MAX_SHARDS) throw new UsageError(`${given}: the shard count must be a whole number from 1 to ${MAX_SHARDS}`);
  if (!Number.isInteger(index) || index >= count) throw new UsageError(`${given}: the shard index must be a whole number from 0 to ${count - 1} (shards are numbered from 0)`);
  return { index, count };
}

/** `--shard i/n`. */
export function parseShard(text: string): Shard {
  const m = /^\s*([^/]*)\/([^/]*)$/.exec(text);
  if (!m) throw new UsageError(`--shard ${JSON.stringify(text)}: give the shard as i/n (e.g. --shard 0/4), i from 0 to n-1`);
  return checked(wholeNumber(m[1]!), wholeNumber(m[2]!), `--shard ${JSON.stringify(text)}`);
}

const INDEX_VARS = ['JOB_COMPLETION_INDEX', 'AWS_BATCH_JOB_ARRAY_INDEX'] as const;
const COUNT_VARS = ['REGBUCKET_SHARDS', 'JOB_COMPLETIONS'] as const;

/**
 * The shard a job engine gives, when --shard is not: the index from JOB_COMPLETION_INDEX
 * (Kubernetes Indexed Job) or AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch array job), the count from
 * REGBUCKET_SHARDS or JOB_COMPLETIONS (neither engine sets a count: the job spec does).
 */
export function shardFromEnv(env: Record<string, string | undefined>): Shard | undefined {
  const set = (v: string | undefined): v is string => v !== undefined && v !== '';
  const indexVar = INDEX_VARS.find((v) => set(env[v]));
  const countVar = COUNT_VARS.find((v) => set(env[v]));
  if (!indexVar && !countVar) return undefined;
  if (!indexVar) throw new UsageError(`${countVar} is set but no shard index is: set JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX, or pass --shard i/n`);
  if (!countVar) throw new UsageError(`${indexVar} is set but no shard count is: set REGBUCKET_SHARDS (or JOB_COMPLETIONS) to the number of shards, or pass --shard i/n`);
  const index = wholeNumber(env[indexVar]!);
  const count = wholeNumber(env[countVar]!);
  return checked(index, count, `${indexVar}=${JSON.stringify(env[indexVar]!.slice(0, 20))} with ${countVar}=${JSON.stringify(env[countVar]!.slice(0, 20))}`);
}
