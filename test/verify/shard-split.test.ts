// The split itself, in process on a flat-listing store (the memory driver, as S3): the blobs the
// shards stream to hash are disjoint and together every blob of the store, each where shardOf says.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { MemoryDriver } from '../../src/drivers/memory.js';
import { sha256, type Digest } from '../../src/image/digest.js';
import { putBlobContent } from '../../src/store/blobs.js';
import { verifyStore } from '../../src/verify/audit.js';
import { parseShard, shardFromEnv, shardOf, type Shard } from '../../src/verify/shard.js';
import { REPO_ROOT } from '../lab/cli.js';

/** Records which blob data each run streams (the hasher's reads). */
class ReadLog extends MemoryDriver {
  streamed: string[] = [];
  override reader(path: string, offset?: number): Promise<Readable> {
    const m = /blobs\/sha256\/..\/([0-9a-f]{64})\/data$/.exec(path);
    if (m) this.streamed.push(`sha256:${m[1]}`);
    return super.reader(path, offset);
  }
}

describe('verify --shard: the split', () => {
  it('shards stream disjoint sets of blobs that add up to the store, and count what they hashed', async () => {
    const d = new ReadLog();
    const all: Digest[] = [];
    for (let i = 0; i < 60; i++) {
      const bytes = Buffer.from(`blob ${i}`);
      await putBlobContent(d, sha256(bytes), bytes);
      all.push(sha256(bytes));
    }
    const run = (shard?: Shard) => verifyStore(d, { hash: true, fix: false, concurrency: 4, threads: 1, shard });
    const whole = await run();
    d.streamed = [];
    const seen: string[][] = [];
    let hashed = 0;
    for (let index = 0; index < 4; index++) {
      d.streamed = [];
      const r = await run({ index, count: 4 });
      seen.push([...d.streamed].sort());
      hashed += r.blobsHashed;
      expect(r.shard).toEqual({ index, count: 4, assignment: 'sha256-hex-mod-n', blobs: all.filter((g) => shardOf(g, 4) === index).length });
      expect(r.findings).toEqual(whole.findings); // orphans: every shard judges every blob
      for (const g of d.streamed) expect(shardOf(g as Digest, 4)).toBe(index);
    }
    const union = seen.flat();
    expect(new Set(union).size).toBe(union.length);
    expect([...union].sort()).toEqual([...all].sort());
    expect(hashed).toBe(whole.blobsHashed);
    expect(seen.every((s) => s.length > 0)).toBe(true);
  });

  it('shardOf is the digest read as one hex number, mod n', () => {
    const g = sha256(Buffer.from('x'));
    for (const n of [1, 2, 3, 7, 256, 1000, 999_983]) expect(shardOf(g, n)).toBe(Number(BigInt(`0x${g.slice(7)}`) % BigInt(n)));
  });

  it('parses --shard and the job engines variables; the flag form and the environment agree', () => {
    expect(parseShard('2/5')).toEqual({ index: 2, count: 5 });
    expect(shardFromEnv({})).toBeUndefined();
    expect(shardFromEnv({ JOB_COMPLETION_INDEX: '2', JOB_COMPLETIONS: '5' })).toEqual({ index: 2, count: 5 });
    expect(shardFromEnv({ AWS_BATCH_JOB_ARRAY_INDEX: '2', REGBUCKET_SHARDS: '5' })).toEqual({ index: 2, count: 5 });
    expect(shardFromEnv({ JOB_COMPLETION_INDEX: '1', REGBUCKET_SHARDS: '5', JOB_COMPLETIONS: '9' })).toEqual({ index: 1, count: 5 });
    for (const bad of ['', '1', '1/0', '5/5', '-1/3', '1.5/3', '0x1/3', '1/2/3', ' /3']) expect(() => parseShard(bad), bad).toThrow(/--shard/);
  });

  it('docs/verify-sharded.md: the job specs parse, and each sets the shard count the engine does not', () => {
    const page = readFileSync(join(REPO_ROOT, 'docs', 'verify-sharded.md'), 'utf8');
    const block = (lang: string): string => new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(page)![1]!;
    const [job] = parseAllDocuments(block('yaml')).map(
      (d) => d.toJS() as { spec: { completionMode: string; completions: number; template: { spec: { containers: { env: { name: string; value: string }[] }[] } } } },
    );
    expect(job!.spec.completionMode).toBe('Indexed');
    expect(job!.spec.template.spec.containers[0]!.env).toContainEqual({ name: 'JOB_COMPLETIONS', value: String(job!.spec.completions) });
    const batch = JSON.parse(block('json')) as { containerProperties: { environment: { name: string; value: string }[] } };
    expect(batch.containerProperties.environment).toContainEqual({ name: 'REGBUCKET_SHARDS', value: '4' });
    expect(page).toContain('--array-properties size=4');
  });
});
