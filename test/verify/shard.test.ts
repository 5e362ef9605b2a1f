// verify --shard i/n and --merge on a filesystem store with corrupt blobs and broken links: the
// shards split the hashing exactly (each blob's mismatch is found by the one shard it belongs to),
// the job engines' variables name the same shards as the flag, and the merged report is the
// unsharded one (findings, counts, exit code). Sets that are not one run's shards are refused.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { regbucket, type CliResult } from '../lab/cli.js';
import { digestOf, LayoutWriter, type Blob } from '../lab/images.js';
import { refused } from '../lab/refused.js';
import { tempDir } from '../lab/tools.js';
import { shardOf } from '../../src/verify/shard.js';
import type { Digest } from '../../src/image/digest.js';

interface Finding {
  kind: string;
  digest?: string;
  path: string;
}
interface Report {
  clean: boolean;
  blobs: number;
  links: number;
  manifests: number;
  repositories: number;
  blobsHashed: number;
  bytesHashed: number;
  problems: number;
  warnings: number;
  summary: unknown[];
  findings: Finding[];
  seconds: number;
  store?: string;
  shard?: { index: number; count: number; blobs: number; assignment: string };
  merged?: { shards: number; consistent: boolean };
}

const V2 = 'docker/registry/v2';
const NO_ENGINE = { JOB_COMPLETION_INDEX: '', JOB_COMPLETIONS: '', AWS_BATCH_JOB_ARRAY_INDEX: '', REGBUCKET_SHARDS: '' };

let base: string;
let store: string;
let full: CliResult;
let fullDoc: Report;
const reports: string[] = [];
const corrupt: string[] = [];

function blobData(store: string, d: string): string {
  return join(store, V2, 'blobs', 'sha256', d.slice(7, 9), d.slice(7), 'data');
}

function storeBlobs(store: string): string[] {
  const root = join(store, V2, 'blobs', 'sha256');
  return readdirSync(root).flatMap((p) => readdirSync(join(root, p)).map((h) => `sha256:${h}`));
}

async function verify(args: string[], env: NodeJS.ProcessEnv = {}, on = store): Promise<CliResult> {
  return regbucket(['--store', on, '--json', 'verify', ...args], { ...NO_ENGINE, ...env });
}

const sansSeconds = ({ seconds: _, ...rest }: Report): Omit<Report, 'seconds'> => rest;

/** A saved shard report, as CliResult.json() gives documents (without schemaVersion). */
function saved(file: string): Report {
  const { schemaVersion: _, ...rest } = JSON.parse(readFileSync(file, 'utf8')) as Report & { schemaVersion: number };
  return rest;
}

