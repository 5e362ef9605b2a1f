// Shared pieces of the reliability suite: a seeded PRNG (every test prints its seed and takes
// REGBUCKET_SEED to replay), the CLI killed with SIGKILL after a delay, verify's verdict, and a
// check through the store core that every tag resolves to a complete image.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import type { StorageDriver } from '../../src/drivers/driver.js';
import { sha256, type Digest } from '../../src/image/digest.js';
import { parseManifest } from '../../src/image/manifest.js';
import { isBlobLinked, readBlob } from '../../src/store/blobs.js';
import { hasRevision } from '../../src/store/manifests.js';
import { listTags, resolveTag } from '../../src/store/tags.js';
import { listRepositories } from '../../src/store/walk.js';
import { BIN, regbucket } from '../lab/cli.js';
import { prng } from '../lab/proxy.js';
import { skopeoCopy, skopeoInspectRaw, tempDir } from '../lab/tools.js';
import { startRegistry } from '../lab/registry.js';
import { digestOf } from '../lab/images.js';

export { prng } from '../lab/proxy.js';

/** The run's seed: REGBUCKET_SEED when given (to replay a failure), else a fresh one. Printed. */
export function runSeed(what: string): number {
  const env = process.env.REGBUCKET_SEED;
  const seed = env !== undefined && env !== '' ? Number(env) >>> 0 : (Date.now() ^ (process.pid << 8)) >>> 0;
  console.log(`[${what}] seed ${seed} (replay: REGBUCKET_SEED=${seed})`);
  return seed;
}

/** Trial count: REGBUCKET_TRIALS overrides the default (more trials for a longer soak). */
export function trialCount(def: number): number {
  const n = Number(process.env.REGBUCKET_TRIALS);
  return Number.isInteger(n) && n > 0 ? n : def;
}

export interface KilledRun {
  /** True when the process was still running and got SIGKILL; false when it exited first. */
  killed: boolean;
  code: number | null;
  stderr: string;
  ms: number;
}

/** Runs the CLI and sends SIGKILL `delayMs` after spawn (the process may finish first). */
export function runAndKill(args: string[], delayMs: number, env: NodeJS.ProcessEnv = {}): Promise<KilledRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, CI: 'true', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    let killed = false;
    const timer = setTimeout(() => {
      killed = child.kill('SIGKILL');
    }, delayMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ killed: killed && signal === 'SIGKILL', code, stderr, ms: Date.now() - started });
    });
  });
}

/** Spawns the CLI without waiting: for runs that must overlap. */
export function start(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, CI: 'true', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Kill trials: each runs the command and kills it at a seeded moment within the span of an uncut
 * run. The machine's speed drifts, so a run that finishes before its kill re-times the span (and
 * must have exited 0).
 */
export class KillTrials {
  trials = 0;
  killed = 0;
  finished = 0;
  private readonly random: () => number;
  private span: number;

  constructor(
    private readonly seed: number,
    fullMs: number,
  ) {
    this.random = prng(seed);
    this.span = fullMs * 1.1;
  }

  async run(t: number, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ run: KilledRun; where: string }> {
    const delay = Math.floor(this.random() * this.span);
    const where = `trial ${t} (seed ${this.seed}, kill at ${delay} ms of ~${Math.round(this.span)} ms)`;
    const run = await runAndKill(args, delay, env);
    this.trials++;
    if (run.killed) this.killed++;
    else {
      this.finished++;
      this.span = run.ms * 1.1;
      if (run.code !== 0) throw new Error(`${where}: exited ${run.code}: ${run.stderr}`);
    }
    return { run, where };
  }
}

export interface Verdict {
  /** Problems (corrupt or missing blobs, broken links, ...): must be none. */
  problems: string[];
  /** Warning kinds and counts (orphans, stale uploads): allowed after a crash. */
  warnings: Record<string, number>;
}

/** `regbucket verify --json` on a store, reduced to its problems (one line each) and warning counts. */
export async function verifyStore(storeArgs: string[], env: NodeJS.ProcessEnv = {}): Promise<Verdict> {
  const r = await regbucket([...storeArgs, '--json', 'verify'], env);
  if (r.code !== 0 && r.code !== 3) throw new Error(`verify exited ${r.code}: ${r.stderr}`);
  const report = r.json<{ findings: { kind: string; severity: string; path: string; detail: string }[] }>();
  const problems = report.findings.filter((f) => f.severity === 'problem').map((f) => `${f.kind} ${f.path}: ${f.detail}`);
  const warnings: Record<string, number> = {};
  for (const f of report.findings) if (f.severity === 'warning') warnings[f.kind] = (warnings[f.kind] ?? 0) + 1;
  if ((problems.length === 0) !== (r.code === 0)) throw new Error(`verify exit ${r.code} disagrees with its findings: ${r.stdout.slice(0, 500)}`);
  return { problems, warnings };
}

