// The hostile-store corpus, by family: at each level of the layout, a symlink to outside the
// store, a symlink to inside it, a self-loop, a FIFO, a unix socket, a character device
// (/dev/null's numbers), and multi-GB sparse files where links, manifests and startedat belong.
// Each case runs gc (dry and real), verify, verify --fix, ls, inspect and a push against the
// store, each bounded by a timeout, and checks:
// - the documented exit code (gc, verify: 3 for a store with an unsafe path; ls, inspect, push:
//   whatever they answer, in one line, never a hang or a crash);
// - canary files outside the store unchanged (content, mtime, existence);
// - no blob deleted that registry 2.8.2's garbage-collect keeps on a copy of the same store
//   (where the registry fails on the store, regbucket deleted no blob at all).
// Default: a seeded sample of the cases (REGBUCKET_SEED replays); REGBUCKET_HOSTILE_ALL=1 runs all.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../lab/cli.js';
import { run } from '../lab/exec.js';
import { makeLayout } from '../lab/images.js';
import { registryConfig, registryGarbageCollect } from '../lab/registry.js';
import { tempDir } from '../lab/tools.js';
import { age, copyTree, prng, runSeed } from './harness.js';

const HOUR = 3_600_000;
const CMD_TIMEOUT_MS = 120_000;
const V2 = 'docker/registry/v2';

type Family = 'symlink-out' | 'symlink-in' | 'loop' | 'fifo' | 'socket' | 'device' | 'oversized';

interface Level {
  name: string;
  /** Path below the store root, given the template's names. */
  path: (n: Names) => string;
  /** A directory (special files go inside it) or a file (special files replace it). */
  dir: boolean;
  /** Files where a size bound applies (oversized cases). */
  small?: boolean;
}

interface Names {
  /** A layer of a:v1 (hex), its shard, a manifest of a:v1 (hex), an upload id of a. */
  layer: string;
  manifest: string;
  upload: string;
}

const LEVELS: Level[] = [
  { name: 'docker', path: () => 'docker', dir: true },
  { name: 'registry', path: () => 'docker/registry', dir: true },
  { name: 'v2', path: () => V2, dir: true },
  { name: 'blobs', path: () => `${V2}/blobs`, dir: true },
  { name: 'sha256', path: () => `${V2}/blobs/sha256`, dir: true },
  { name: 'shard', path: (n) => `${V2}/blobs/sha256/${n.layer.slice(0, 2)}`, dir: true },
  { name: 'blob dir', path: (n) => `${V2}/blobs/sha256/${n.layer.slice(0, 2)}/${n.layer}`, dir: true },
  { name: 'layer data', path: (n) => `${V2}/blobs/sha256/${n.layer.slice(0, 2)}/${n.layer}/data`, dir: false },
  { name: 'manifest data', path: (n) => `${V2}/blobs/sha256/${n.manifest.slice(0, 2)}/${n.manifest}/data`, dir: false, small: true },
  { name: 'repositories', path: () => `${V2}/repositories`, dir: true },
  { name: 'repo dir', path: () => `${V2}/repositories/team`, dir: true },
  { name: 'nested repo dir', path: () => `${V2}/repositories/team/a`, dir: true },
  { name: '_layers', path: () => `${V2}/repositories/team/a/_layers`, dir: true },
  { name: 'layer link', path: (n) => `${V2}/repositories/team/a/_layers/sha256/${n.layer}/link`, dir: false, small: true },
  { name: '_manifests', path: () => `${V2}/repositories/team/a/_manifests`, dir: true },
  { name: 'revisions', path: () => `${V2}/repositories/team/a/_manifests/revisions`, dir: true },
  { name: 'revision link', path: (n) => `${V2}/repositories/team/a/_manifests/revisions/sha256/${n.manifest}/link`, dir: false, small: true },
  { name: 'tags', path: () => `${V2}/repositories/team/a/_manifests/tags`, dir: true },
  { name: 'tag dir', path: () => `${V2}/repositories/team/a/_manifests/tags/v1`, dir: true },
  { name: 'current', path: () => `${V2}/repositories/team/a/_manifests/tags/v1/current`, dir: true },
  { name: 'current link', path: () => `${V2}/repositories/team/a/_manifests/tags/v1/current/link`, dir: false, small: true },
  { name: 'tag index', path: () => `${V2}/repositories/team/a/_manifests/tags/v1/index`, dir: true },
  { name: '_uploads', path: () => `${V2}/repositories/team/a/_uploads`, dir: true },
  { name: 'upload dir', path: (n) => `${V2}/repositories/team/a/_uploads/${n.upload}`, dir: true },
  { name: 'startedat', path: (n) => `${V2}/repositories/team/a/_uploads/${n.upload}/startedat`, dir: false, small: true },
];

