// prune and du against what users script today over the registry API, on the same store:
// - prune: keep the 10 newest tags of every repository (by name: the API has no push time) and
//   delete the rest by digest: catalog, tags/list per repository, a manifest HEAD per tag (its
//   digest), a DELETE by digest per removed tag; registry 2.8 with delete enabled. regbucket:
//   `prune --keep-last 10 --untagged-older-than 0` (the same manifests go).
// - du: catalog, tags/list, a manifest GET per tag (sizes from the descriptors) against `regbucket du`.
// Stores are written directly in the registry layout (bench/gc.ts writeStore), once per side;
// du runs first (it only reads), then prune, on the same two stores.
// S3: Swift's S3 API behind the lab proxy (20 ms added a request, requests counted by kind).
// Run: npx tsx bench/prune.ts [fs|s3|all]; BENCH_REPOS / BENCH_S3_REPOS set the sizes (tags: 100 each);
// BENCH_API_TIMEOUT (seconds) cuts the API script short and extrapolates its time from the repositories it
// finished: it works through 8 repositories at a time (8 requests in flight), and a repository's requests
// and registry work do not depend on the others', so its time is linear in the repositories.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { BIN } from '../test/lab/cli.js';
import { run } from '../test/lab/exec.js';
import { startRegistry, type RegistryStorage } from '../test/lab/registry.js';
import { MANIFEST_ACCEPT } from '../src/image/mediatypes.js';
import { directoryPut, writeStore, type Put, type StoreShape } from './gc.js';
import { fmt, machine, timeIt } from './util.js';

const TAGS = 100;
const KEEP = 10;
const shape = (repos: number): StoreShape => ({ repos, imagesPerRepo: TAGS, tagsPerRepo: TAGS, layersPerImage: 2, indexEvery: 1_000_000, orphans: 0 });

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const r = await run(process.execPath, [BIN, ...args], { env: { ...process.env, CI: 'true', ...env }, timeoutMs: 3_600_000 });
  if (r.code !== 0) throw new Error(`regbucket ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

interface ApiRun {
  requests: number;
  removed: number;
  bytes: number;
  /** Set when BENCH_API_TIMEOUT cut the run short: its total time extrapolated from the repositories finished. */
  cut?: { after: number; extrapolated: number; reposDone: number; repos: number };
}

class Cut extends Error {}

/** The script users write: what it costs in HTTP requests. BENCH_API_TIMEOUT (seconds) bounds it. */
async function apiScript(host: string, mode: 'prune' | 'du', repos: number): Promise<ApiRun> {
  const limit = pLimit(8);
  const t0 = Date.now();
  const deadline = t0 + Number(process.env.BENCH_API_TIMEOUT ?? Infinity) * 1000;
  let reposDone = 0;
  let requests = 0;
  let removed = 0;
  let bytes = 0;
  const req = async (method: string, path: string): Promise<Response> => {
    if (Date.now() > deadline) throw new Cut();
    requests++;
    const r = await fetch(`http://${host}${path}`, { method, headers: { Accept: MANIFEST_ACCEPT } });
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r;
  };
  try {
    await script(
      req,
      limit,
      mode,
      (n) => (bytes += n),
      () => removed++,
      () => reposDone++,
    );
  } catch (err) {
    if (!(err instanceof Cut)) throw err;
    await limit(() => undefined); // the requests in flight settle
    const after = (Date.now() - t0) / 1000;
    return { requests, removed, bytes, cut: { after, reposDone, repos, extrapolated: reposDone > 0 ? (after * repos) / reposDone : NaN } };
  }
  return { requests, removed, bytes };
}

