// verify on a store the real registry wrote (pushed through skopeo): clean as written, and every
// injected fault is found and named; --fix repairs what it says and nothing else.
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket, type CliResult } from '../lab/cli.js';
import { makeLayout, type Blob } from '../lab/images.js';
import { startRegistry } from '../lab/registry.js';
import { skopeoCopy, tempDir } from '../lab/tools.js';

interface Finding {
  kind: string;
  severity: 'problem' | 'warning';
  path: string;
  repo?: string;
  tag?: string;
  digest?: string;
  manifest?: string;
  usedBy?: string[];
  repaired?: string;
}
interface Report {
  clean: boolean;
  problems: number;
  warnings: number;
  blobs: number;
  blobsHashed: number;
  findings: Finding[];
  repairs?: { action: string; path: string }[];
}

const V2 = '/docker/registry/v2';
const hex = (d: string): string => d.slice(7);
const blobData = (d: string): string => `${V2}/blobs/sha256/${hex(d).slice(0, 2)}/${hex(d)}/data`;
const repoPath = (repo: string, rest: string): string => `${V2}/repositories/${repo}/${rest}`;

let pristine: string;
let single: { manifest: Blob; config: Blob; layers: Blob[] };
let multi: { index: Blob; children: Blob[] };

function manifestJson(b: Blob): { config: { digest: string }; layers: { digest: string }[]; manifests: { digest: string }[] } {
  return JSON.parse(b.bytes.toString('utf8'));
}

const copies: string[] = [];

/** A private copy of the registry-written store for one fault. */
function copyStore(): string {
  const parent = tempDir('regbucket-verify-');
  copies.push(parent);
  const dir = join(parent, 'store');
  cpSync(pristine, dir, { recursive: true });
  return dir;
}

const onDisk = (store: string, p: string): string => join(store, p);

async function verify(store: string, ...flags: string[]): Promise<{ r: CliResult; report: Report }> {
  const r = await regbucket(['--store', store, '--json', 'verify', ...flags]);
  return { r, report: r.code === 0 || r.code === 3 ? r.json<Report>() : ({} as Report) };
}

function only(report: Report, kind: string): Finding[] {
  return report.findings.filter((f) => f.kind === kind);
}

function files(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) visit(join(d, e.name));
      else out.push(join(d, e.name));
    }
  };
  if (existsSync(dir)) visit(dir);
  return out.sort();
}

beforeAll(async () => {
  pristine = tempDir('regbucket-verify-pristine-');
  const layout = join(tempDir(), 'layout');
  const { roots, writer } = await makeLayout(layout, [
    { ref: 'one', layers: 3, layerSize: 64 * 1024 },
    { ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 2 },
  ]);
  const blob = (d: string): Blob => writer.blobs.get(d)!;
  const m = manifestJson(roots[0]!);
  single = { manifest: roots[0]!, config: blob(m.config.digest), layers: m.layers.map((l) => blob(l.digest)) };
  multi = { index: roots[1]!, children: manifestJson(roots[1]!).manifests.map((c) => blob(c.digest)) };
  const registry = await startRegistry({ storage: { filesystem: pristine } });
  try {
    await skopeoCopy(`oci:${layout}:one`, `docker://${registry.host}/team/app:one`);
    await skopeoCopy(`oci:${layout}:multi`, `docker://${registry.host}/team/multi:v2`, ['--all']);
  } finally {
    await registry.stop();
  }
}, 300_000);

afterAll(() => {
  for (const d of [pristine, ...copies]) if (d) rmSync(d, { recursive: true, force: true });
});

