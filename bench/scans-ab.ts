// The store scans (gc's scan, verify's inventory, ls's tag listing) of two checkouts of regbucket
// side by side in one process, interleaved run by run, on the same stores: a filesystem store
// (tree walks) and an S3-shaped in-memory store (flat walks) whose driver counts requests. For
// a change that must not cost time or requests (the one enumerator), so the comparison holds
// on a loaded machine: the request counts are exact, and times are medians of interleaved runs.
// Run: npx tsx bench/scans-ab.ts <dir of the "before" checkout> [repos]
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FileInfo, StorageDriver } from '../src/drivers/driver.js';
import { MemoryDriver } from '../src/drivers/memory.js';
import { FilesystemDriver } from '../src/drivers/filesystem.js';
import { directoryPut, writeStore, type StoreShape } from './gc.js';
import { fmt, machine, timeIt } from './util.js';

const before = process.argv[2];
if (!before) throw new Error('usage: npx tsx bench/scans-ab.ts <dir of the before checkout> [repos]');
const REPOS = Number(process.argv[3] ?? 40);
const RUNS = 7;
const SHAPE: StoreShape = { repos: REPOS, imagesPerRepo: 20, tagsPerRepo: 10, layersPerImage: 3, indexEvery: 10, orphans: 200 };

/** S3's listing facts on the memory driver (ETags omitted: none of the scans needs them to be right), with requests counted. */
class CountingFlat extends MemoryDriver {
  requests = 0;
  override async *walk(path: string): AsyncIterable<FileInfo> {
    let n = 0;
    this.requests++;
    for await (const f of super.walk(path)) {
      if (++n % 1000 === 0) this.requests++;
      yield f;
    }
  }
  override list(path: string): Promise<string[]> {
    this.requests++;
    return super.list(path);
  }
  override getContent(path: string): Promise<Buffer> {
    this.requests++;
    return super.getContent(path);
  }
  override stat(path: string): Promise<FileInfo> {
    this.requests++;
    return super.stat(path);
  }
}

interface Side {
  name: string;
  gc(d: StorageDriver): Promise<unknown>;
  verify(d: StorageDriver): Promise<unknown>;
  ls(d: StorageDriver): Promise<unknown>;
}

async function side(name: string, src: string): Promise<Side> {
  const scan = await import(join(src, 'gc/scan.ts'));
  const { BlobTable } = await import(join(src, 'gc/store-scan.ts'));
  const { localReads } = await import(join(src, 'drivers/local-reads/decorator.ts'));
  const { scanStore } = await import(join(src, 'verify/inventory.ts'));
  const { listAllTags } = await import(join(src, 'store/listing.ts'));
  return {
    name,
    // As gc/run.ts does: the decorated driver on a filesystem, repositories and blobs at once.
    gc: async (store) => {
      const { d, release } = localReads(store);
      try {
        const table = new BlobTable();
        const opts = { concurrency: 64 };
        const [repos] = await Promise.all([scan.scanRepositories(d, table, opts), scan.scanBlobs(d, table, opts)]);
        return [repos.length, table.set.size];
      } finally {
        await release();
      }
    },
    verify: async (d) => {
      const inv = await scanStore(d, { concurrency: 8 });
      return [inv.repos.length, inv.blobs.size];
    },
    ls: async (store) => {
      const { d, release } = localReads(store);
      try {
        return (await listAllTags(d, 8)).length;
      } finally {
        await release();
      }
    },
  };
}

async function main(): Promise<void> {
  const sides = [await side('before', join(before!, 'src')), await side('after', join(import.meta.dirname, '..', 'src'))];
  const root = join(process.env.BENCH_DIR ?? '/tmp', `regbucket-bench-scans-${process.pid}`);
  const fs = new FilesystemDriver(root);
  const flat = new CountingFlat();
  const { files } = await writeStore(SHAPE, directoryPut(root));
  await writeStore(SHAPE, (p, data) => flat.putContent(p, data));
  const lines = [
    `${machine()}; load average ${(await import('node:os'))
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} at the start (a shared machine)`,
    '',
    `store: ${files} files (${SHAPE.repos} repositories, ${SHAPE.imagesPerRepo} images each); median of ${RUNS} interleaved runs (which side goes first alternates); in-process scans`,
    '',
    '| scan | store | wall before (s) | wall after (s) | after/before | CPU before (s) | CPU after (s) | after/before | requests before | requests after |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  try {
    for (const what of ['gc', 'verify', 'ls'] as const) {
      for (const [label, d] of [
        ['filesystem (tree)', fs],
        ['S3-shaped (flat)', flat],
      ] as const) {
        const times: number[][] = [[], []];
        const cpu: number[][] = [[], []];
        const requests = [0, 0];
        const answers: string[] = ['', ''];
        for (let r = 0; r < RUNS; r++) {
          for (const s of r % 2 === 0 ? [0, 1] : [1, 0]) {
            flat.requests = 0;
            let answer: unknown;
            const c0 = process.cpuUsage();
            times[s]!.push(await timeIt(async () => (answer = await sides[s]![what](d))));
            const c = process.cpuUsage(c0);
            cpu[s]!.push((c.user + c.system) / 1e6);
            requests[s] = flat.requests;
            answers[s] = JSON.stringify(answer);
          }
        }
        if (answers[0] !== answers[1]) throw new Error(`${what} on ${label}: before answered ${answers[0]}, after ${answers[1]}`);
        const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
        const [b, a] = [med(times[0]!), med(times[1]!)];
        const [cb, ca] = [med(cpu[0]!), med(cpu[1]!)];
        const req = (n: number) => (d === flat ? String(n) : '-');
        lines.push(`| ${what} | ${label} | ${fmt(b, 3)} | ${fmt(a, 3)} | ${fmt(a / b)} | ${fmt(cb, 3)} | ${fmt(ca, 3)} | ${fmt(ca / cb)} | ${req(requests[0]!)} | ${req(requests[1]!)} |`);
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  console.log(lines.join('\n'));
}

await main();