async function script(
  req: (method: string, path: string) => Promise<Response>,
  limit: ReturnType<typeof pLimit>,
  mode: 'prune' | 'du',
  sized: (n: number) => void,
  removed: () => void,
  repoDone: () => void,
): Promise<void> {
  const repos: string[] = [];
  let next: string | null = '/v2/_catalog?n=1000';
  while (next) {
    const r = await req('GET', next);
    repos.push(...((await r.json()) as { repositories: string[] }).repositories);
    const link = r.headers.get('link');
    next = link ? /<([^>]+)>/.exec(link)![1]! : null;
  }
  const repoLimit = pLimit(8);
  await Promise.all(
    repos.map((repo) =>
      repoLimit(async () => {
        await oneRepo(repo);
        repoDone();
      }),
    ),
  );
  async function oneRepo(repo: string): Promise<void> {
    const tags = ((await (await limit(() => req('GET', `/v2/${repo}/tags/list`))).json()) as { tags: string[] | null }).tags ?? [];
    if (mode === 'du') {
      await Promise.all(
        tags.map((t) =>
          limit(async () => {
            const m = (await (await req('GET', `/v2/${repo}/manifests/${t}`)).json()) as { config: { size: number }; layers: { size: number }[] };
            sized(m.config.size + m.layers.reduce((n, l) => n + l.size, 0));
          }),
        ),
      );
      return;
    }
    const sorted = tags.sort((a, b) => Number(b.slice(1)) - Number(a.slice(1)));
    const digests = await Promise.all(sorted.map((t) => limit(async () => (await req('HEAD', `/v2/${repo}/manifests/${t}`)).headers.get('docker-content-digest')!)));
    await Promise.all(
      digests.slice(KEEP).map((d) =>
        limit(async () => {
          await req('DELETE', `/v2/${repo}/manifests/${d}`);
          removed();
        }),
      ),
    );
  }
}

interface Row {
  what: string;
  apiSeconds: number;
  apiRequests: string;
  oursSeconds: number;
  oursRequests: string;
  kinds?: string;
}

interface Side {
  store: string[];
  storage: RegistryStorage;
  env?: NodeJS.ProcessEnv;
}

/**
 * du, then prune, each side on its own copy of the store: du only reads, so the prune that
 * follows starts from the same state on both sides (two fixtures instead of four).
 */
async function compareBoth(theirs: Side, ours: Side, repos: number, counter?: { reset(): void; total(): number; counts(): Record<string, number> }): Promise<Row[]> {
  const rows: Row[] = [];
  for (const what of ['du', 'prune'] as const) {
    const reg = await startRegistry({ storage: theirs.storage });
    let api: ApiRun | undefined;
    counter?.reset();
    let apiSeconds: number;
    try {
      apiSeconds = await timeIt(async () => (api = await apiScript(reg.host, what, repos)));
    } finally {
      await reg.stop();
    }
    const apiStorage = counter?.total();
    const args = what === 'prune' ? ['--json', 'prune', '--keep-last', String(KEEP), '--untagged-older-than', '0'] : ['--json', 'du'];
    counter?.reset();
    let out = '';
    const oursSeconds = await timeIt(async () => (out = await cli([...ours.store, ...args], ours.env)));
    if (what === 'prune') {
      const done = (JSON.parse(out) as { done: { deleted: number } }).done.deleted;
      if (!api!.cut && done !== api!.removed) throw new Error(`prune deleted ${done} manifests, the API script ${api!.removed}`);
    }
    const cut = api!.cut;
    if (cut) apiSeconds = cut.extrapolated;
    console.error(`${what}: API ${fmt(apiSeconds)} s${cut ? ' (extrapolated)' : ''}, regbucket ${fmt(oursSeconds)} s`);
    rows.push({
      what,
      apiSeconds,
      apiRequests: `${api!.requests}${apiStorage !== undefined ? ` HTTP + ${apiStorage} S3` : ' HTTP'}${
        cut
          ? ` in ${fmt(cut.after)} s, cut short by BENCH_API_TIMEOUT with ${cut.reposDone} of ${cut.repos} repositories done (${api!.removed} DELETEs); seconds extrapolated x ${fmt(cut.repos / cut.reposDone, 1)}`
          : ''
      }`,
      oursSeconds,
      oursRequests: counter ? `${counter.total()} S3` : '0 (local files)',
      kinds: counter
        ? Object.entries(counter.counts())
            .map(([k, n]) => `${k} ${n}`)
            .join(', ')
        : undefined,
    });
  }
  return rows;
}

