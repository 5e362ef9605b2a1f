// Twin stores: the same tag and delete-by-digest sequence made by regbucket on one store and
// through the real registry's HTTP API (docker-registry 2.8.2) on a copy of it ends with the same
// files and link contents, and the registry serving either answers tags/list and manifest GETs
// identically. Untag (no HTTP API in 2.8: DELETE by tag answers 400) is checked against the layout
// rule and the registry's tags/list. On a directory and on S3 (Swift), the registry using its own
// filesystem and s3 drivers.
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { makeLayout, makeLayerTar, type Blob } from '../lab/images.js';
import { startRegistry, type RegistryStorage, type RunningRegistry } from '../lab/registry.js';
import { freshS3Store } from '../lab/swift.js';
import { tempDir } from '../lab/tools.js';
import { fileTree } from './tree.js';
import { MANIFEST_ACCEPT } from '../../src/image/mediatypes.js';

const ACCEPT = MANIFEST_ACCEPT;
const V2 = 'docker/registry/v2';

/** A store on one backend, as the CLI, the registry and a comparison see it. */
interface TwinStore {
  args: string[];
  env: Record<string, string>;
  storage: RegistryStorage;
  /** Relative key -> content hash, `_uploads` and empty directories aside. */
  tree(): Promise<Map<string, string>>;
}

interface Backend {
  name: string;
  /** The store regbucket pushed into, and a copy of it made after the pushes. */
  make(push: (s: TwinStore) => Promise<void>): Promise<[TwinStore, TwinStore]>;
  cleanup(): void;
}

const fsDirs: string[] = [];
function fsStore(dir: string): TwinStore {
  return { args: ['--store', dir], env: {}, storage: { filesystem: dir }, tree: async () => fileTree(dir) };
}

const BACKENDS: Backend[] = [
  {
    name: 'filesystem',
    async make(push) {
      const work = tempDir('regbucket-twin-');
      fsDirs.push(work);
      const ours = fsStore(join(work, 'ours'));
      await push(ours);
      cpSync(join(work, 'ours'), join(work, 'twin'), { recursive: true });
      return [ours, fsStore(join(work, 'twin'))];
    },
    cleanup() {
      for (const d of fsDirs) rmSync(d, { recursive: true, force: true });
    },
  },
  {
    name: 's3',
    async make(push) {
      // The same pushes into two buckets give the same objects (regbucket writes deterministically).
      const stores = await Promise.all([freshS3Store({ prefix: 'store', tag: 'twin' }), freshS3Store({ prefix: 'store', tag: 'twin' })]);
      const twins = stores.map((s): TwinStore => ({
        args: s.args,
        env: s.env,
        storage: { s3: { endpoint: s.endpoint, bucket: s.bucket, rootdirectory: '/store', ...s.credentials } },
        async tree() {
          const d = s.driver();
          try {
            const out = new Map<string, string>();
            for await (const f of d.walk('/')) {
              if (f.path.includes('/_uploads/')) continue;
              out.set(f.path.slice(1), (await d.getContent(f.path)).toString('base64'));
            }
            return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
          } finally {
            await d.close();
          }
        },
      }));
      for (const t of twins) await push(t);
      return twins as [TwinStore, TwinStore];
    },
    cleanup() {},
  },
];

async function http(method: string, host: string, path: string, body?: Buffer, contentType?: string): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const r = await fetch(`http://${host}${path}`, {
    method,
    headers: { Accept: ACCEPT, ...(contentType ? { 'Content-Type': contentType } : {}) },
    body: body ? new Uint8Array(body) : undefined,
  });
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()), headers: r.headers };
}

// Ten steps, each a CLI process and an HTTP call, then two store walks: on S3 at load 24 on 2 cores
// this took over 60 s (CI), and a step still running after a timeout corrupts the next tests' trees.
const STEPS_TIMEOUT = 300_000;
const TEST_TIMEOUT = 180_000;

type Step = { op: 'tag'; repo: string; source: string; digest: string; tags: string[]; refused?: boolean } | { op: 'delete'; repo: string; digest: string; force?: boolean };

