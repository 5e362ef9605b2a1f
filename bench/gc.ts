// regbucket gc against the registry's `garbage-collect` on the same store, one run each:
// - filesystem: a store of 60,000+ files written directly in the registry layout;
// - S3 (when the Swift lab is present): a bucket on the Swift endpoint behind a proxy adding
//   20 ms a request and counting requests.
// Both sides run --dry-run with --min-age 0 (the registry has no age rule) and their counts of
// blobs eligible for deletion are compared, so the timing is of the same answer.
// Run: npx tsx bench/gc.ts [fs|s3|all] (default all)
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as P from '../src/store/paths.js';
import { BIN } from '../test/lab/cli.js';
import { run } from '../test/lab/exec.js';
import { startProxy } from '../test/lab/proxy.js';
import { registryConfig, registryGarbageCollect } from '../test/lab/registry.js';
import { fmt, machine, timeIt } from './util.js';

// ---- a synthetic store in the registry layout ----

export interface StoreShape {
  repos: number;
  imagesPerRepo: number;
  /** Tags per repository; each was moved `retags` times (history entries, untagged revisions). */
  tagsPerRepo: number;
  /** Layers per image: one from a pool of 20 shared base layers, the rest its own. */
  layersPerImage: number;
  /** Every n-th image is a two-platform index instead of a single manifest. */
  indexEvery: number;
  orphans: number;
}

export type Put = (path: string, data: Buffer | string) => Promise<void>;

/** Deterministic pseudo-random bytes, so a shape always gives the same store. */
function bytesFor(label: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(label).digest();
  for (let at = 0; at < size; at += 32) {
    block.copy(out, at);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

const sha = (b: Buffer): `sha256:${string}` => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Desc {
  mediaType: string;
  digest: `sha256:${string}`;
  size: number;
}

/** Writes the store through `put` (limited concurrency is the caller's business); returns the file count. */
export async function writeStore(shape: StoreShape, put: Put): Promise<{ files: number; images: number }> {
  let files = 0;
  const blobs = new Set<string>();
  const putBlob = async (data: Buffer, mediaType: string): Promise<Desc> => {
    const digest = sha(data);
    if (!blobs.has(digest)) {
      blobs.add(digest);
      await put(P.blobDataPath(digest), data);
      files++;
    }
    return { mediaType, digest, size: data.length };
  };
  const link = async (path: string, digest: string): Promise<void> => {
    await put(path, digest);
    files++;
  };
  const bases = await Promise.all(Array.from({ length: 20 }, (_, i) => putBlob(bytesFor(`base ${i}`, 512), 'application/vnd.oci.image.layer.v1.tar+gzip')));
  let images = 0;
  const single = async (repo: string, label: string): Promise<Desc> => {
    const config = await putBlob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', label })), 'application/vnd.oci.image.config.v1+json');
    const layers = [bases[images % bases.length]!];
    for (let l = 1; l < shape.layersPerImage; l++) layers.push(await putBlob(bytesFor(`${label} l${l}`, 256), 'application/vnd.oci.image.layer.v1.tar+gzip'));
    for (const b of [config, ...layers]) await link(P.layerLinkPath(repo, b.digest), b.digest);
    const m = await putBlob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers })), 'application/vnd.oci.image.manifest.v1+json');
    await link(P.revisionLinkPath(repo, m.digest), m.digest);
    images++;
    return m;
  };
  const tasks: Promise<void>[] = [];
  for (let r = 0; r < shape.repos; r++) {
    const repo = `team${r % 10}/app-${r}`;
    tasks.push(
      (async () => {
        const roots: Desc[] = [];
        for (let i = 0; i < shape.imagesPerRepo; i++) {
          const label = `${repo} ${i}`;
          if (i % shape.indexEvery === shape.indexEvery - 1) {
            const kids = [await single(repo, `${label} amd64`), await single(repo, `${label} arm64`)];
            const idx = await putBlob(
              Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: kids })),
              'application/vnd.oci.image.index.v1+json',
            );
            await link(P.revisionLinkPath(repo, idx.digest), idx.digest);
            roots.push(idx);
          } else roots.push(await single(repo, label));
        }
        // Tag t pointed at roots t, t+T, t+2T, ... in turn: the last is current, the rest are history.
        for (let t = 0; t < shape.tagsPerRepo; t++) {
          let current: Desc | undefined;
          for (let i = t; i < roots.length; i += shape.tagsPerRepo) {
            if (roots.length - i > 2 * shape.tagsPerRepo) continue; // older ones were never tagged
            current = roots[i]!;
            await link(P.tagIndexLinkPath(repo, `v${t}`, current.digest), current.digest);
          }
          if (current) await link(P.tagCurrentLinkPath(repo, `v${t}`), current.digest);
        }
      })(),
    );
  }
  await Promise.all(tasks);
  for (let o = 0; o < shape.orphans; o++) await putBlob(bytesFor(`orphan ${o}`, 128), 'application/octet-stream');
  return { files, images };
}

