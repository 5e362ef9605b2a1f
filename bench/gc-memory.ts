// Peak memory of `regbucket gc --dry-run` on a store of one million blobs. The store is synthetic:
// a driver that answers listings and manifest reads from compact generated data (flat listings,
// as on S3, with sizes, times and ETags: the heavier of the two scan paths), so no disk or bucket
// of that size is needed. Each mode runs in a fresh process; what is reported is that process's
// peak RSS, and the same process's RSS once the synthetic store was built (its own data, not
// part of the gc) so the difference is what the gc itself needed. --json rows stream the whole
// report as the CLI does (the pieces are counted, not kept).
// Run: npx tsx bench/gc-memory.ts [blobs] (default 1000000)
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import type { FileInfo, StorageDriver } from '../src/drivers/driver.js';
import { PathNotFoundError } from '../src/errors.js';
import { buildReport, reportJson } from '../src/gc/report.js';
import { collectGc } from '../src/gc/run.js';
import { BLOBS, REPOSITORIES, ROOT } from '../src/store/paths.js';
import { machine } from './util.js';

const REPOS = 1000;
const LAYERS = 8; // per image: one of BASES shared base layers and 7 of its own
const BASES = 100;
const TAGS = 10; // the newest TAGS images of each repository are tagged

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');
const OLD = new Date('2020-01-01T00:00:00Z');

interface Image {
  manifest: string;
  config: string;
  layers: string[];
}

function readOnly(): never {
  throw new Error('the synthetic store is read-only: run gc with --dry-run');
}

/** A read-only synthetic store; everything is derived from counters, manifests are real JSON. */
class SyntheticStore implements StorageDriver {
  readonly name = 'synthetic';
  readonly prefersFlatListing = true;
  /** Every blob's 32-byte digest, sorted by shard (one buffer), and where each shard starts. */
  private readonly digests: Buffer;
  private readonly shardStart = new Int32Array(257);
  /** Manifest digest of each image, and the bytes of each manifest (they are read). */
  private readonly manifestOf: string[] = [];
  private readonly manifests = new Map<string, Buffer>();
  readonly blobs: number;
  readonly images: number;
  readonly orphans: number;

  constructor(total: number) {
    this.images = Math.floor((total - BASES) / (LAYERS + 1) / REPOS) * REPOS;
    this.orphans = total - BASES - this.images * (LAYERS + 1);
    this.blobs = total;
    // One pass writes every digest into one buffer, a counting sort groups them by shard.
    const all = Buffer.alloc(total * 32);
    let n = 0;
    const add = (hex: string): void => {
      all.write(hex, n++ * 32, 'hex');
    };
    for (let b = 0; b < BASES; b++) add(sha(`base ${b}`));
    for (let i = 0; i < this.images; i++) {
      const img = this.image(i);
      add(img.config);
      for (const l of img.layers.slice(1)) add(l);
      add(img.manifest);
    }
    for (let o = 0; o < this.orphans; o++) add(sha(`orphan ${o}`));
    for (let i = 0; i < total; i++) this.shardStart[all[i * 32]! + 1]!++;
    for (let s = 1; s <= 256; s++) this.shardStart[s]! += this.shardStart[s - 1]!;
    this.digests = Buffer.alloc(total * 32);
    const next = Int32Array.from(this.shardStart);
    for (let i = 0; i < total; i++) all.copy(this.digests, next[all[i * 32]!]!++ * 32, i * 32, i * 32 + 32);
  }