describe.each(BACKENDS)('twin stores on $name: regbucket and the registry make the same changes', (backend) => {
  let ours: TwinStore; // regbucket's store
  let twin: TwinStore; // the registry's copy
  let registry: RunningRegistry | undefined;
  let manifests: Map<string, Blob>; // every manifest the layout holds, by digest
  let single: Blob, multi: Blob, shared: Blob, dock: Blob;
  let children: Blob[];

  const cli = (s: TwinStore, args: string[]) => regbucket([...s.args, ...args], s.env);
  const cliOk = (s: TwinStore, args: string[]) => regbucketOk([...s.args, ...args], s.env);

  /** Runs one step with regbucket on `ours` and through the registry's HTTP API on `twin`. */
  async function both(step: Step): Promise<void> {
    const host = registry!.host;
    if (step.op === 'tag') {
      const ran = await cli(ours, ['tag', step.source, ...step.tags]);
      expect(ran.code, ran.stderr).toBe(step.refused ? 1 : 0);
      const m = manifests.get(step.digest)!;
      for (const t of step.tags) {
        const r = await http('PUT', host, `/v2/${step.repo}/manifests/${t}`, m.bytes, m.mediaType);
        expect(r.status, `PUT ${step.repo}:${t}: ${r.body.toString()}`).toBe(step.refused ? 400 : 201);
      }
    } else {
      await cliOk(ours, ['delete', ...(step.force ? ['--force'] : []), `${step.repo}@${step.digest}`]);
      const r = await http('DELETE', host, `/v2/${step.repo}/manifests/${step.digest}`);
      expect(r.status, `DELETE ${step.repo}@${step.digest}: ${r.body.toString()}`).toBe(202);
    }
  }

  interface Answers {
    tags: Record<string, unknown>;
    manifests: Record<string, { status: number; type: string | null; digest: string | null; body: string }>;
  }

  /** What a registry serving `store` answers for every repository's tags and every manifest. */
  async function answers(store: TwinStore, repos: string[]): Promise<Answers> {
    const reg = await startRegistry({ storage: store.storage });
    try {
      const out: Answers = { tags: {}, manifests: {} };
      for (const repo of repos) {
        const t = await http('GET', reg.host, `/v2/${repo}/tags/list`);
        const list = t.status === 200 ? (JSON.parse(t.body.toString()) as { tags: string[] | null }) : null;
        out.tags[repo] = { status: t.status, tags: list?.tags ? [...list.tags].sort() : null };
        for (const ref of [...(list?.tags ?? []), ...manifests.keys()]) {
          const m = await http('GET', reg.host, `/v2/${repo}/manifests/${ref}`);
          out.manifests[`${repo} ${ref}`] = {
            status: m.status,
            type: m.status === 200 ? m.headers.get('content-type') : null,
            digest: m.status === 200 ? m.headers.get('docker-content-digest') : null,
            body: m.status === 200 ? m.body.toString('base64') : '',
          };
        }
      }
      return out;
    } finally {
      await reg.stop();
    }
  }

  beforeAll(async () => {
    const work = tempDir('regbucket-twin-layout-');
    fsDirs.push(work);
    const layout = join(work, 'layout');
    const s = await makeLayerTar(4096);
    const { roots, writer } = await makeLayout(layout, [
      { ref: 'single', sharedLayers: [s], layers: 1 },
      { ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 1 },
      { ref: 'shared', sharedLayers: [s], layers: 1 },
      { ref: 'dock', docker: true, layers: 2 },
    ]);
    [single, multi, shared, dock] = roots as [Blob, Blob, Blob, Blob];
    manifests = new Map([...writer.blobs.values()].filter((b) => b.mediaType.includes('manifest') || b.mediaType.includes('index')).map((b) => [b.digest, b]));
    children = (JSON.parse(multi.bytes.toString()) as { manifests: { digest: string }[] }).manifests.map((c) => manifests.get(c.digest)!);
    [ours, twin] = await backend.make(async (store) => {
      for (const [ref, dest] of [
        ['single', 'app:single'],
        ['multi', 'app:multi'],
        ['shared', 'app:shared'],
        ['dock', 'team/x/nested:dock'],
        ['multi', 'team/x/nested:multi'],
        ['multi', 'team/x/nested:multi-2'], // a sibling whose name extends another tag's (S3 prefix deletes)
      ]) {
        await cliOk(store, ['push', `oci:${layout}:${ref}`, dest!]);
      }
    });
    expect(await ours.tree()).toEqual(await twin.tree());
    registry = await startRegistry({ storage: twin.storage });
  });

  afterAll(async () => {
    await registry?.stop();
    backend.cleanup();
  });

  it(
    'tag and delete by digest leave the same files and link contents',
    async () => {
      const steps: Step[] = [
        { op: 'tag', repo: 'app', source: 'app:single', digest: single.digest, tags: ['v1', 'v2'] },
        { op: 'tag', repo: 'app', source: `app@${multi.digest}`, digest: multi.digest, tags: ['latest'] },
        { op: 'tag', repo: 'app', source: 'app:multi', digest: multi.digest, tags: ['v1'] }, // moves v1: two history entries
        { op: 'delete', repo: 'app', digest: single.digest }, // untags single and v2; v1 keeps its history entry
        { op: 'tag', repo: 'app', source: 'app:latest', digest: multi.digest, tags: ['latest'] }, // same again: no change
        { op: 'delete', repo: 'app', digest: children[0]!.digest, force: true }, // the registry does not refuse
        // The index lost a child: the registry's PUT by tag refuses it (MANIFEST_BLOB_UNKNOWN), so does tag.
        { op: 'tag', repo: 'app', source: 'app:latest', digest: multi.digest, tags: ['broken'], refused: true },
        { op: 'tag', repo: 'team/x/nested', source: 'team/x/nested:dock', digest: dock.digest, tags: ['1.0', 'stable'] },
        { op: 'delete', repo: 'team/x/nested', digest: dock.digest },
        { op: 'delete', repo: 'app', digest: shared.digest },
      ];
      for (const step of steps) await both(step);
      await registry!.stop();
      registry = undefined;
      const a = await ours.tree();
      const b = await twin.tree();
      expect([...a.keys()]).toEqual([...b.keys()]);
      expect(a).toEqual(b);
      // The sequence did what it says (so equality is not two unchanged trees).
      const app = `${V2}/repositories/app/_manifests`;
      expect(a.has(`${app}/tags/v1/index/sha256/${single.digest.slice(7)}/link`)).toBe(true);
      expect(a.has(`${app}/tags/v1/current/link`)).toBe(true);
      for (const gone of ['single', 'v2', 'shared']) expect([...a.keys()].some((k) => k.startsWith(`${app}/tags/${gone}/`))).toBe(false);
      expect(a.has(`${app}/revisions/sha256/${single.digest.slice(7)}/link`)).toBe(false);
      expect(a.has(`${V2}/repositories/team/x/nested/_manifests/tags/multi/current/link`)).toBe(true);
    },
    STEPS_TIMEOUT,
  );

  it(
    'the registry serving either store answers tags/list and manifest GETs identically',
    async () => {
      const repos = ['app', 'team/x/nested'];
      const [a, b] = [await answers(ours, repos), await answers(twin, repos)];
      expect(a).toEqual(b);
      expect(a.tags.app).toEqual({ status: 200, tags: ['latest', 'multi', 'v1'] });
      expect(a.manifests[`app ${single.digest}`]!.status).toBe(404);
      expect(a.manifests[`app ${children[0]!.digest}`]!.status).toBe(404);
      expect(a.manifests[`app ${children[1]!.digest}`]!.status).toBe(200);
      expect(a.manifests['app latest']).toMatchObject({ status: 200, digest: multi.digest, type: multi.mediaType, body: multi.bytes.toString('base64') });
      // ls (flat listings on S3) says what the registry says: the same tags, each at the digest the registry serves.
      const listed = (await cliOk(ours, ['--json', 'ls', '--all'])).json<{ repositories: { name: string; tags: { tag: string; digest: string; mediaType: string }[] }[] }>();
      expect(listed.repositories.map((r) => r.name)).toEqual(repos);
      for (const r of listed.repositories) {
        expect({ status: 200, tags: r.tags.map((t) => t.tag) }).toEqual(a.tags[r.name]);
        for (const t of r.tags) expect([t.digest, t.mediaType]).toEqual([a.manifests[`${r.name} ${t.tag}`]!.digest, a.manifests[`${r.name} ${t.tag}`]!.type]);
      }
      expect((await cliOk(ours, ['--json', 'ls'])).json()).toEqual({
        repositories: [
          { name: 'app', tagCount: 3 },
          { name: 'team/x/nested', tagCount: 2 },
        ],
      });
    },
    TEST_TIMEOUT,
  );

  it(
    'untag removes the whole tag directory, not a sibling; the registry stops listing the tag and still serves the manifest',
    async () => {
      const before = await ours.tree();
      await cliOk(ours, ['delete', 'app:v1', 'team/x/nested:multi']);
      const after = await ours.tree();
      const gone = [`${V2}/repositories/app/_manifests/tags/v1/`, `${V2}/repositories/team/x/nested/_manifests/tags/multi/`];
      expect([...before.keys()].filter((p) => !after.has(p))).toEqual([...before.keys()].filter((p) => gone.some((g) => p.startsWith(g))));
      expect([...after.keys()].filter((p) => !before.has(p))).toEqual([]);
      expect(after.has(`${V2}/repositories/team/x/nested/_manifests/tags/multi-2/current/link`)).toBe(true);
      const reg = await startRegistry({ storage: ours.storage });
      try {
        const tags = JSON.parse((await http('GET', reg.host, '/v2/app/tags/list')).body.toString()) as { tags: string[] };
        expect(tags.tags.sort()).toEqual(['latest', 'multi']);
        const nested = JSON.parse((await http('GET', reg.host, '/v2/team/x/nested/tags/list')).body.toString()) as { tags: string[] };
        expect(nested.tags.sort()).toEqual(['multi-2']);
        expect((await http('GET', reg.host, `/v2/app/manifests/${multi.digest}`)).status).toBe(200);
        expect((await http('GET', reg.host, '/v2/app/manifests/v1')).status).toBe(404);
      } finally {
        await reg.stop();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'the registry 2.8 has no untag: DELETE by tag answers 400 and changes nothing',
    async () => {
      const before = await twin.tree();
      const reg = await startRegistry({ storage: twin.storage });
      try {
        const r = await http('DELETE', reg.host, '/v2/app/manifests/v1');
        expect(r.status).toBe(400);
        expect(r.body.toString()).toContain('DIGEST_INVALID');
      } finally {
        await reg.stop();
      }
      expect(await twin.tree()).toEqual(before);
    },
    TEST_TIMEOUT,
  );
});
