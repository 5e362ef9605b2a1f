// regbucket ls against the registry serving the same store, on a store of 1,000 repositories and
// 20,000 tags (every tenth image a two-platform index), written directly in the registry layout
// (bench/gc.ts writeStore: paths from the store core, no fsync).
// - repositories: `regbucket ls` against the registry's paginated `/v2/_catalog`;
// - one repository: `regbucket ls <repo>` against `tags/list` plus a manifest GET per tag (and per
//   index child, for sizes), which is what a client needs for the same table;
// - full listing: `regbucket ls --all` (and `--no-details`) against the catalog, every tags/list
//   and every manifest GET, 8 requests in flight (regbucket's default --concurrency).
// On S3 (when the S3 driver and the Swift lab have landed) the same, through a proxy that counts
// requests and optionally adds latency.
// Run: npx tsx bench/ls.ts [fs|s3|all] (default all); BENCH_DIR picks the directory.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { BIN } from '../test/lab/cli.js';
import { run } from '../test/lab/exec.js';
import { startRegistry, type RunningRegistry } from '../test/lab/registry.js';
import type { StorageDriver } from '../src/drivers/driver.js';
import { FilesystemDriver } from '../src/drivers/filesystem.js';
import { localReads } from '../src/drivers/local-reads/decorator.js';
import { listAllTags, listRepoTags, listRepositorySummaries, type RepoTags } from '../src/store/listing.js';
import { ManifestReader } from '../src/store/summary.js';
import { directoryPut, writeStore, type StoreShape } from './gc.js';
import { fmt, machine, timeIt } from './util.js';
import { MANIFEST_ACCEPT } from '../src/image/mediatypes.js';

const SHAPE: StoreShape = { repos: 1000, imagesPerRepo: 20, tagsPerRepo: 20, layersPerImage: 2, indexEvery: 10, orphans: 0 };
const RUNS = 3;
const ACCEPT = MANIFEST_ACCEPT;