  /** Image i's digests (derived again on each call); its manifest bytes are made once and kept. */
  image(i: number): Image {
    const config = sha(`config ${i}`);
    const layers = [sha(`base ${i % BASES}`), ...Array.from({ length: LAYERS - 1 }, (_, l) => sha(`layer ${i} ${l}`))];
    let manifest = this.manifestOf[i];
    if (manifest === undefined) {
      const body = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${config}`, size: 100 },
          layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${l}`, size: 1000 })),
        }),
      );
      manifest = sha(body);
      this.manifestOf[i] = manifest;
      this.manifests.set(manifest, body);
    }
    return { manifest, config, layers };
  }

  private repoName(r: number): string {
    return `team${r % 10}/app-${r}`;
  }

  private *repoFiles(r: number): Generator<FileInfo> {
    const dir = `${REPOSITORIES}/${this.repoName(r)}`;
    const per = this.images / REPOS;
    for (let k = 0; k < per; k++) {
      const img = this.image(r * per + k);
      for (const b of [img.config, ...img.layers]) yield this.file(`${dir}/_layers/sha256/${b}/link`);
      yield this.file(`${dir}/_manifests/revisions/sha256/${img.manifest}/link`);
      if (k >= per - TAGS) {
        const tag = `v${k - (per - TAGS)}`;
        yield this.file(`${dir}/_manifests/tags/${tag}/index/sha256/${img.manifest}/link`);
        yield { ...this.file(`${dir}/_manifests/tags/${tag}/current/link`), etag: createHash('md5').update(`sha256:${img.manifest}`).digest('hex') };
      }
    }
  }

  private file(path: string, size = 71): FileInfo {
    return { path, size, modTime: OLD, isDir: false };
  }

  private *shardFiles(s: number): Generator<FileInfo> {
    for (let i = this.shardStart[s]!; i < this.shardStart[s + 1]!; i++) {
      const hex = this.digests.toString('hex', i * 32, i * 32 + 32);
      yield this.file(`${BLOBS}/${hex.slice(0, 2)}/${hex}/data`, this.manifests.get(hex)?.length ?? 1000);
    }
  }

  private reposIn(team: number | undefined): number[] {
    return Array.from({ length: REPOS }, (_, r) => r).filter((r) => team === undefined || r % 10 === team);
  }

  async *walk(path: string): AsyncIterable<FileInfo> {
    if (path === BLOBS) {
      for (let s = 0; s < 256; s++) yield* this.shardFiles(s);
    } else if (path.startsWith(`${BLOBS}/`)) {
      yield* this.shardFiles(parseInt(path.slice(BLOBS.length + 1), 16));
    } else if (path === REPOSITORIES || /^\/docker\/registry\/v2\/repositories\/team\d$/.test(path)) {
      const team = path === REPOSITORIES ? undefined : Number(path.slice(-1));
      for (const r of this.reposIn(team)) yield* this.repoFiles(r);
    } else {
      const m = /^\/docker\/registry\/v2\/repositories\/team\d\/app-(\d+)(\/.*)?$/.exec(path);
      if (m) for (const f of this.repoFiles(Number(m[1]))) if (f.path.startsWith(`${path}/`)) yield f;
    }
  }

  async list(path: string): Promise<string[]> {
    if (path === BLOBS) return Array.from({ length: 256 }, (_, s) => `${BLOBS}/${s.toString(16).padStart(2, '0')}`);
    if (path === REPOSITORIES) return Array.from({ length: 10 }, (_, t) => `${REPOSITORIES}/team${t}`);
    const m = /^\/docker\/registry\/v2\/repositories\/team(\d)$/.exec(path);
    if (m)
      return this.reposIn(Number(m[1]))
        .map((r) => `${REPOSITORIES}/${this.repoName(r)}`)
        .sort();
    const r = /^\/docker\/registry\/v2\/repositories\/team\d\/app-\d+$/.exec(path);
    if (r) return ['_layers', '_manifests'].map((c) => `${path}/${c}`);
    throw new PathNotFoundError(this.name, path);
  }

  async getContent(path: string): Promise<Buffer> {
    const m = /\/blobs\/sha256\/[a-f0-9]{2}\/([a-f0-9]{64})\/data$/.exec(path);
    const bytes = m ? this.manifests.get(m[1]!) : undefined;
    if (!bytes) throw new PathNotFoundError(this.name, path);
    return bytes;
  }

  async stat(path: string): Promise<FileInfo> {
    if (path === ROOT) return { path, size: 0, modTime: OLD, isDir: true };
    const bytes = await this.getContent(path);
    return this.file(path, bytes.length);
  }

  readonly putContent = readOnly;
  readonly reader = readOnly;
  readonly putStream = readOnly;
  readonly move = readOnly;
  readonly delete = readOnly;
  readonly deleteFiles = readOnly;
  async close(): Promise<void> {}
}