const FAMILIES: Family[] = ['symlink-out', 'symlink-in', 'loop', 'fifo', 'socket', 'device', 'oversized'];

function makeSocket(path: string): void {
  // Bound by its name from its own directory: absolute socket paths are limited to 107 bytes.
  execFileSync('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', basename(path)], { cwd: dirname(path) });
}

/** Applies the family at the level in the store at `root`; `outside` is a directory outside it. */
function mutate(root: string, outside: string, family: Family, level: Level, n: Names): void {
  const p = join(root, level.path(n));
  const special = (at: string): void => {
    if (family === 'fifo') execFileSync('mkfifo', [at]);
    else if (family === 'socket') makeSocket(at);
    else execFileSync('mknod', [at, 'c', '1', '3']);
  };
  switch (family) {
    case 'symlink-out': {
      // The real entry moves outside; the store points at it.
      const target = join(outside, `moved-${level.name.replace(/\W/g, '-')}`);
      renameSync(p, target);
      symlinkSync(target, p);
      return;
    }
    case 'symlink-in': {
      const target = `${p}.moved`;
      renameSync(p, target);
      symlinkSync(relative(dirname(p), target), p);
      return;
    }
    case 'loop':
      rmSync(p, { recursive: true, force: true });
      symlinkSync(p.split('/').pop()!, p);
      return;
    case 'fifo':
    case 'socket':
    case 'device':
      if (level.dir) special(join(p, 'odd'));
      else {
        rmSync(p);
        special(p);
      }
      return;
    case 'oversized':
      execFileSync('truncate', ['-s', '3G', p]);
      return;
  }
}

function applies(family: Family, level: Level): boolean {
  return family === 'oversized' ? Boolean(level.small) : true;
}