function table(title: string, rows: Row[]): string[] {
  return [
    title,
    '',
    '| command | API script: seconds / requests | regbucket: seconds / requests | faster | regbucket requests by kind |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.what} | ${fmt(r.apiSeconds)} / ${r.apiRequests} | ${fmt(r.oursSeconds)} / ${r.oursRequests} | ${fmt(r.apiSeconds / r.oursSeconds, 1)}x | ${r.kinds ?? '-'} |`),
  ];
}

async function fsBench(): Promise<string[]> {
  const repos = Number(process.env.BENCH_REPOS ?? 1000);
  const dirs: string[] = [];
  const fresh = async (side: string): Promise<Side> => {
    const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'prune-bench-'));
    dirs.push(dir);
    const t0 = Date.now();
    const { files } = await writeStore(shape(repos), directoryPut(dir));
    console.error(`${side}: wrote ${files} files in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    return { store: ['--store', dir], storage: { filesystem: dir } };
  };
  try {
    const rows = await compareBoth(await fresh('api'), await fresh('ours'), repos);
    return table(`### filesystem: ${repos.toLocaleString('en')} repositories x ${TAGS} tags, keep ${KEEP} (${machine()})`, rows);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

async function s3Bench(): Promise<string[]> {
  const repos = Number(process.env.BENCH_S3_REPOS ?? 1000);
  const { startSwift, createBucket, swiftEnv, SWIFT_CREDENTIALS } = await import('../test/lab/swift.js');
  const { startProxy } = await import('../test/lab/proxy.js');
  const { openDriver } = await import('../src/drivers/open.js');
  const swift = await startSwift();
  const proxy = await startProxy({ target: swift.endpoint, latencyMs: Number(process.env.BENCH_LATENCY ?? 20) });
  const env = swiftEnv(swift.endpoint);
  Object.assign(process.env, env);
  try {
    let n = 0;
    const fresh = async (side: string): Promise<Side> => {
      const bucket = `prunebench${process.pid}x${++n}`;
      await createBucket(swift.endpoint, bucket);
      const d = openDriver(`s3://${bucket}/store`, { s3Endpoint: swift.endpoint, s3Region: SWIFT_CREDENTIALS.region });
      const limit = pLimit(32);
      const pending: Promise<void>[] = [];
      const put: Put = (path, data) => {
        pending.push(limit(() => d.putContent(path, data)));
        return Promise.resolve();
      };
      const t0 = Date.now();
      await writeStore(shape(repos), put);
      await Promise.all(pending);
      await d.close();
      console.error(`${side}: wrote ${pending.length} objects in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      return {
        store: ['--store', `s3://${bucket}/store`, '--s3-endpoint', proxy.url, '--concurrency', '32'],
        storage: { s3: { endpoint: proxy.url, bucket, rootdirectory: '/store', ...SWIFT_CREDENTIALS } },
        env,
      };
    };
    const rows = await compareBoth(await fresh('api'), await fresh('ours'), repos, proxy);
    return table(`### S3 (Swift behind the proxy, ${proxy.latencyMs} ms added a request): ${repos.toLocaleString('en')} repositories x ${TAGS} tags, keep ${KEEP}`, rows);
  } finally {
    await proxy.stop();
    await swift.stop();
  }
}

async function main(): Promise<void> {
  const which = process.argv[2] ?? 'all';
  const lines: string[] = [];
  if (which === 'fs' || which === 'all') lines.push(...(await fsBench()), '');
  if (which === 's3' || which === 'all') lines.push(...(await s3Bench()));
  console.log(lines.join('\n'));
}

await main();