const mib = (bytes: number): string => (bytes / 1048576).toFixed(0);

interface Row {
  mode: string;
  json: boolean;
  blobs: number;
  images: number;
  planned: number;
  storeRss: number;
  storePeak: number;
  peak: number;
  seconds: number;
  outputMb: number;
}

async function child(total: number, mode: string, json: boolean): Promise<void> {
  const store = new SyntheticStore(total);
  global.gc?.();
  const storeRss = process.memoryUsage().rss;
  const storePeak = process.resourceUsage().maxRSS * 1024;
  const t0 = Date.now();
  const input = await collectGc(store, {
    dryRun: true,
    deleteUntagged: mode === 'delete-untagged',
    minAgeMs: 0,
    uploadsOlderThanMs: 7 * 86_400_000,
    concurrency: 8,
    listLimit: json ? undefined : 20,
  });
  // What the CLI does: --json streams the whole report out, a terminal gets a summary.
  let outputBytes = 0;
  if (json) for (const piece of reportJson(input)) outputBytes += piece.length;
  const r = buildReport({ ...input, listLimit: 20 });
  const peak = process.resourceUsage().maxRSS * 1024;
  const expected = mode === 'delete-untagged' ? store.orphans + (store.images - REPOS * TAGS) * (LAYERS + 1) : store.orphans;
  if (r.planned.blobs !== expected || r.scanned.blobs !== store.blobs) {
    throw new Error(`unexpected plan: ${r.scanned.blobs} blobs scanned, ${r.planned.blobs} planned, expected ${store.blobs} and ${expected}`);
  }
  const row: Row = { mode, json, blobs: store.blobs, images: store.images, planned: r.planned.blobs, storeRss, storePeak, peak, seconds: (Date.now() - t0) / 1000, outputMb: outputBytes / 1e6 };
  console.log(JSON.stringify(row));
}

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 1_000_000);
  if (process.argv[3]) return child(total, process.argv[3], process.argv[4] === 'json');
  const rows: Row[] = [];
  for (const mode of ['keep-revisions', 'delete-untagged']) {
    for (const output of ['terminal', 'json']) {
      const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', process.argv[1]!, String(total), mode, output], { encoding: 'utf8', maxBuffer: 1 << 26 });
      rows.push(JSON.parse(out.trim().split('\n').pop()!) as Row);
    }
  }
  const r0 = rows[0]!;
  const lines = [
    `${machine()}; synthetic store: ${r0.blobs.toLocaleString('en')} blobs (${r0.images.toLocaleString('en')} image manifests of ${LAYERS} layers in ${REPOS} repositories, ${TAGS} tags each), flat listings; one fresh process per row`,
    '',
    "| mode | output | blobs planned for deletion | peak RSS (MiB) | RSS of the synthetic store (MiB) | gc's share (MiB) | seconds | output (MB) |",
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.mode === 'delete-untagged' ? '--delete-untagged' : 'all revisions kept'} | ${r.json ? '--json' : 'terminal'} | ${r.planned.toLocaleString('en')} | ${mib(r.peak)} | ${mib(r.storeRss)} | ${mib(r.peak - r.storeRss)} | ${r.seconds.toFixed(1)} | ${r.outputMb.toFixed(0)} |`,
    ),
  ];
  if (rows.some((r) => r.peak <= r.storePeak)) lines.push('', "note: a row whose peak is the synthetic store's own build peak under-reports the gc's share");
  console.log(lines.join('\n'));
}

await main();