describe('verify --shard and --merge', { timeout: 300_000 }, () => {
  beforeAll(async () => {
    base = tempDir('regbucket-shard-');
    const layout = join(base, 'layout');
    store = join(base, 'store');
    const w = new LayoutWriter(layout);
    const images: Blob[] = [];
    for (const ref of ['a', 'b', 'c', 'd']) images.push(await w.image({ ref, layers: 3, layerSize: 300 }));
    w.write();
    for (const ref of ['a', 'b', 'c', 'd']) expect((await regbucket(['--store', store, 'push', `oci:${layout}:${ref}`, `app${ref}:1`])).code).toBe(0);
    // Corrupt a layer of every image (same size, other bytes): at least one lands in each of 3 shards
    // most of the time; the test checks each corrupt blob is found by its own shard whichever it is.
    const layers = [...w.blobs.values()].filter((b) => b.mediaType.includes('layer'));
    for (const b of layers.slice(0, 8)) {
      const bytes = Buffer.from(b.bytes);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
      writeFileSync(blobData(store, b.digest), bytes);
      corrupt.push(b.digest);
    }
    // A corrupt manifest (read by every shard), a missing layer, a dangling tag link, an orphan.
    const m = images[1]!;
    writeFileSync(blobData(store, m.digest), Buffer.concat([m.bytes, Buffer.from(' ')]));
    corrupt.push(m.digest);
    const gone = layers[layers.length - 1]!;
    rmSync(blobData(store, gone.digest));
    writeFileSync(join(store, V2, 'repositories', 'appc', '_manifests', 'tags', '1', 'current', 'link'), 'sha256:nothex');
    rmSync(join(store, V2, 'repositories', 'appd', '_layers'), { recursive: true });
    const orphan = Buffer.from('nobody links me');
    mkdirSync(join(blobData(store, digestOf(orphan)), '..'), { recursive: true });
    writeFileSync(blobData(store, digestOf(orphan)), orphan);

    full = await verify([]);
    fullDoc = full.json<Report>();
    for (let i = 0; i < 3; i++) {
      const r = await verify(['--shard', `${i}/3`]);
      expect(r.code, r.stderr).toBe(full.code);
      reports.push(join(base, `shard-${i}.json`));
      writeFileSync(reports[i]!, r.stdout);
    }
  });

  it('the unsharded run finds the faults (exit 3)', () => {
    expect(full.code).toBe(3);
    const kinds = new Set(fullDoc.findings.map((f) => f.kind));
    for (const k of ['digest-mismatch', 'missing-blob', 'malformed-link', 'unlinked-blob', 'orphan-blob']) expect(kinds).toContain(k);
    expect(fullDoc.shard).toBeUndefined();
  });

  it('each blob is hashed by exactly one shard: shares add up, mismatches come from their own shard', () => {
    const docs = reports.map(saved);
    const all = storeBlobs(store);
    expect(all.length).toBe(fullDoc.blobs);
    docs.forEach((d, i) => {
      expect(d.shard).toEqual({ index: i, count: 3, blobs: all.filter((g) => shardOf(g as Digest, 3) === i).length, assignment: 'sha256-hex-mod-n' });
      expect(d.store).toBe(`file://${store}`);
      expect(d.blobs).toBe(fullDoc.blobs);
    });
    expect(docs.reduce((t, d) => t + d.shard!.blobs, 0)).toBe(all.length);
    expect(docs.reduce((t, d) => t + d.blobsHashed, 0)).toBe(fullDoc.blobsHashed);
    expect(docs.reduce((t, d) => t + d.bytesHashed, 0)).toBe(fullDoc.bytesHashed);
    const layersCorrupt = corrupt.slice(0, 8);
    for (const g of layersCorrupt) {
      const finders = docs.filter((d) => d.findings.some((f) => f.kind === 'digest-mismatch' && f.digest === g)).map((d) => d.shard!.index);
      expect(finders, g).toEqual([shardOf(g as Digest, 3)]);
    }
    // The manifest is read by every shard (references need it): all report it, merging keeps one.
    for (const d of docs) expect(d.findings.some((f) => f.kind === 'digest-mismatch' && f.digest === corrupt[8])).toBe(true);
  });

  it('--merge of the three reports is the unsharded report, in any order, reading no store', async () => {
    for (const order of [reports, [reports[2]!, reports[0]!, reports[1]!]]) {
      const r = await regbucket(['--json', 'verify', '--merge', ...order], { ...NO_ENGINE, REGBUCKET_STORE: '' });
      expect(r.code, r.stderr).toBe(full.code);
      const m = r.json<Report>();
      expect(m.findings).toEqual(fullDoc.findings);
      const { merged, store: s, ...rest } = sansSeconds(m);
      expect(rest).toEqual(sansSeconds(fullDoc));
      expect(merged).toEqual({ shards: 3, consistent: true });
      expect(s).toBe(`file://${store}`);
    }
    const text = await regbucket(['verify', '--merge', ...reports], NO_ENGINE);
    expect(text.code).toBe(3);
    expect(text.stdout).toContain('merged 3 shard reports');
  });

  it('the job engines name the same shards: Kubernetes Indexed Job, AWS Batch array job', async () => {
    const k8s = await verify([], { JOB_COMPLETION_INDEX: '1', JOB_COMPLETIONS: '3' });
    const batch = await verify([], { AWS_BATCH_JOB_ARRAY_INDEX: '2', REGBUCKET_SHARDS: '3' });
    expect(sansSeconds(k8s.json<Report>())).toEqual(sansSeconds(saved(reports[1]!)));
    expect(sansSeconds(batch.json<Report>())).toEqual(sansSeconds(saved(reports[2]!)));
    // The flag wins over the environment.
    const flag = await verify(['--shard', '0/3'], { JOB_COMPLETION_INDEX: '1', JOB_COMPLETIONS: '3' });
    expect(flag.json<Report>().shard!.index).toBe(0);
  });

  it('a bad shard is a one-line usage error naming the flag or variable (exit 2)', async () => {
    refused(await verify(['--shard', '3/3']), /--shard "3\/3".*index/);
    refused(await verify(['--shard', '0/0']), /--shard "0\/0".*count/);
    refused(await verify(['--shard', 'a/b']), /--shard "a\/b"/);
    refused(await verify(['--shard', '1']), /--shard "1".*i\/n/);
    refused(await verify([], { JOB_COMPLETION_INDEX: '5', JOB_COMPLETIONS: '3' }), /JOB_COMPLETION_INDEX="5" with JOB_COMPLETIONS="3"/);
    refused(await verify([], { AWS_BATCH_JOB_ARRAY_INDEX: 'x', REGBUCKET_SHARDS: '3' }), /AWS_BATCH_JOB_ARRAY_INDEX="x"/);
    refused(await verify([], { AWS_BATCH_JOB_ARRAY_INDEX: '0' }), /AWS_BATCH_JOB_ARRAY_INDEX is set but no shard count.*REGBUCKET_SHARDS/);
    refused(await verify([], { REGBUCKET_SHARDS: '4' }), /REGBUCKET_SHARDS is set but no shard index/);
    refused(await verify(['--shard', '0/3', '--fix']), /--shard with --fix.*verify --fix unsharded/);
    refused(await verify(['--shard', '0/3', '--no-hash']), /--shard with --no-hash/);
    refused(await verify(['--fix'], { JOB_COMPLETION_INDEX: '0', JOB_COMPLETIONS: '3' }), /with --fix/);
  });

  it('--merge refuses a missing, duplicated or foreign shard, and a report that is not a shard', async () => {
    const merge = (files: string[]) => regbucket(['--json', 'verify', '--merge', ...files], NO_ENGINE);
    refused(await merge([reports[0]!, reports[2]!]), /shard 1 of 3 missing/);
    refused(await merge([...reports, reports[1]!]), /shard 1\/3 is given twice/);
    const two = join(base, 'two-0.json');
    writeFileSync(two, (await verify(['--shard', '0/2'])).stdout);
    refused(await merge([reports[1]!, reports[2]!, two]), /one of 3 shards/);
    const other = join(base, 'other');
    cpSync(store, other, { recursive: true });
    const foreign = join(base, 'foreign-0.json');
    writeFileSync(foreign, (await verify(['--shard', '0/3'], {}, other)).stdout);
    refused(await merge([foreign, reports[1]!, reports[2]!]), /of store .*merge the shards of one store/);
    const plain = join(base, 'plain.json');
    writeFileSync(plain, full.stdout);
    refused(await merge([plain, ...reports]), /not a verify --shard report \(no "shard"\)/);
    refused(await merge([join(base, 'nope.json')]), /cannot read shard report/);
    refused(await merge([]), /--merge needs the shard reports/);
    refused(await regbucket(['verify', '--merge', '--shard', '0/3', ...reports], NO_ENGINE), /--merge .* takes no --shard/);
  });

  it('--merge refuses a report it cannot trust as a shard: a FIFO, a count past the limit, a finding verify never makes; odd text is printed escaped', async () => {
    const merge = (files: string[]) => regbucket(['--json', 'verify', '--merge', ...files], NO_ENGINE);
    const fifo = join(base, 'fifo.json');
    execFileSync('mkfifo', [fifo]);
    refused(await merge([fifo]), /shard report .*fifo.json" is not a regular file/);
    const doc = JSON.parse(readFileSync(reports[0]!, 'utf8')) as Report & { shard: NonNullable<Report['shard']> };
    const write = (name: string, d: unknown): string => {
      const f = join(base, name);
      writeFileSync(f, JSON.stringify(d));
      return f;
    };
    refused(await merge([write('huge-count.json', { ...doc, shard: { ...doc.shard, count: 1e10 } })]), /"shard" is not \{index, count, blobs\}/);
    const bad = doc.findings[0]!;
    for (const f of [
      { ...bad, kind: '__proto__' },
      { ...bad, severity: 'critical' },
      { ...bad, detail: null },
      { ...bad, usedBy: 'a' },
    ])
      refused(await merge([write('bad-finding.json', { ...doc, shard: { ...doc.shard, index: 0, count: 1 }, findings: [f] })]), /"findings" is not a list of verify findings/);
    const odd = '\u001b[31m\r\nno problems found';
    const escaped = write('odd.json', { ...doc, store: `file:///x${odd}`, shard: { ...doc.shard, index: 0, count: 1 }, findings: [{ ...bad, usedBy: [`a${odd}`], fix: `f${odd}` }] });
    const text = await regbucket(['verify', '--merge', escaped], NO_ENGINE);
    expect(text.code, text.stderr).toBe(3);
    expect([...text.stdout].some((c) => c !== '\n' && c !== '\t' && c.charCodeAt(0) < 0x20)).toBe(false);
    expect(text.stdout).not.toContain('\nno problems found');
    expect(text.stdout).toContain('\\x1b[31m\\r\\nno problems found');
  });
});
