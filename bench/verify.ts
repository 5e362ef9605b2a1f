// Hashing throughput of `regbucket verify` against `openssl dgst -sha256` (SHA extensions) over
// the same blob files, in one run:
// - the whole CLI (node start, listing, hashing) with one and with two hashing threads;
// - the audit in this process (no node start), same store;
// - streamed hashing as for a store without local files (S3): bytes read on the main thread and
//   hashed there, or handed to the workers, at 8 blobs in flight.
// - S3 (`s3` argument): the same kind of store in a bucket on the Swift lab, `regbucket verify`
//   (whole CLI) at --concurrency 1..32, straight to Swift and behind a proxy adding 20 ms a
//   request (a remote bucket): throughput against concurrency, requests counted.
// Run: npx tsx bench/verify.ts [MB] (default 1536) | npx tsx bench/verify.ts s3 [MB] (default 512)
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { FileInfo, StorageDriver } from '../src/drivers/driver.js';
import { FilesystemDriver } from '../src/drivers/filesystem.js';
import { verifyStore } from '../src/verify/audit.js';
import type { StreamHashing } from '../src/verify/hashing/blob-hasher.js';
import { join } from 'node:path';
import { BIN } from '../test/lab/cli.js';
import { fmt, machine, sh, timeIt } from './util.js';

const s3Mode = process.argv[2] === 's3';
const totalMb = Number(process.argv[s3Mode ? 3 : 2] ?? (s3Mode ? 512 : 1536));
const root = join(process.env.BENCH_DIR ?? '/tmp', `regbucket-bench-verify-${process.pid}`);
rmSync(root, { recursive: true, force: true });
const blobsDir = join(root, 'docker/registry/v2/blobs/sha256');

/** Blob sizes like a real store: most bytes in big layers, many small configs and manifests. */
function sizes(total: number): number[] {
  const out: number[] = [];
  let left = total;
  for (const [size, share] of [
    [64 << 20, 0.66],
    [2 << 20, 0.32],
    [8 << 10, 0.02],
  ] as const) {
    for (let budget = total * share; budget >= size && left >= size; budget -= size, left -= size) out.push(size);
  }
  return out;
}

function writeBlobs(total: number): { files: string[]; bytes: number } {
  const files: string[] = [];
  let bytes = 0;
  const buf = Buffer.allocUnsafe(64 << 20);
  for (const size of sizes(total)) {
    const data = randomFillSync(buf.subarray(0, size));
    const hex = createHash('sha256').update(data).digest('hex');
    const dir = join(blobsDir, hex.slice(0, 2), hex);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'data'), data);
    files.push(join(dir, 'data'));
    bytes += size;
  }
  return { files, bytes };
}

/**
 * The filesystem store seen as a remote one: no local paths, flat listings, bytes arrive as a
 * stream of 64 KiB chunks (what an HTTP response body delivers).
 */
class StreamedStore implements StorageDriver {
  readonly name = 'streamed';
  readonly prefersFlatListing = true;
  constructor(private readonly fs: FilesystemDriver) {}
  getContent = (p: string): Promise<Buffer> => this.fs.getContent(p);
  putContent = (p: string, d: Buffer | string): Promise<void> => this.fs.putContent(p, d);
  reader = async (p: string): Promise<Readable> => {
    await this.fs.stat(p);
    return createReadStream(join(this.fs.root, p), { highWaterMark: 64 << 10 });
  };
  putStream = (p: string, d: Readable): Promise<number> => this.fs.putStream(p, d);
  stat = (p: string): Promise<FileInfo> => this.fs.stat(p);
  list = (p: string): Promise<string[]> => this.fs.list(p);
  walk = (p: string): AsyncIterable<FileInfo> => this.fs.walk(p);
  move = (a: string, b: string): Promise<void> => this.fs.move(a, b);
  delete = (p: string): Promise<void> => this.fs.delete(p);
  deleteFiles = (p: string[]): Promise<void> => this.fs.deleteFiles(p);
  close = (): Promise<void> => this.fs.close();
}

const audit = (d: StorageDriver, threads: number, streamHashing?: StreamHashing): Promise<number> => timeIt(() => verifyStore(d, { hash: true, fix: false, concurrency: 8, threads, streamHashing }));