function middle(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

async function regbucketLs(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const r = await run(process.execPath, [BIN, ...args], { env: { ...process.env, CI: 'true', ...env } });
  if (r.code !== 0) throw new Error(`regbucket ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

// ---- the registry's side: what a client asks a running registry for the same answers ----

async function getJson<T>(url: string): Promise<{ body: T; link: string | null }> {
  const r = await fetch(url, { headers: { Accept: ACCEPT } });
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${await r.text()}`);
  return { body: (await r.json()) as T, link: r.headers.get('link') };
}

async function catalog(host: string): Promise<string[]> {
  const out: string[] = [];
  let next: string | null = '/v2/_catalog?n=1000';
  while (next) {
    const { body, link }: { body: { repositories: string[] }; link: string | null } = await getJson(`http://${host}${next}`);
    out.push(...body.repositories);
    next = link ? /<([^>]+)>/.exec(link)![1]! : null;
  }
  return out;
}

/** tags/list of each repository, then each tag's manifest (and an index's children): digests, types, sizes. */
async function registryTags(host: string, repos: string[], details: boolean): Promise<number> {
  const limit = pLimit(8);
  let rows = 0;
  await Promise.all(
    repos.map(async (repo) => {
      const { body } = await limit(() => getJson<{ tags: string[] }>(`http://${host}/v2/${repo}/tags/list`));
      rows += body.tags.length;
      if (!details) return;
      await Promise.all(
        body.tags.map(async (tag) => {
          const m = await limit(() => getJson<{ manifests?: { digest: string }[] }>(`http://${host}/v2/${repo}/manifests/${tag}`));
          await Promise.all((m.body.manifests ?? []).map((c) => limit(() => getJson(`http://${host}/v2/${repo}/manifests/${c.digest}`))));
        }),
      );
    }),
  );
  return rows;
}

interface Case {
  name: string;
  /** Runs of this case (the registry's full listing takes minutes: once). */
  runs?: number;
  registry: (host: string) => Promise<unknown>;
  regbucket: string[];
  /** The same listing in this process through the core (filesystem: no node start in the time). */
  inProcess: (d: StorageDriver) => Promise<unknown>;
  /** Both sides' row counts must agree (same answer timed). */
  check: (theirs: unknown, ours: string) => void;
}

function cases(repo: string): Case[] {
  const count = (n: unknown, ours: string, rowsOf: (j: unknown) => number): void => {
    const mine = rowsOf(JSON.parse(ours));
    if (n !== mine) throw new Error(`row counts differ: registry ${String(n)}, regbucket ${mine}`);
  };
  const tagRows = (j: unknown): number => (j as { repositories: { tags: unknown[] }[] }).repositories.reduce((n, r) => n + r.tags.length, 0);
  return [
    {
      name: 'repositories (`ls`)',
      registry: async (h) => (await catalog(h)).length,
      regbucket: ['ls'],
      inProcess: (d) => listRepositorySummaries(d, 8),
      check: (t, o) => count(t, o, (j) => (j as { repositories: unknown[] }).repositories.length),
    },
    {
      name: `one repository (\`ls ${repo}\`)`,
      registry: (h) => registryTags(h, [repo], true),
      regbucket: ['ls', repo],
      inProcess: async (d) => details(d, [await listRepoTags(d, repo, 8)]),
      check: (t, o) => count(t, o, tagRows),
    },
    {
      name: 'every tag, no details (`ls --all --no-details`)',
      registry: async (h) => registryTags(h, await catalog(h), false),
      regbucket: ['ls', '--all', '--no-details'],
      inProcess: (d) => listAllTags(d, 8),
      check: (t, o) => count(t, o, tagRows),
    },
    {
      name: 'every tag with type, platforms, size (`ls --all`)',
      runs: 1,
      registry: async (h) => registryTags(h, await catalog(h), true),
      regbucket: ['ls', '--all'],
      inProcess: async (d) => details(d, await listAllTags(d, 8)),
      check: (t, o) => count(t, o, tagRows),
    },
  ];
}

/** What `ls` does after listing: each tag's manifest summarized (read once per digest). */
async function details(d: StorageDriver, repos: RepoTags[]): Promise<number> {
  const reader = new ManifestReader(d, 8);
  const all = await Promise.all(repos.flatMap((r) => r.tags.map((t) => (t.digest ? reader.summarize(t.digest) : Promise.resolve(undefined)))));
  return all.length;
}

interface Measured {
  name: string;
  registry: number;
  regbucket: number;
  inProcess?: number;
  registryRequests?: number;
  regbucketRequests?: number;
  kinds?: string;
}

/** Interleaved runs of both sides per case; `counter` (S3) reads requests made by each side's last run. */
async function measure(
  reg: RunningRegistry,
  store: string[],
  repo: string,
  runs: number,
  env: NodeJS.ProcessEnv = {},
  counter?: { reset(): void; total(): number; counts(): Record<string, number> },
  skipRegistry: (c: Case) => boolean = () => false,
  local?: StorageDriver,
): Promise<Measured[]> {
  const out: Measured[] = [];
  for (const c of cases(repo)) {
    const times: [number[], number[]] = [[], []];
    const m: Measured = { name: c.name, registry: 0, regbucket: 0 };
    for (let i = 0; i < Math.min(runs, c.runs ?? runs); i++) {
      let theirs: unknown;
      let ours = '';
      const skip = skipRegistry(c);
      counter?.reset();
      times[0].push(skip ? NaN : await timeIt(async () => (theirs = await c.registry(reg.host))));
      m.registryRequests = skip ? undefined : counter?.total();
      counter?.reset();
      times[1].push(await timeIt(async () => (ours = await regbucketLs([...store, '--json', ...c.regbucket], env))));
      m.regbucketRequests = counter?.total();
      if (counter)
        m.kinds = Object.entries(counter.counts())
          .map(([k, n]) => `${k} ${n}`)
          .join(', ');
      if (!skip) c.check(theirs, ours);
    }
    [m.registry, m.regbucket] = times.map(middle) as [number, number];
    if (local) {
      const { d, release } = localReads(local);
      const t: number[] = [];
      for (let i = 0; i < Math.min(runs, c.runs ?? runs); i++) t.push(await timeIt(() => c.inProcess(d)));
      await release();
      m.inProcess = middle(t);
    }
    out.push(m);
    const reqs = counter ? ` (requests: registry ${m.registryRequests}, regbucket ${m.regbucketRequests}: ${m.kinds})` : '';
    console.error(`${c.name}: registry ${fmt(m.registry)} s, regbucket ${fmt(m.regbucket)} s${m.inProcess !== undefined ? ` (in process ${fmt(m.inProcess)} s)` : ''}${reqs}`);
  }
  return out;
}

async function fsBench(): Promise<string[]> {
  // BENCH_STORE: a store this benchmark wrote before (kept), to time again without writing it.
  const kept = process.env.BENCH_STORE;
  const root = kept ?? join(process.env.BENCH_DIR ?? '/tmp', `regbucket-bench-ls-${process.pid}`);
  try {
    let files = Number((await run('bash', ['-c', `find ${root} -type f | wc -l`])).stdout.trim());
    if (!kept || files === 0) {
      rmSync(root, { recursive: true, force: true });
      const t0 = Date.now();
      files = (await writeStore(SHAPE, directoryPut(root))).files;
      console.error(`wrote ${files} files in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    await run('find', [root, '-type', 'f']); // page cache warm for both
    const reg = await startRegistry({ storage: { filesystem: root } });
    try {
      const rows = await measure(reg, ['--store', root], 'team7/app-517', RUNS, {}, undefined, () => false, new FilesystemDriver(root));
      return [
        `### filesystem: ${files.toLocaleString('en')} files, ${SHAPE.repos.toLocaleString('en')} repositories, ${(SHAPE.repos * SHAPE.tagsPerRepo).toLocaleString('en')} tags (every ${SHAPE.indexEvery}th image a two-platform index); page cache warm; median of ${RUNS} interleaved runs`,
        '',
        '| listing | registry 2.8 over HTTP (s) | regbucket, whole CLI (s) | ratio | regbucket core in process (s) | ratio |',
        '| --- | --- | --- | --- | --- | --- |',
        ...rows.map((r) => `| ${r.name} | ${fmt(r.registry)} | ${fmt(r.regbucket)} | ${fmt(r.registry / r.regbucket, 1)}x | ${fmt(r.inProcess!)} | ${fmt(r.registry / r.inProcess!, 1)}x |`),
      ];
    } finally {
      await reg.stop();
    }
  } finally {
    if (!kept) rmSync(root, { recursive: true, force: true });
  }
}

// ---- S3: the Swift endpoint behind the counting proxy ----

/**
 * The S3 store: the same 1,000 repositories and 20,000 tags, but every repository holds the same
 * five manifests (two images, and an index of two more), its 20 tags pointing at the images and
 * the index in turn; one config and one layer blob. ~47,000 objects: Swift took ~27 PUTs a second
 * on this shared VM while other tests ran, and the filesystem store's 198,000 would take two hours.
 */
async function writeSharedStore(put: (path: string, data: Buffer | string) => Promise<void>): Promise<number> {
  const { sha256 } = await import('../src/image/digest.js');
  const { eachLimit } = await import('../src/util/each-limit.js');
  const P = await import('../src/store/paths.js');
  let files = 0;
  const blob = async (data: Buffer, mediaType: string) => {
    await put(P.blobDataPath(sha256(data)), data);
    files++;
    return { mediaType, digest: sha256(data), size: data.length };
  };
  const config = await blob(Buffer.from('{"architecture":"amd64","os":"linux"}'), 'application/vnd.oci.image.config.v1+json');
  const layer = await blob(Buffer.from('a layer'), 'application/vnd.oci.image.layer.v1.tar+gzip');
  const image = (n: number) =>
    blob(
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer], annotations: { n: String(n) } })),
      'application/vnd.oci.image.manifest.v1+json',
    );
  const [a, b, c1, c2] = [await image(1), await image(2), await image(3), await image(4)];
  const platforms = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64' },
  ];
  const idx = await blob(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [c1, c2].map((k, j) => ({ ...k, platform: platforms[j] })) })),
    'application/vnd.oci.image.index.v1+json',
  );
  const revisions = [a, b, c1, c2, idx].map((m) => m.digest);
  const roots = [a.digest, b.digest, idx.digest];
  const repos = Array.from({ length: S3_REPOS }, (_, r) => `team${r % 10}/app-${r}`);
  await eachLimit(repos, 4, async (repo) => {
    const writes: [string, string][] = [
      ...[config, layer].map((x): [string, string] => [P.layerLinkPath(repo, x.digest), x.digest]),
      ...revisions.map((d): [string, string] => [P.revisionLinkPath(repo, d), d]),
      ...Array.from({ length: SHAPE.tagsPerRepo }, (_, t) => roots[t % roots.length]!).flatMap((d, t): [string, string][] => [
        [P.tagIndexLinkPath(repo, `v${t}`, d), d],
        [P.tagCurrentLinkPath(repo, `v${t}`), d],
      ]),
    ];
    await eachLimit(writes, 16, ([path, data]) => put(path, data));
    files += writes.length;
  });
  return files;
}

