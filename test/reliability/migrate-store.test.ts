// Issue 15's whole-store migration on real parts: a store of 100 repositories (tiny layers, two
// shared by all) copied filesystem to S3 (Swift); registry 2.8.2 with its s3 driver on that bucket
// serves every tag with the source's digest. A run killed with SIGKILL in the middle (after a
// seeded number of object writes, counted by a proxy) and started again ends with the same objects,
// key for key and byte for byte (ETags), as an uncut copy, and writes less than a copy from scratch.
// Then S3 to S3 (a second bucket). Seeded: REGBUCKET_SEED replays a run.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, regbucketOk } from '../lab/cli.js';
import { digestOf, LayoutWriter, makeLayerTar } from '../lab/images.js';
import { startProxy, type RunningProxy } from '../lab/proxy.js';
import { startRegistry } from '../lab/registry.js';
import { freshS3Store, type S3TestStore } from '../lab/swift.js';
import { skopeoCopy, skopeoInspectRaw, tempDir } from '../lab/tools.js';
import { prng, runSeed } from './harness.js';

// A bound for a hung run: three whole-store copies into Swift took 206-398 s at load 13-23 and
// over 600 s beside four other test and bench jobs (load 24-28) on 2 cores.
const SLOW = 1_200_000;
const REPOS = 100;
const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** app/r00..r99: v1 each (every 10th a two-platform index), v2 on every 10th; all share two layers. Pushed by one sync. */
async function hundredRepoStore(store: string): Promise<Map<string, string>> {
  const dir = tempDir('regbucket-migrate-layout-');
  const w = new LayoutWriter(join(dir, 'layout'));
  const shared = [await makeLayerTar(2048), await makeLayerTar(1024)];
  const tags = new Map<string, string>();
  const lines: string[] = [];
  const add = async (repo: string, tag: string, platforms?: string[]): Promise<void> => {
    const ref = `${repo.replace('/', '-')}-${tag}`;
    const root = await w.image({ ref, layers: 1, layerSize: 256, sharedLayers: shared, platforms });
    tags.set(`${repo}:${tag}`, root.digest);
    lines.push(`oci:${join(dir, 'layout')}:${ref} ${repo}:${tag}`);
  };
  for (let i = 0; i < REPOS; i++) {
    const repo = `app/r${String(i).padStart(2, '0')}`;
    await add(repo, 'v1', i % 10 === 0 ? ['linux/amd64', 'linux/arm64'] : undefined);
    if (i % 10 === 6) await add(repo, 'v2');
  }
  w.write();
  writeFileSync(join(dir, 'list.txt'), lines.join('\n') + '\n');
  await regbucketOk(['--store', store, '-q', 'sync', '--jobs', '8', join(dir, 'list.txt')]);
  return tags;
}

/** Every object of the store's prefix: key (below the prefix) -> size and ETag. */
async function objectsOf(s3: S3TestStore): Promise<Map<string, string>> {
  const d = s3.driver();
  const out = new Map<string, string>();
  try {
    for await (const f of d.walk('/')) if (!f.isDir) out.set(f.path, `${f.size} ${f.etag}`);
  } finally {
    await d.close();
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

const writesOf = (p: RunningProxy): number => Object.entries(p.counts()).reduce((n, [k, v]) => (/^(GET|HEAD) /.test(k) ? n : n + v), 0);

/** Runs the CLI and SIGKILLs it once the proxy has seen `afterWrites` write requests (or lets it finish). */
function runKilledAfterWrites(args: string[], env: Record<string, string>, proxy: RunningProxy, afterWrites: number): Promise<{ killed: boolean; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, CI: 'true', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    let killed = false;
    const poll = setInterval(() => {
      if (!killed && writesOf(proxy) >= afterWrites) killed = child.kill('SIGKILL');
    }, 2);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      resolve({ killed: killed && signal === 'SIGKILL', code, stderr });
    });
  });
}