async function fsBench(): Promise<void> {
  try {
    const { files, bytes } = writeBlobs(totalMb * 1024 * 1024);
    const listFile = join(root, 'files.txt');
    writeFileSync(listFile, files.join('\n'));
    sh(`xargs -a ${listFile} cat > /dev/null`); // page cache warm for every contender
    // One openssl process for every file (the list stays well under ARG_MAX).
    const openssl = await timeIt(() => sh(`openssl dgst -sha256 $(cat ${listFile}) > /dev/null`));
    const cli = (workers: number): Promise<number> => timeIt(() => sh(`node ${BIN} --store ${root} --quiet verify --workers ${workers}`));
    const cli1 = await cli(1);
    const cli2 = await cli(2);
    const local = new FilesystemDriver(root);
    await audit(local, 2); // JIT warm-up for the in-process rows
    const lib1 = await audit(local, 1);
    const lib2 = await audit(local, 2);
    const remote = new StreamedStore(local);
    const main2 = await audit(remote, 2, 'main');
    const workers2 = await audit(remote, 2, 'workers');
    const mib = bytes / 1024 / 1024;
    const row = (name: string, s: number): string => `| ${name} | ${fmt(s)} | ${fmt(mib / s, 0)} | ${fmt(openssl / s)}x |`;
    console.log(
      [
        `${files.length} blobs, ${fmt(mib, 0)} MiB, page cache warm; ${machine()}; one run each`,
        `| contender | seconds | MiB/s | vs openssl |`,
        `| --- | --- | --- | --- |`,
        row('openssl dgst -sha256 (all files, one process)', openssl),
        row('regbucket verify --workers 1 (whole CLI, node start included)', cli1),
        row('regbucket verify --workers 2 (whole CLI, node start included)', cli2),
        row('audit in process, 1 hashing thread', lib1),
        row('audit in process, 2 hashing threads', lib2),
        row('streamed (no local paths), hashed on the main thread', main2),
        row('streamed (no local paths), chunks handed to 2 workers', workers2),
      ].join('\n'),
    );
  } finally {
    if (!process.env.BENCH_KEEP) rmSync(root, { recursive: true, force: true });
  }
}

/** The blob store in a bucket on the Swift lab; verify at several concurrencies, direct and at 20 ms. */
async function s3Bench(): Promise<void> {
  const { startSwift } = await import('../test/lab/swift.js');
  const { startProxy } = await import('../test/lab/proxy.js');
  const { S3Driver } = await import('../src/drivers/s3.js');
  const { eachLimit } = await import('../src/util/each-limit.js');
  const swift = await startSwift();
  try {
    const bucket = `verifybench${process.pid}`;
    await swift.createBucket(bucket);
    const d = new S3Driver({ bucket, endpoint: swift.endpoint, credentials: swift.credentials, region: swift.region });
    const list = sizes(totalMb * 1024 * 1024);
    let bytes = 0;
    await eachLimit(list, 8, async (size) => {
      const data = randomFillSync(Buffer.allocUnsafe(size));
      const hex = createHash('sha256').update(data).digest('hex');
      await d.putContent(`/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`, data);
      bytes += size;
    });
    await d.close();
    const mib = bytes / 1024 / 1024;
    const proxy = await startProxy({ target: swift.endpoint, latencyMs: 20 });
    const env = { ...process.env, ...swift.env };
    // Asynchronous: the proxy answers from this process's event loop.
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const exec = promisify(execFile);
    const run = (endpoint: string, n: number): Promise<number> =>
      timeIt(() => exec(process.execPath, [BIN, '--store', `s3://${bucket}`, '--s3-endpoint', endpoint, '--quiet', '--concurrency', String(n), 'verify'], { env }));
    await run(swift.endpoint, 8); // Swift's caches warm for every row
    const rows: string[] = [];
    for (const n of [1, 2, 4, 8, 16, 32]) {
      const direct = await run(swift.endpoint, n);
      proxy.reset();
      const remote = await run(proxy.url, n);
      rows.push(`| ${n} | ${fmt(direct)} | ${fmt(mib / direct, 0)} | ${fmt(remote)} | ${fmt(mib / remote, 0)} | ${proxy.total()} |`);
    }
    await proxy.stop();
    console.log(
      [
        `${list.length} blobs, ${fmt(mib, 0)} MiB in a bucket on Swift's S3 API (127.0.0.1); ${machine()}; one run each, whole CLI (node start included), 2 hashing threads`,
        '| --concurrency | Swift direct: seconds | MiB/s | behind 20 ms/request proxy: seconds | MiB/s | requests |',
        '| --- | --- | --- | --- | --- | --- |',
        ...rows,
      ].join('\n'),
    );
  } finally {
    await swift.stop();
  }
}

if (s3Mode) await s3Bench();
else await fsBench();