/** Writes into a directory directly (no fsync: a benchmark fixture, not a store to keep). */
export function directoryPut(root: string): Put {
  const made = new Set<string>();
  return async (path, data) => {
    const full = join(root, path);
    const dir = dirname(full);
    if (!made.has(dir)) {
      mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    writeFileSync(full, data);
  };
}

// ---- running both collectors ----

/** The registry's summary line: `N blobs marked, M blobs and K manifests eligible for deletion`. */
function registryCounts(out: string): { marked: number; blobs: number; manifests: number } {
  const m = /(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion/.exec(out);
  if (!m) throw new Error(`no summary in the registry's output: ${out.slice(-500)}`);
  return { marked: Number(m[1]), blobs: Number(m[2]), manifests: Number(m[3]) };
}

interface GcPlanned {
  planned: { blobs: number; manifests: number };
  kept: { marked: number };
}

async function regbucketGc(args: string[], env: NodeJS.ProcessEnv = {}): Promise<GcPlanned> {
  const r = await run(process.execPath, [BIN, ...args], { env: { ...process.env, CI: 'true', ...env } });
  if (r.code !== 0) throw new Error(`regbucket ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as GcPlanned;
}

/** Runs per filesystem measurement (the median is reported): this VM's timings vary run to run. */
const RUNS = 3;

function middle(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

interface Row {
  mode: string;
  cache: string;
  registry: number;
  regbucket: number;
  counts: string;
}

/** Empties the page cache (root only); false when not allowed. */
function dropCaches(): boolean {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

async function fsBench(): Promise<string[]> {
  const root = join(process.env.BENCH_DIR ?? '/tmp', `regbucket-bench-gc-${process.pid}`);
  rmSync(root, { recursive: true, force: true });
  const shape: StoreShape = { repos: 100, imagesPerRepo: 66, layersPerImage: 3, tagsPerRepo: 10, indexEvery: 11, orphans: 2000 };
  try {
    const t0 = Date.now();
    const { files, images } = await writeStore(shape, directoryPut(root));
    console.error(`wrote ${files} files (${images} image manifests) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const config = registryConfig({ storage: { filesystem: root } }, 5000);
    const cold = dropCaches();
    const rows: Row[] = [];
    for (const cache of cold ? ['warm', 'cold'] : ['warm']) {
      for (const [mode, flags] of [
        ['all revisions kept', []],
        ['--delete-untagged', ['--delete-untagged']],
      ] as const) {
        const prepare = async (): Promise<void> => {
          if (cache === 'cold') dropCaches();
          else await run('find', [root, '-type', 'f'], {}); // page cache warm for both
        };
        let theirs = { marked: 0, blobs: 0, manifests: 0 };
        let ours: GcPlanned | undefined;
        // Interleaved, so a slow spell of this VM falls on both sides.
        const times: [number[], number[]] = [[], []];
        for (let i = 0; i < RUNS; i++) {
          await prepare();
          times[0].push(
            await timeIt(async () => {
              const r = await registryGarbageCollect(config, ['--dry-run', ...flags]);
              if (r.code !== 0) throw new Error(`registry gc failed: ${r.stderr}`);
              theirs = registryCounts(r.stdout + r.stderr);
            }),
          );
          await prepare();
          times[1].push(
            await timeIt(async () => {
              ours = await regbucketGc(['--store', root, '--json', 'gc', '--dry-run', '--min-age', '0', ...flags]);
            }),
          );
        }
        const [registry, regbucket] = times.map(middle) as [number, number];
        const counts = `registry: ${theirs.blobs} blobs, ${theirs.manifests} manifests; regbucket: ${ours!.planned.blobs} blobs, ${ours!.planned.manifests} manifests`;
        if (flags.length === 0 && theirs.blobs !== ours!.planned.blobs) throw new Error(`the collectors disagree: ${counts}`);
        rows.push({ mode, cache, registry, regbucket, counts });
      }
    }
    return [
      `### filesystem: ${files.toLocaleString('en')} files (${shape.repos} repositories, ${images.toLocaleString('en')} image manifests of ${shape.layersPerImage} layers, ${shape.orphans} orphan blobs); median of ${RUNS} interleaved runs each`,
      '',
      '| mode | page cache | docker-registry garbage-collect --dry-run (s) | regbucket gc --dry-run (s) | ratio | eligible / planned |',
      '| --- | --- | --- | --- | --- | --- |',
      ...rows.map((r) => `| ${r.mode} | ${r.cache} | ${fmt(r.registry)} | ${fmt(r.regbucket)} | ${fmt(r.registry / r.regbucket, 1)}x | ${r.counts} |`),
      ...(cold ? [] : ['', '(cold-cache rows need root: /proc/sys/vm/drop_caches was not writable)']),
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

// ---- S3: the Swift endpoint behind a proxy adding 20 ms a request ----

const S3_CREDENTIALS = { accessKeyId: 'test:tester', secretAccessKey: 'testing', region: 'us-east-1' };

/** The S3 endpoint to write the store to: BENCH_S3_ENDPOINT, else the Swift lab started here. */
async function s3Endpoint(): Promise<{ url: string; stop: () => Promise<void> }> {
  if (process.env.BENCH_S3_ENDPOINT) return { url: process.env.BENCH_S3_ENDPOINT, stop: async () => {} };
  const lab = (await import('../test/lab/swift.js')) as unknown as { startSwift(): Promise<{ endpoint: string; stop(): Promise<void> }> };
  const swift = await lab.startSwift();
  return { url: swift.endpoint, stop: () => swift.stop() };
}

async function s3Bench(): Promise<string[]> {
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const { openDriver } = await import('../src/drivers/open.js');
  const { eachLimit } = await import('../src/util/each-limit.js');
  const endpoint = await s3Endpoint();
  const bucket = `gcbench${process.pid}`;
  const prefix = 'store';
  try {
    const client = new S3Client({ endpoint: endpoint.url, forcePathStyle: true, region: S3_CREDENTIALS.region, credentials: S3_CREDENTIALS, requestChecksumCalculation: 'WHEN_REQUIRED' });
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    client.destroy();
    const env = { AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey, AWS_REGION: S3_CREDENTIALS.region };
    Object.assign(process.env, env);
    const d = openDriver(`s3://${bucket}/${prefix}`, { s3Endpoint: endpoint.url, s3Region: S3_CREDENTIALS.region });
    const shape: StoreShape = { repos: 20, imagesPerRepo: 15, layersPerImage: 3, tagsPerRepo: 5, indexEvery: 7, orphans: 300 };
    const writes: [string, Buffer | string][] = [];
    const { files, images } = await writeStore(shape, async (path, data) => {
      writes.push([path, data]);
    });
    await eachLimit(writes, 32, ([path, data]) => d.putContent(path, data));
    await d.close();
    const proxy = await startProxy({ target: endpoint.url, latencyMs: 20 });
    try {
      const config = registryConfig({ storage: { s3: { endpoint: proxy.url, bucket, rootdirectory: `/${prefix}`, ...S3_CREDENTIALS } } }, 5000);
      const rows: string[] = [];
      for (const [mode, flags] of [
        ['all revisions kept', []],
        ['--delete-untagged', ['--delete-untagged']],
      ] as const) {
        proxy.reset();
        let theirs = { marked: 0, blobs: 0, manifests: 0 };
        const registry = await timeIt(async () => {
          const r = await registryGarbageCollect(config, ['--dry-run', ...flags]);
          if (r.code !== 0) throw new Error(`registry gc failed: ${r.stderr}`);
          theirs = registryCounts(r.stdout + r.stderr);
        });
        const registryRequests = proxy.total();
        proxy.reset();
        let ours: GcPlanned | undefined;
        const regbucket = await timeIt(async () => {
          ours = await regbucketGc(['--store', `s3://${bucket}/${prefix}`, '--s3-endpoint', proxy.url, '--concurrency', '32', '--json', 'gc', '--dry-run', '--min-age', '0', ...flags], env);
        });
        const ourRequests = proxy.total();
        const kinds = Object.entries(proxy.counts())
          .map(([k, n]) => `${k} ${n}`)
          .join(', ');
        if (flags.length === 0 && theirs.blobs !== ours!.planned.blobs) throw new Error(`the collectors disagree: registry ${theirs.blobs}, regbucket ${ours!.planned.blobs}`);
        rows.push(
          `| ${mode} | ${fmt(registry)} / ${registryRequests} | ${fmt(regbucket)} / ${ourRequests} | ${fmt(registry / regbucket, 1)}x | ${fmt(registryRequests / ourRequests, 1)}x | ${theirs.blobs} / ${ours!.planned.blobs} | ${kinds} |`,
        );
      }
      return [
        `### S3: ${files.toLocaleString('en')} objects (${shape.repos} repositories, ${images} image manifests, ${shape.orphans} orphan blobs) on Swift's S3 API behind a proxy adding 20 ms a request`,
        '',
        '| mode | registry: seconds / requests | regbucket (--concurrency 32): seconds / requests | faster | fewer requests | blobs eligible / planned | regbucket requests by kind |',
        '| --- | --- | --- | --- | --- | --- | --- |',
        ...rows,
      ];
    } finally {
      await proxy.stop();
    }
  } finally {
    await endpoint.stop();
  }
}

async function main(): Promise<void> {
  const which = process.argv[2] ?? 'all';
  const lines = [`${machine()}; regbucket timed as the whole CLI (node start included)`, ''];
  if (which === 'fs' || which === 'all') lines.push(...(await fsBench()), '');
  if (which === 's3' || which === 'all') lines.push(...(await s3Bench()), '');
  console.log(lines.join('\n'));
}

if (process.argv[1]?.endsWith('gc.ts')) await main();
