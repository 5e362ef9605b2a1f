// Twin stores: the same tag and delete-by-digest sequence made by regbucket on one store and
// through the real registry's HTTP API (docker-registry 2.8.2) on a copy of it ends with the same
// files and link contents, and the registry serving either answers tags/list and manifest GETs
// identically. Untag (no HTTP API in 2.8: DELETE by tag answers 400) is checked against the layout
// rule and the registry's tags/list.
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { makeLayout, makeLayerTar, type Blob } from '../lab/images.js';
import { startRegistry, type RunningRegistry } from '../lab/registry.js';
import { tempDir } from '../lab/tools.js';
import { fileTree } from './tree.js';

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');
const V2 = 'docker/registry/v2';

let work: string;
let ours: string; // regbucket's store
let twin: string; // the registry's copy
let registry: RunningRegistry | undefined;
let manifests: Map<string, Blob>; // every manifest the layout holds, by digest
let single: Blob, multi: Blob, shared: Blob, dock: Blob;
let children: Blob[];

async function http(method: string, host: string, path: string, body?: Buffer, contentType?: string): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const r = await fetch(`http://${host}${path}`, {
    method,
    headers: { Accept: ACCEPT, ...(contentType ? { 'Content-Type': contentType } : {}) },
    body: body ? new Uint8Array(body) : undefined,
  });
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()), headers: r.headers };
}

type Step = { op: 'tag'; repo: string; source: string; digest: string; tags: string[]; refused?: boolean } | { op: 'delete'; repo: string; digest: string; force?: boolean };

/** Runs one step with regbucket on `ours` and through the registry's HTTP API on `twin`. */
async function both(step: Step): Promise<void> {
  const host = registry!.host;
  if (step.op === 'tag') {
    const ran = await regbucket(['--store', ours, 'tag', step.source, ...step.tags]);
    expect(ran.code, ran.stderr).toBe(step.refused ? 1 : 0);
    const m = manifests.get(step.digest)!;
    for (const t of step.tags) {
      const r = await http('PUT', host, `/v2/${step.repo}/manifests/${t}`, m.bytes, m.mediaType);
      expect(r.status, `PUT ${step.repo}:${t}: ${r.body.toString()}`).toBe(step.refused ? 400 : 201);
    }
  } else {
    await regbucketOk(['--store', ours, 'delete', ...(step.force ? ['--force'] : []), `${step.repo}@${step.digest}`]);
    const r = await http('DELETE', host, `/v2/${step.repo}/manifests/${step.digest}`);
    expect(r.status, `DELETE ${step.repo}@${step.digest}: ${r.body.toString()}`).toBe(202);
  }
}

interface Answers {
  tags: Record<string, unknown>;
  manifests: Record<string, { status: number; type: string | null; digest: string | null; body: string }>;
}

/** What a registry serving `store` answers for every repository's tags and every manifest. */
async function answers(store: string, repos: string[]): Promise<Answers> {
  const reg = await startRegistry({ storage: { filesystem: store } });
  try {
    const out: Answers = { tags: {}, manifests: {} };
    for (const repo of repos) {
      const t = await http('GET', reg.host, `/v2/${repo}/tags/list`);
      const list = t.status === 200 ? (JSON.parse(t.body.toString()) as { tags: string[] | null }) : null;
      out.tags[repo] = { status: t.status, tags: list?.tags ? [...list.tags].sort() : null };
      const refs = [...(list?.tags ?? []), ...manifests.keys()];
      for (const ref of refs) {
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
  work = tempDir('regbucket-twin-');
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
  ours = join(work, 'ours');
  for (const [ref, dest] of [
    ['single', 'app:single'],
    ['multi', 'app:multi'],
    ['shared', 'app:shared'],
    ['dock', 'team/x/nested:dock'],
    ['multi', 'team/x/nested:multi'],
  ]) {
    await regbucketOk(['--store', ours, 'push', `oci:${layout}:${ref}`, dest!]);
  }
  twin = join(work, 'twin');
  cpSync(ours, twin, { recursive: true });
  registry = await startRegistry({ storage: { filesystem: twin } });
});

afterAll(async () => {
  await registry?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('twin stores: regbucket and the registry make the same changes', () => {
  it('tag and delete by digest leave the same files and link contents', async () => {
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
    const a = fileTree(ours);
    const b = fileTree(twin);
    expect([...a.keys()]).toEqual([...b.keys()]);
    expect(a).toEqual(b);
    // The sequence did what it says (so equality is not two unchanged trees).
    const app = `${V2}/repositories/app/_manifests`;
    expect(a.has(`${app}/tags/v1/index/sha256/${single.digest.slice(7)}/link`)).toBe(true);
    expect(readFileSync(join(ours, app, 'tags/v1/current/link'), 'utf8')).toBe(multi.digest);
    for (const gone of ['single', 'v2', 'shared']) expect(existsSync(join(ours, app, 'tags', gone))).toBe(false);
    expect(a.has(`${app}/revisions/sha256/${single.digest.slice(7)}/link`)).toBe(false);
    expect(a.has(`${V2}/repositories/team/x/nested/_manifests/tags/multi/current/link`)).toBe(true);
  });

  it('the registry serving either store answers tags/list and manifest GETs identically', async () => {
    const repos = ['app', 'team/x/nested'];
    const [a, b] = [await answers(ours, repos), await answers(twin, repos)];
    expect(a).toEqual(b);
    expect(a.tags.app).toEqual({ status: 200, tags: ['latest', 'multi', 'v1'] });
    expect(a.manifests[`app ${single.digest}`]!.status).toBe(404);
    expect(a.manifests[`app ${children[0]!.digest}`]!.status).toBe(404);
    expect(a.manifests[`app ${children[1]!.digest}`]!.status).toBe(200);
    expect(a.manifests['app latest']).toMatchObject({ status: 200, digest: multi.digest, type: multi.mediaType, body: multi.bytes.toString('base64') });
  });

  it('untag removes the whole tag directory; the registry stops listing the tag and still serves the manifest', async () => {
    const before = fileTree(ours);
    await regbucketOk(['--store', ours, 'delete', 'app:v1']);
    const after = fileTree(ours);
    const tagDir = `${V2}/repositories/app/_manifests/tags/v1/`;
    expect([...before.keys()].filter((p) => !after.has(p))).toEqual([...before.keys()].filter((p) => p.startsWith(tagDir)));
    expect([...after.keys()].filter((p) => !before.has(p))).toEqual([]);
    expect(existsSync(join(ours, tagDir))).toBe(false);
    const reg = await startRegistry({ storage: { filesystem: ours } });
    try {
      const tags = JSON.parse((await http('GET', reg.host, '/v2/app/tags/list')).body.toString()) as { tags: string[] };
      expect(tags.tags.sort()).toEqual(['latest', 'multi']);
      expect((await http('GET', reg.host, `/v2/app/manifests/${multi.digest}`)).status).toBe(200);
      expect((await http('GET', reg.host, '/v2/app/manifests/v1')).status).toBe(404);
    } finally {
      await reg.stop();
    }
  });

  it("the registry 2.8 has no untag: DELETE by tag answers 400 and changes nothing", async () => {
    const before = fileTree(twin);
    const reg = await startRegistry({ storage: { filesystem: twin } });
    try {
      const r = await http('DELETE', reg.host, '/v2/app/manifests/v1');
      expect(r.status).toBe(400);
      expect(r.body.toString()).toContain('DIGEST_INVALID');
    } finally {
      await reg.stop();
    }
    expect(fileTree(twin)).toEqual(before);
  });
});