/** Repositories of the S3 store (BENCH_S3_REPOS, default 1,000). */
const S3_REPOS = Number(process.env.BENCH_S3_REPOS ?? SHAPE.repos);

const S3_CREDENTIALS = { accessKeyId: 'test:tester', secretAccessKey: 'testing', region: 'us-east-1' };

async function s3Bench(): Promise<string[]> {
  let lab: { startSwift(): Promise<{ endpoint: string; stop(): Promise<void> }> };
  try {
    lab = (await import('../test/lab/' + 'swift.js')) as typeof lab;
  } catch {
    return ['### S3: not run (the S3 driver and the Swift lab, test/lab/swift.ts, have not landed)'];
  }
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const { openDriver } = await import('../src/drivers/open.js');
  const { startProxy } = await import('../test/lab/proxy.js');
  const swift = await lab.startSwift();
  const bucket = `lsbench${process.pid}`;
  const prefix = 'store';
  try {
    const client = new S3Client({ endpoint: swift.endpoint, forcePathStyle: true, region: S3_CREDENTIALS.region, credentials: S3_CREDENTIALS, requestChecksumCalculation: 'WHEN_REQUIRED' });
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    client.destroy();
    const env = { AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey, AWS_REGION: S3_CREDENTIALS.region };
    Object.assign(process.env, env);
    const d = openDriver(`s3://${bucket}/${prefix}`, { s3Endpoint: swift.endpoint, s3Region: S3_CREDENTIALS.region });
    const t0 = Date.now();
    const files = await writeSharedStore((path, data) => d.putContent(path, data));
    await d.close();
    console.error(`wrote ${files} objects in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const lines = [
      `### S3: ${files.toLocaleString('en')} objects, ${S3_REPOS.toLocaleString('en')} repositories, ${(S3_REPOS * SHAPE.tagsPerRepo).toLocaleString('en')} tags (the same 5 manifests in every repository) on Swift's S3 API behind a counting proxy; one run each`,
      '',
      '| added latency | listing | registry 2.8: seconds / requests | regbucket (--concurrency 32): seconds / requests | faster | fewer requests | regbucket requests by kind |',
      '| --- | --- | --- | --- | --- | --- | --- |',
    ];
    for (const latencyMs of (process.env.BENCH_LATENCIES ?? '0,20').split(',').map(Number)) {
      console.error(`S3 with ${latencyMs} ms added a request`);
      const proxy = await startProxy({ target: swift.endpoint, latencyMs });
      const reg = await startRegistry({ storage: { s3: { endpoint: proxy.url, bucket, rootdirectory: `/${prefix}`, ...S3_CREDENTIALS } } });
      try {
        const store = ['--store', `s3://${bucket}/${prefix}`, '--s3-endpoint', proxy.url, '--concurrency', '32'];
        // The registry's full listing is ~4 S3 requests per tag (80,000): not run on S3.
        const rows = await measure(reg, store, `team7/app-${S3_REPOS > 517 ? 517 : 7}`, 1, env, proxy, (c) => c.runs === 1);
        for (const r of rows) {
          const theirs = r.registryRequests === undefined ? 'not run' : `${fmt(r.registry)} / ${r.registryRequests}`;
          const ratio = r.registryRequests === undefined ? '-' : `${fmt(r.registry / r.regbucket, 1)}x`;
          const fewer = r.registryRequests === undefined ? '-' : `${fmt(r.registryRequests / r.regbucketRequests!, 1)}x`;
          lines.push(`| ${latencyMs} ms | ${r.name} | ${theirs} | ${fmt(r.regbucket)} / ${r.regbucketRequests} | ${ratio} | ${fewer} | ${r.kinds} |`);
        }
      } finally {
        await reg.stop();
        await proxy.stop();
      }
    }
    return lines;
  } finally {
    await swift.stop();
  }
}

async function main(): Promise<void> {
  const which = process.argv[2] ?? 'all';
  const lines = [`${machine()}; load before the run: ${(await run('cat', ['/proc/loadavg'])).stdout.trim()}`, ''];
  if (which === 'fs' || which === 'all') lines.push(...(await fsBench()), '');
  if (which === 's3' || which === 'all') lines.push(...(await s3Bench()), '');
  console.log(lines.join('\n'));
}

await main();
