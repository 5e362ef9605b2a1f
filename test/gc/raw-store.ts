// Writing a store's files directly (no core, no checks): manifests regbucket would refuse,
// repository names outside its grammar, stray files. Then the registry's gc and regbucket's
// gc on copies, and which blobs each deleted.
import { cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import { sha256 } from '../../src/image/digest.js';
import { runGc } from '../../src/gc/run.js';
import type { GcReport } from '../../src/gc/report.js';
import { registryConfig, registryGarbageCollect } from '../lab/registry.js';
import { tempDir } from '../lab/tools.js';

export const V2 = 'docker/registry/v2';

function put(root: string, rel: string, data: string | Buffer): void {
  const p = join(root, V2, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, data);
}

/** Stores bytes as a blob; returns the digest. */
export function writeBlob(root: string, bytes: Buffer | string): string {
  const d = sha256(bytes);
  put(root, `blobs/sha256/${d.slice(7, 9)}/${d.slice(7)}/data`, bytes);
  return d;
}

export function linkLayer(root: string, repo: string, digest: string): void {
  put(root, `repositories/${repo}/_layers/sha256/${digest.slice(7)}/link`, digest);
}

export function linkRevision(root: string, repo: string, digest: string): void {
  put(root, `repositories/${repo}/_manifests/revisions/sha256/${digest.slice(7)}/link`, digest);
}

export function tag(root: string, repo: string, name: string, digest: string): void {
  put(root, `repositories/${repo}/_manifests/tags/${name}/index/sha256/${digest.slice(7)}/link`, digest);
  put(root, `repositories/${repo}/_manifests/tags/${name}/current/link`, digest);
}

export function strayFile(root: string, rel: string, data = 'stray'): void {
  put(root, rel, data);
}

/** Every blob with data, as digests. */
export function blobsIn(store: string): Set<string> {
  const root = join(store, V2, 'blobs', 'sha256');
  const out = new Set<string>();
  for (const shard of existsSync(root) ? readdirSync(root) : []) {
    for (const hex of readdirSync(join(root, shard))) if (existsSync(join(root, shard, hex, 'data'))) out.add(`sha256:${hex}`);
  }
  return out;
}

export function copyStore(src: string, prefix = 'regbucket-raw-'): string {
  const dir = join(tempDir(prefix), 'store');
  cpSync(src, dir, { recursive: true, preserveTimestamps: true });
  return dir;
}

export interface GcOutcome {
  /** The registry's gc failed (one manifest or name it cannot read aborts it). */
  aborted: boolean;
  deleted: Set<string>;
  output: string;
}

/** The registry's garbage-collect on the store itself (pass a copy). */
export async function registryGc(store: string, flags: string[] = []): Promise<GcOutcome> {
  const before = blobsIn(store);
  const r = await registryGarbageCollect(registryConfig({ storage: { filesystem: store } }, 5000), flags);
  const after = blobsIn(store);
  return { aborted: r.code !== 0, deleted: new Set([...before].filter((b) => !after.has(b))), output: `${r.stdout}${r.stderr}` };
}

/** The digests the registry's gc marked (its output) while reading the manifest `digest`. */
export function markedBy(output: string, digest: string): Set<string> {
  const out = new Set<string>();
  let current = '';
  for (const line of output.split('\n')) {
    const m = /marking manifest (\S+)/.exec(line);
    if (m) current = m[1]!;
    const b = /marking blob (\S*)/.exec(line);
    if (b && current === digest) out.add(b[1]!);
  }
  return out;
}

/** regbucket's gc, in process, on the store itself (pass a copy). */
export async function regbucketGc(store: string, deleteUntagged: boolean): Promise<{ deleted: Set<string>; report: GcReport }> {
  const before = blobsIn(store);
  const report = await runGc(new FilesystemDriver(store), {
    dryRun: false,
    deleteUntagged,
    minAgeMs: 0,
    uploadsOlderThanMs: 7 * 24 * 3_600_000,
    concurrency: 4,
    now: Date.now() + 60_000,
  });
  const after = blobsIn(store);
  return { deleted: new Set([...before].filter((b) => !after.has(b))), report };
}