/** Every file outside the store with content, mtime; symlinks too. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (p: string): void => {
    const st = lstatSync(p);
    if (st.isDirectory()) {
      out.set(p, `dir ${st.mtimeMs}`);
      for (const e of readdirSync(p)) visit(join(p, e));
    } else if (st.isFile()) out.set(p, `file ${st.mtimeMs} ${st.size} ${st.size < 1 << 20 ? readFileSync(p).toString('base64') : ''}`);
    else out.set(p, `other ${st.mtimeMs}`);
  };
  visit(dir);
  return out;
}

/** Blob directory names in the store (never followed). */
function blobNames(root: string): Set<string> {
  const out = new Set<string>();
  const base = join(root, V2, 'blobs/sha256');
  const list = (p: string): string[] => {
    try {
      return lstatSync(p).isDirectory() ? readdirSync(p) : [];
    } catch {
      return [];
    }
  };
  for (const s of list(base)) for (const h of list(join(base, s))) if (/^[a-f0-9]{64}$/.test(h)) out.add(h);
  return out;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function cli(args: string[]): Promise<Ran> {
  const r = await run(process.execPath, [BIN, ...args], { env: { ...process.env, CI: 'true' }, timeoutMs: CMD_TIMEOUT_MS });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

describe('hostile stores (filesystem): symlinks, special and oversized files at every level', () => {
  let work: string;
  let template: string;
  let layout: string;
  let names: Names;
  const seed = runSeed('hostile-store');
  const all = FAMILIES.flatMap((f) => LEVELS.filter((l) => applies(f, l)).map((l) => ({ family: f, level: l })));
  const rand = prng(seed);
  const sample = process.env.REGBUCKET_HOSTILE_ALL ? all : all.filter(() => rand() < 0.12);

  beforeAll(async () => {
    work = tempDir('regbucket-hostile-store-');
    layout = join(work, 'layout');
    await makeLayout(layout, [
      { ref: 'v1', layers: 2, layerSize: 4096 },
      { ref: 'v2', layers: 1, layerSize: 2048 },
      { ref: 'gone', layers: 1, layerSize: 1024 },
    ]);
    template = join(work, 'template');
    for (const [src, dst] of [
      ['v1', 'team/a:v1'],
      ['v2', 'b:v2'],
      ['gone', 'c:gone'],
    ]) {
      const r = await cli(['--store', template, 'push', `oci:${layout}:${src}`, dst!]);
      expect(r.code, r.stderr).toBe(0);
    }
    // c's tag goes: its image is garbage to both collectors.
    rmSync(join(template, V2, 'repositories/c/_manifests/tags/gone'), { recursive: true });
    const idx = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    const manifest = idx.manifests.find((m) => m.annotations['org.opencontainers.image.ref.name'] === 'v1')!.digest.slice(7);
    const m = JSON.parse(readFileSync(join(layout, 'blobs/sha256', manifest), 'utf8')) as { layers: { digest: string }[] };
    const upload = 'upload-1';
    mkdirSync(join(template, V2, 'repositories/team/a/_uploads', upload), { recursive: true });
    writeFileSync(join(template, V2, 'repositories/team/a/_uploads', upload, 'startedat'), '2020-01-01T00:00:00Z');
    writeFileSync(join(template, V2, 'repositories/team/a/_uploads', upload, 'data'), 'partial');
    names = { layer: m.layers[0]!.digest.slice(7), manifest, upload };
    age(template, 2 * HOUR);
  }, 600_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the sample is not empty', () => {
    expect(sample.length).toBeGreaterThan(0);
  });

  it.each(sample.map((c) => [`${c.family} at ${c.level.name}`, c] as const))(
    '%s',
    async (_name, { family, level }) => {
      const dir = join(work, `${family}-${level.name.replace(/\W/g, '-')}`);
      const store = join(dir, 'store');
      const registryCopy = join(dir, 'registry-copy');
      const outside = join(dir, 'outside');
      mkdirSync(outside, { recursive: true });
      writeFileSync(join(outside, 'canary'), 'do not touch');
      copyTree(template, store);
      copyTree(template, registryCopy);
      const outsideReg = join(dir, 'outside-reg');
      mkdirSync(outsideReg, { recursive: true });
      mutate(store, outside, family, level, names);
      mutate(registryCopy, outsideReg, family, level, names);
      const before = snapshot(outside);
      const blobsBefore = blobNames(store);

      const expectOneLine = (r: Ran, what: string): void => {
        expect(r.code, `${what} timed out or crashed: ${r.stderr}`).not.toBeNull();
        const errors = r.stderr.split('\n').filter((l) => l.startsWith('regbucket: error'));
        expect(errors.length, `${what}: ${r.stderr}`).toBeLessThanOrEqual(1);
        expect(r.stderr, what).not.toMatch(/\n\s+at /); // no stack trace
      };
      const gcDry = await cli(['--store', store, 'gc', '--dry-run', '--min-age', '0']);
      expectOneLine(gcDry, 'gc --dry-run');
      // gc never reads layer links (nor does the registry's): an oversized one is verify's to report.
      const gcBlind = family === 'oversized' && level.name === 'layer link';
      expect(gcBlind ? [0, 3] : [3], gcDry.stdout + gcDry.stderr).toContain(gcDry.code);
      const verify = await cli(['--store', store, 'verify']);
      expectOneLine(verify, 'verify');
      expect(verify.code, verify.stdout + verify.stderr).toBe(3);
      const fix = await cli(['--store', store, 'verify', '--fix']);
      expectOneLine(fix, 'verify --fix');
      expect(fix.code, fix.stdout + fix.stderr).toBe(3);
      for (const args of [['ls'], ['ls', 'team/a'], ['inspect', 'team/a:v1'], ['push', `oci:${layout}:v2`, 'team/a:new']]) {
        const r = await cli(['--store', store, ...args]);
        expectOneLine(r, args.join(' '));
        expect([0, 1, 2, 3], `${args.join(' ')}: ${r.stderr}`).toContain(r.code);
      }
      const gc = await cli(['--store', store, 'gc', '--min-age', '0', '--uploads-older-than', '0']);
      expectOneLine(gc, 'gc');
      expect(gcBlind ? [0, 3] : [3], gc.stdout + gc.stderr).toContain(gc.code);

      // Nothing outside changed; the registry's verdict bounds what regbucket deleted.
      expect(snapshot(outside)).toEqual(before);
      // The registry's gc opens a FIFO where a manifest belongs and blocks for good: a run cut
      // short counts as one that failed on the store (regbucket must then have deleted nothing).
      const reg = await registryGarbageCollect(registryConfig({ storage: { filesystem: registryCopy } }, 5000), [], 60_000);
      const kept = reg.code === 0 ? blobNames(registryCopy) : blobsBefore;
      const after = blobNames(store);
      const lost = [...kept].filter((h) => blobsBefore.has(h) && !after.has(h));
      expect(lost, `blobs the registry keeps (its gc exited ${reg.code}) but regbucket deleted`).toEqual([]);
      expect(existsSync(join(outside, 'canary'))).toBe(true);
      expect(statSync(join(outside, 'canary')).size).toBe('do not touch'.length);
    },
    600_000,
  );
});