/** The digest registry 2.8.2 serves for each tag, asked over the Registry API (HEAD, 8 at a time). */
async function servedDigests(host: string, tags: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const queue = [...tags];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let t = queue.shift(); t; t = queue.shift()) {
        const i = t.lastIndexOf(':');
        const r = await fetch(`http://${host}/v2/${t.slice(0, i)}/manifests/${t.slice(i + 1)}`, { method: 'HEAD', headers: { Accept: ACCEPT } });
        out.set(t, r.status === 200 ? (r.headers.get('docker-content-digest') ?? 'no digest header') : `HTTP ${r.status}`);
      }
    }),
  );
  return out;
}

describe('whole-store migration of 100 repositories, filesystem to S3 and on', () => {
  let src: string;
  let tags: Map<string, string>;
  let proxy: RunningProxy | undefined;

  beforeAll(async () => {
    src = tempDir('regbucket-migrate-src-');
    tags = await hundredRepoStore(src);
  }, SLOW);
  afterAll(async () => proxy?.stop());

  it(
    'the registry serves every tag of the copy; a run killed half-way and resumed ends identical to an uncut copy, with fewer writes',
    async () => {
      const seed = runSeed('migrate-store');
      const uncut = await freshS3Store({ prefix: 'reg', tag: 'migrate-uncut' });
      proxy = await startProxy({ target: uncut.endpoint });
      const copy = (to: S3TestStore, extra: string[] = []): string[] => ['--store', src, '--s3-endpoint', proxy!.url, ...extra, 'copy', '--all-repositories', to.url];

      const first = await regbucketOk(copy(uncut, ['--json']), uncut.env);
      const full = writesOf(proxy);
      expect(first.json<{ images: unknown[] }>().images).toHaveLength(tags.size);
      const want = await objectsOf(uncut);

      const registry = await startRegistry({ storage: { s3: { endpoint: uncut.endpoint, bucket: uncut.bucket, rootdirectory: '/reg', ...uncut.credentials } } });
      try {
        expect(Object.fromEntries(await servedDigests(registry.host, [...tags.keys()]))).toEqual(Object.fromEntries(tags));
        // A sample pulled whole with skopeo: a two-platform index and two single images.
        for (const t of ['app/r00:v1', 'app/r41:v1', 'app/r96:v2']) {
          const out = join(tempDir('regbucket-migrate-pull-'), 'oci');
          await skopeoCopy(`docker://${registry.host}/${t}`, `oci:${out}:x`, ['--all']);
          expect(digestOf(await skopeoInspectRaw(`oci:${out}:x`)), t).toBe(tags.get(t));
        }
      } finally {
        await registry.stop();
      }

      // Killed after 30-70% of an uncut run's writes, then started again.
      const cut = await freshS3Store({ prefix: 'reg', tag: 'migrate-cut' });
      const at = Math.floor(full * (0.3 + 0.4 * prng(seed)()));
      proxy.reset();
      const killed = await runKilledAfterWrites(copy(cut), uncut.env, proxy, at);
      expect(killed, `seed ${seed}: the run finished before ${at} writes: ${killed.stderr}`).toMatchObject({ killed: true });
      const beforeResume = writesOf(proxy);
      proxy.reset();
      await regbucketOk(copy(cut), uncut.env);
      const resumed = writesOf(proxy);
      expect(Object.fromEntries(await objectsOf(cut)), `seed ${seed}, killed after ${beforeResume} writes`).toEqual(Object.fromEntries(want));
      expect(resumed).toBeLessThan(full);
      console.log(
        `[migrate-store] ${tags.size} tags in ${REPOS} repositories, ${want.size} objects; uncut copy ${full} write requests; ` +
          `seed ${seed}: killed after ${beforeResume} writes, the resumed run made ${resumed} (${JSON.stringify(proxy.counts())})`,
      );

      // S3 to S3, into another bucket: the same objects (S3 back to a directory: copy-all.test.ts).
      const other = await freshS3Store({ prefix: 'reg', tag: 'migrate-s3s3' });
      await regbucketOk(['--store', uncut.url, '--s3-endpoint', uncut.endpoint, 'copy', '--all-repositories', other.url], uncut.env);
      expect(Object.fromEntries(await objectsOf(other))).toEqual(Object.fromEntries(want));
    },
    SLOW,
  );
});
