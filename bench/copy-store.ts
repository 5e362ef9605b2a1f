// Whole-store copy, filesystem to S3 (Swift on 127.0.0.1): `regbucket copy --all-repositories`
// (every digest checked, every link and tag written as the registry reads them) against the lower
// bound, a plain object copy: every file of the store PUT under the same key with the AWS SDK
// (lib-storage Upload) at the same concurrency and no checks, what `aws s3 sync` does. Both go
// through the lab's counting proxy (no added latency), so requests are counted by kind for each.
// Then regbucket's second run (nothing to do) on the same bucket.
// Run: npx tsx bench/copy-store.ts [repos] [tags per repo] [KiB per own small layer] [MiB of each repo's big layer]
import { createReadStream, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import pLimit from 'p-limit';
import { BIN } from '../test/lab/cli.js';
import { runOk } from '../test/lab/exec.js';
import { LayoutWriter, makeLayerTar } from '../test/lab/images.js';
import { startProxy, type RunningProxy } from '../test/lab/proxy.js';
import { bucketName, startSwift, SWIFT_CREDENTIALS } from '../test/lab/swift.js';
import { fmt, machine, sh, timeIt } from './util.js';

const args = process.argv.slice(2);
const REPOS = Number(args[0] ?? 100);
const TAGS = Number(args[1] ?? 3);
const SMALL_KIB = Number(args[2] ?? 16);
const BIG_MIB = Number(args[3] ?? 1);
const CONCURRENCY = 8;
const BASES = 8; // 2 MiB base layers, each shared by a group of repositories
const root = join(process.env.BENCH_DIR ?? '/tmp', `regbucket-bench-copy-store-${process.pid}`);
const store = join(root, 'store');
const bash = (cmd: string, env: NodeJS.ProcessEnv = {}): Promise<string> => runOk('bash', ['-c', cmd], { timeoutMs: 3_600_000, env: { ...process.env, ...env } });

/** REPOS repositories x TAGS tags: a group base layer, 2 own small layers each, one own big layer on each repo's first tag; pushed by one sync. */
async function makeStore(): Promise<void> {
  const layout = join(root, 'layout');
  const w = new LayoutWriter(layout);
  const bases: Buffer[] = [];
  for (let i = 0; i < BASES; i++) bases.push(await makeLayerTar(2 * 1024 * 1024));
  const lines: string[] = [];
  for (let r = 0; r < REPOS; r++) {
    const repo = `bench/r${String(r).padStart(3, '0')}`;
    const big = BIG_MIB > 0 ? [await makeLayerTar(BIG_MIB * 1024 * 1024)] : [];
    for (let t = 0; t < TAGS; t++) {
      const ref = `r${r}-t${t}`;
      await w.image({ ref, layers: 2, layerSize: SMALL_KIB * 1024, sharedLayers: [bases[r % BASES]!, ...(t === 0 ? big : [])] });
      lines.push(`oci:${layout}:${ref} ${repo}:v${t}`);
    }
  }
  w.write();
  writeFileSync(join(root, 'list.txt'), lines.join('\n') + '\n');
  await bash(`node ${BIN} --store ${store} -q sync --jobs 4 ${join(root, 'list.txt')}`);
  rmSync(layout, { recursive: true, force: true });
}

function filesOf(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.isFile()) out.push(join(d, e.name));
    }
  };
  walk(dir);
  return out;
}

/** The lower bound: every file PUT under the same key, CONCURRENCY at once, nothing read or checked. */
async function plainCopy(endpoint: string, bucket: string): Promise<number> {
  const { S3Client } = await import('@aws-sdk/client-s3');
  const { Upload } = await import('@aws-sdk/lib-storage');
  const client = new S3Client({ endpoint, forcePathStyle: true, region: SWIFT_CREDENTIALS.region, credentials: SWIFT_CREDENTIALS, requestChecksumCalculation: 'WHEN_REQUIRED' });
  const limit = pLimit(CONCURRENCY);
  const files = filesOf(store);
  try {
    await Promise.all(
      files.map((f) =>
        limit(async () => {
          const key = `plain/${relative(store, f)}`;
          await new Upload({ client, params: { Bucket: bucket, Key: key, Body: createReadStream(f), ContentLength: statSync(f).size }, queueSize: 1 }).done();
        }),
      ),
    );
  } finally {
    client.destroy();
  }
  return files.length;
}

const requests = (p: RunningProxy): string =>
  `${p.total()} (${Object.entries(p.counts())
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k.split(' ')[1]} ${v}`)
    .join(', ')})`;

rmSync(root, { recursive: true, force: true });
const swift = await startSwift();
const proxy = await startProxy({ target: swift.endpoint });
try {
  await makeStore();
  const files = filesOf(store);
  const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
  const blobs = filesOf(join(store, 'docker/registry/v2/blobs')).length;
  console.log(
    `${REPOS} repositories x ${TAGS} tags; ${files.length.toLocaleString('en')} files (${blobs.toLocaleString('en')} blobs), ${fmt(bytes / 1024 / 1024, 1)} MiB; ${machine()}; concurrency ${CONCURRENCY}\n`,
  );
  const bucket = bucketName('benchcopystore');
  await swift.createBucket(bucket);
  const rb = `node ${BIN} --store ${store} --s3-endpoint ${proxy.url} --concurrency ${CONCURRENCY} -q copy --all-repositories s3://${bucket}/regbucket >/dev/null`;
  const rows: string[][] = [];
  const load: string[] = [];
  const timed = async (what: string, fn: () => Promise<unknown>): Promise<number> => {
    proxy.reset();
    load.push(sh('cut -d" " -f1 /proc/loadavg').trim());
    const s = await timeIt(fn);
    rows.push([what, fmt(s), requests(proxy)]);
    return s;
  };
  const plain = await timed('plain object copy (lib-storage Upload of every file, no checks)', () => plainCopy(proxy.url, bucket));
  const first = await timed('`regbucket copy --all-repositories` (every digest checked)', () => bash(rb, swift.env));
  await timed('`regbucket copy --all-repositories`, second run (nothing to do)', () => bash(rb, swift.env));
  console.log('| run | time (s) | requests |');
  console.log('| --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log(`\nregbucket / plain copy: ${fmt(first / plain)}x`);
  console.log(`load (1 min) before each run: ${load.join(', ')}; after: ${sh('cat /proc/loadavg').trim()}`);
} finally {
  await proxy.stop();
  await swift.stop();
  rmSync(root, { recursive: true, force: true });
}