describe('verify on a store the registry wrote', () => {
  it('is clean, hashing every blob, and clean without hashing', async () => {
    const { r, report } = await verify(pristine);
    expect(r.code, r.stderr).toBe(0);
    expect(report.clean).toBe(true);
    expect(report.problems).toBe(0);
    // one image (config, 3 layers, manifest) and an index of two (2 x (config + 2 layers + manifest)) + the index
    expect(report.blobs).toBe(5 + 9);
    expect(report.blobsHashed).toBe(report.blobs);
    const human = await regbucket(['--store', pristine, 'verify', '--no-hash']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain('no problems found');
  });

  it('names a flipped byte in a layer (digest-mismatch, exit 3); --fix cannot repair it', async () => {
    const store = copyStore();
    const layer = single.layers[1]!;
    const file = onDisk(store, blobData(layer.digest));
    const bytes = readFileSync(file);
    bytes[100] = bytes[100]! ^ 0xff;
    writeFileSync(file, bytes);
    const { r, report } = await verify(store);
    expect(r.code).toBe(3);
    const [f] = only(report, 'digest-mismatch');
    expect(f).toMatchObject({ severity: 'problem', digest: layer.digest, path: blobData(layer.digest), usedBy: ['team/app:one'] });
    // --no-hash does not read layers: the structure is sound
    expect((await verify(store, '--no-hash')).r.code).toBe(0);
    expect((await verify(store, '--fix')).r.code).toBe(3);
    expect(readFileSync(file)).toEqual(bytes);
  });

  it('names a truncated manifest, with and without --no-hash', async () => {
    const store = copyStore();
    truncateSync(onDisk(store, blobData(single.manifest.digest)), 50);
    for (const flags of [[], ['--no-hash']]) {
      const { r, report } = await verify(store, ...flags);
      expect(r.code).toBe(3);
      expect(only(report, 'digest-mismatch')).toEqual([expect.objectContaining({ digest: single.manifest.digest, path: blobData(single.manifest.digest), usedBy: ['team/app:one'] })]);
    }
  });

  it('names a missing layer blob; --fix removes only the dangling _layers link', async () => {
    const store = copyStore();
    const layer = single.layers[0]!;
    rmSync(onDisk(store, `${V2}/blobs/sha256/${hex(layer.digest).slice(0, 2)}/${hex(layer.digest)}`), { recursive: true });
    const { r, report } = await verify(store);
    expect(r.code).toBe(3);
    expect(only(report, 'missing-blob')).toEqual([expect.objectContaining({ repo: 'team/app', tag: 'one', digest: layer.digest, manifest: single.manifest.digest, path: blobData(layer.digest) })]);
    const link = repoPath('team/app', `_layers/sha256/${hex(layer.digest)}/link`);
    expect(only(report, 'dangling-layer-link')).toEqual([expect.objectContaining({ severity: 'warning', digest: layer.digest, path: link })]);

    const blobsBefore = files(join(store, V2, 'blobs'));
    const fixed = await verify(store, '--fix');
    expect(fixed.r.code).toBe(3);
    expect(fixed.report.repairs).toEqual([{ action: 'remove-link', path: link.slice(0, -'/link'.length), kinds: ['dangling-layer-link'] }]);
    expect(existsSync(onDisk(store, link))).toBe(false);
    expect(files(join(store, V2, 'blobs'))).toEqual(blobsBefore);
    const again = await verify(store);
    expect(again.r.code).toBe(3);
    expect(only(again.report, 'dangling-layer-link')).toEqual([]);
    expect(only(again.report, 'missing-blob')).toHaveLength(1);
  });

  it('names a link with a trailing newline; --fix rewrites it and the store verifies clean', async () => {
    const store = copyStore();
    const layer = single.layers[2]!;
    const link = repoPath('team/app', `_layers/sha256/${hex(layer.digest)}/link`);
    writeFileSync(onDisk(store, link), `${layer.digest}\n`);
    const { r, report } = await verify(store);
    expect(r.code).toBe(3);
    expect(only(report, 'malformed-link')).toEqual([expect.objectContaining({ repo: 'team/app', digest: layer.digest, path: link })]);
    const fixed = await verify(store, '--fix');
    expect(fixed.r.code).toBe(0);
    expect(fixed.report.repairs).toEqual([{ action: 'write-link', path: link, digest: layer.digest, kinds: ['malformed-link'] }]);
    expect(readFileSync(onDisk(store, link), 'latin1')).toBe(layer.digest);
    expect((await verify(store)).r.code).toBe(0);
  });

  it('names a revision link naming another digest; --fix rewrites it', async () => {
    const store = copyStore();
    const link = repoPath('team/app', `_manifests/revisions/sha256/${hex(single.manifest.digest)}/link`);
    writeFileSync(onDisk(store, link), single.config.digest);
    const { r, report } = await verify(store);
    expect(r.code).toBe(3);
    expect(only(report, 'link-mismatch')).toEqual([expect.objectContaining({ repo: 'team/app', digest: single.manifest.digest, path: link, link: 'revision' })]);
    expect((await verify(store, '--fix')).r.code).toBe(0);
    expect((await verify(store)).r.code).toBe(0);
  });

  it('names a tag whose current manifest has no revision', async () => {
    const store = copyStore();
    rmSync(onDisk(store, repoPath('team/app', `_manifests/revisions/sha256/${hex(single.manifest.digest)}`)), { recursive: true });
    const { r, report } = await verify(store);
    expect(r.code).toBe(3);
    expect(only(report, 'tag-revision-missing')).toEqual([
      expect.objectContaining({ repo: 'team/app', tag: 'one', digest: single.manifest.digest, path: repoPath('team/app', '_manifests/tags/one/current/link') }),
    ]);
    expect((await verify(store, '--fix')).r.code).toBe(3);
  });

  it('names an index child that is not a revision', async () => {
    const store = copyStore();
    const child = multi.children[1]!;
    rmSync(onDisk(store, repoPath('team/multi', `_manifests/revisions/sha256/${hex(child.digest)}`)), { recursive: true });
    const { r, report } = await verify(store);
    expect(r.code).toBe(3);
    expect(only(report, 'missing-child')).toEqual([
      expect.objectContaining({
        repo: 'team/multi',
        tag: 'v2',
        digest: child.digest,
        manifest: multi.index.digest,
        path: repoPath('team/multi', `_manifests/revisions/sha256/${hex(child.digest)}/link`),
      }),
    ]);
  });

  it('names an index child whose manifest blob is gone', async () => {
    const store = copyStore();
    const child = multi.children[0]!;
    rmSync(onDisk(store, `${V2}/blobs/sha256/${hex(child.digest).slice(0, 2)}/${hex(child.digest)}`), { recursive: true });
    const { r, report } = await verify(store, '--no-hash');
    expect(r.code).toBe(3);
    const missing = only(report, 'missing-blob');
    expect(missing.map((f) => [f.digest, f.manifest ?? null])).toEqual([
      [child.digest, null],
      [child.digest, multi.index.digest],
    ]);
  });

  it('--fix re-creates a missing _layers link and a missing tag index entry, and removes a stale upload', async () => {
    const store = copyStore();
    const config = single.config;
    rmSync(onDisk(store, repoPath('team/app', `_layers/sha256/${hex(config.digest)}`)), { recursive: true });
    rmSync(onDisk(store, repoPath('team/app', `_manifests/tags/one/index`)), { recursive: true });
    const upload = onDisk(store, repoPath('team/app', '_uploads/0b7e1b3c-aaaa-bbbb-cccc-000000000001'));
    mkdirSync(upload, { recursive: true });
    writeFileSync(join(upload, 'startedat'), '2020-01-01T00:00:00Z');
    writeFileSync(join(upload, 'data'), 'partial');
    const fresh = onDisk(store, repoPath('team/app', '_uploads/0b7e1b3c-aaaa-bbbb-cccc-000000000002'));
    mkdirSync(fresh, { recursive: true });
    writeFileSync(join(fresh, 'startedat'), new Date().toISOString());

    const { r, report } = await verify(store, '--no-hash');
    expect(r.code).toBe(3);
    expect(report.findings.map((f) => [f.kind, f.digest ?? f.path])).toEqual([
      ['unlinked-blob', config.digest],
      ['tag-index-missing', single.manifest.digest],
      ['stale-upload', repoPath('team/app', '_uploads/0b7e1b3c-aaaa-bbbb-cccc-000000000001')],
    ]);
    const fixed = await verify(store, '--no-hash', '--fix');
    expect(fixed.r.code).toBe(0);
    expect(fixed.report.repairs!.map((x) => x.action).sort()).toEqual(['remove-upload', 'write-link', 'write-link']);
    expect(existsSync(upload)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    const again = await verify(store);
    expect(again.r.code).toBe(0);
    expect(again.report.findings).toEqual([]);
  });

  it('audits named repositories only, without orphan warnings', async () => {
    const store = copyStore();
    rmSync(onDisk(store, repoPath('team/multi', `_manifests/tags/v2/current`)), { recursive: true });
    const scoped = await verify(store, 'team/app');
    expect(scoped.r.code).toBe(0);
    expect(scoped.report.blobs).toBe(5);
    const all = await verify(store);
    expect(all.r.code).toBe(3);
    expect(only(all.report, 'tag-without-current')).toEqual([expect.objectContaining({ repo: 'team/multi', tag: 'v2' })]);
    const missing = await regbucket(['--store', store, 'verify', 'team/none']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('team/none');
    const invalid = await regbucket(['--store', store, 'verify', 'Team/App']);
    expect(invalid.code).toBe(2);
  });

  it('a blob directory without data and an unreferenced blob are warnings, hashing or not', async () => {
    const store = copyStore();
    const empty = 'e'.repeat(64);
    mkdirSync(onDisk(store, `${V2}/blobs/sha256/ee/${empty}`), { recursive: true });
    const orphan = Buffer.from('nobody refers to me');
    const orphanDigest = `sha256:${createHash('sha256').update(orphan).digest('hex')}`;
    mkdirSync(join(onDisk(store, blobData(orphanDigest)), '..'), { recursive: true });
    writeFileSync(onDisk(store, blobData(orphanDigest)), orphan);
    for (const flags of [[], ['--no-hash']]) {
      const { r, report } = await verify(store, ...flags);
      expect(r.code).toBe(0);
      expect(report.findings.map((f) => [f.kind, f.severity, f.digest])).toEqual([
        ['orphan-blob', 'warning', orphanDigest],
        ['empty-blob-dir', 'warning', `sha256:${empty}`],
      ]);
    }
  });

  it('a directory that holds no registry storage is an error (exit 1), not a clean store', async () => {
    const r = await regbucket(['--store', tempDir(), 'verify']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no registry storage');
  });

  it('never deletes a blob under --fix, not even a corrupt or orphaned one', async () => {
    const store = copyStore();
    writeFileSync(onDisk(store, blobData(single.layers[0]!.digest)), 'corrupt');
    rmSync(onDisk(store, repoPath('team/app', `_manifests/revisions/sha256/${hex(single.manifest.digest)}`)), { recursive: true });
    const before = files(join(store, V2, 'blobs')).map((f) => `${f}:${statSync(f).size}`);
    const { report } = await verify(store, '--fix');
    expect(only(report, 'orphan-blob').map((f) => f.digest)).toContain(single.manifest.digest);
    expect(only(report, 'digest-mismatch').map((f) => f.digest)).toEqual([single.layers[0]!.digest]);
    expect(files(join(store, V2, 'blobs')).map((f) => `${f}:${statSync(f).size}`)).toEqual(before);
  });
});