/**
 * Every tag of every repository, resolved through the store core, checked down to the bytes:
 * the manifest is a revision whose blob hashes to its digest, an index's children likewise, an
 * image's config and layers are linked into the repository and present (verify hashes those).
 * Returns `repo:tag -> digest`; throws naming the first broken tag.
 */
export async function tagsComplete(d: StorageDriver): Promise<Map<string, Digest>> {
  const out = new Map<string, Digest>();
  const checkManifest = async (repo: string, digest: Digest, where: string): Promise<void> => {
    if (!(await hasRevision(d, repo, digest))) throw new Error(`${where}: manifest ${digest} is not a revision of ${repo}`);
    const bytes = await readBlob(d, digest);
    if (sha256(bytes) !== digest) throw new Error(`${where}: manifest ${digest} hashes to ${sha256(bytes)}`);
    const m = parseManifest(bytes, where);
    for (const b of [...(m.config ? [m.config] : []), ...m.layers]) {
      if (!(await isBlobLinked(d, repo, b.digest))) throw new Error(`${where}: blob ${b.digest} of ${digest} is not linked into ${repo} or missing`);
    }
    for (const c of m.manifests) await checkManifest(repo, c.digest, where);
  };
  for (const repo of await listRepositories(d)) {
    for (const tag of await listTags(d, repo)) {
      const digest = await resolveTag(d, repo, tag);
      await checkManifest(repo, digest, `${repo}:${tag}`);
      out.set(`${repo}:${tag}`, digest);
    }
  }
  return out;
}

/** The real registry on a filesystem store; skopeo inspects every tag; the digests it serves. */
export async function servedByRegistry(storeDir: string, tags: Iterable<string>): Promise<Map<string, string>> {
  const reg = await startRegistry({ storage: { filesystem: storeDir } });
  const out = new Map<string, string>();
  try {
    for (const t of tags) {
      out.set(t, digestOf(await skopeoInspectRaw(`docker://${reg.host}/${t}`)));
      // Every platform's config and layers must be served too: a full copy fetches them all.
      const dest = join(tempDir('regbucket-served-'), 'oci');
      await skopeoCopy(`docker://${reg.host}/${t}`, `oci:${dest}`, ['--all']);
      rmSync(dest, { recursive: true, force: true });
    }
  } finally {
    await reg.stop();
  }
  return out;
}

/** Fresh copy of a directory tree (mtimes kept). */
export function copyTree(from: string, to: string): void {
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true, preserveTimestamps: true });
}

/** Sets every file and directory below `dir` back by `ms` (old garbage for gc's --min-age). */
export function age(dir: string, ms: number): void {
  const when = (Date.now() - ms) / 1000;
  const visit = (p: string): void => {
    const st = statSync(p);
    if (st.isDirectory()) for (const e of readdirSync(p)) visit(join(p, e));
    utimesSync(p, when, when);
  };
  visit(dir);
}

/** Blob digests whose data is present under a filesystem store (a directory without data is debris, not a blob). */
export function blobSet(storeDir: string): Set<string> {
  const root = join(storeDir, 'docker/registry/v2/blobs/sha256');
  const out = new Set<string>();
  let shards: string[];
  try {
    shards = readdirSync(root);
  } catch {
    return out;
  }
  for (const s of shards) for (const h of readdirSync(join(root, s))) if (existsSync(join(root, s, h, 'data'))) out.add(`sha256:${h}`);
  return out;
}

/**
 * Every file below a filesystem store, as paths relative to it, with its size; left out: what a
 * kill leaves and the registry ignores: `_uploads/` (unfinished uploads; gc removes them once
 * stale), `<file>.<uuid>.tmp` (a write not yet renamed into place) and `.regbucket-staging-*`
 * in the store root (a staging directory, or the empty file a push writes to read the file
 * system's clock, both outside `docker/`). `debris.tmp` counts the files among them.
 */
const TMP_RE = /\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$/;

export function fileSet(storeDir: string, debris?: { tmp: number }): Map<string, number> {
  const out = new Map<string, number>();
  const visit = (rel: string): void => {
    for (const e of readdirSync(join(storeDir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (e.name !== '_uploads' && !e.name.startsWith('.regbucket-staging-')) visit(p);
      } else if (TMP_RE.test(e.name) || e.name.startsWith('.regbucket-staging-')) {
        if (debris) debris.tmp++;
      } else out.set(p, statSync(join(storeDir, p)).size);
    }
  };
  visit('');
  return out;
}

/** Unfinished uploads under any repository of a filesystem store (a push that completes removes its own). */
export function uploadsLeft(store: string): string[] {
  const repos = join(store, 'docker/registry/v2/repositories');
  const out: string[] = [];
  const visit = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      if (e.name === '_uploads') out.push(...readdirSync(join(dir, e.name)).map((u) => join(dir, e.name, u)));
      else if (!e.name.startsWith('_')) visit(join(dir, e.name));
    }
  };
  if (existsSync(repos)) visit(repos);
  return out;
}
