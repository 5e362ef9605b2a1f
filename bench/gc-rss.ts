// Peak RSS of `regbucket gc --dry-run` against the registry's `garbage-collect --dry-run` on one
// filesystem store of ~375,000 files (issue 16 item 4), side by side in one run, with the floor
// (`node -e 0`, `regbucket --help`). Peak RSS is the kernel's high-water mark of each process
// (/usr/bin/time's %M), so it does not depend on the machine's load; the seconds do.
// The store is written once by bench/gc.ts's writer and reused while its shape is unchanged.
// Run: npx tsx bench/gc-rss.ts [runs] (default 3)
//   BENCH_GC_STORE: where the store is (default /tmp/regbucket-bench-gc-rss; kept for re-runs)
//   REGBUCKET_BIN: another launcher to measure (e.g. a copy of an older build), default this tree's
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../test/lab/cli.js';
import { run } from '../test/lab/exec.js';
import { registryConfig } from '../test/lab/registry.js';
import { directoryPut, writeStore, type StoreShape } from './gc.js';
import { fmt, machine, sh } from './util.js';

const SHAPE: StoreShape = { repos: 544, imagesPerRepo: 66, layersPerImage: 3, tagsPerRepo: 10, indexEvery: 11, orphans: 2000 };
const ROOT = process.env.BENCH_GC_STORE ?? '/tmp/regbucket-bench-gc-rss';
const BINARY = process.env.REGBUCKET_BIN ?? BIN;

/** The store of SHAPE at ROOT, written unless a previous run left one of the same shape. */
async function store(): Promise<{ files: number; images: number }> {
  const marker = join(ROOT, '.bench-shape.json');
  if (existsSync(marker)) {
    const kept = JSON.parse(readFileSync(marker, 'utf8')) as { shape: StoreShape; files: number; images: number };
    if (JSON.stringify(kept.shape) === JSON.stringify(SHAPE)) return kept;
  }
  rmSync(ROOT, { recursive: true, force: true });
  const t0 = Date.now();
  const written = await writeStore(SHAPE, directoryPut(ROOT));
  console.error(`wrote ${written.files} files in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  writeFileSync(marker, JSON.stringify({ shape: SHAPE, ...written }));
  return written;
}

interface Measure {
  kib: number;
  seconds: number;
  out: string;
}

/** Runs a command under /usr/bin/time: its peak RSS (KiB), wall seconds and output. */
async function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Measure> {
  const r = await run('/usr/bin/time', ['-f', 'RSS %M KiB %e s', cmd, ...args], { env: { ...process.env, CI: 'true', ...env }, timeoutMs: 1_800_000 });
  const m = /RSS (\d+) KiB ([\d.]+) s\s*$/.exec(r.stderr);
  if (!m || r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-800)}`);
  return { kib: Number(m[1]), seconds: Number(m[2]), out: r.stdout + r.stderr };
}

const mib = (kib: number): string => (kib / 1024).toFixed(0);
const middle = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[]): string => `${mib(Math.min(...xs))}-${mib(Math.max(...xs))}`;

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 3);
  const { files, images } = await store();
  const config = registryConfig({ storage: { filesystem: ROOT } }, 5000);
  await run('find', [ROOT, '-type', 'f'], {}); // page cache warm for both
  const rows: string[] = [];
  const floor = async (label: string, cmd: string, args: string[]): Promise<void> => {
    const kib: number[] = [];
    for (let i = 0; i < runs; i++) kib.push((await measure(cmd, args)).kib);
    rows.push(`| ${label} | | | ${mib(middle(kib))} (${range(kib)}) | | |`);
  };
  await floor('floor: `node -e 0`', process.execPath, ['-e', '0']);
  await floor('floor: `regbucket --help`', process.execPath, [BINARY, '--help']);
  for (const [mode, flags] of [
    ['all revisions kept', []],
    ['--delete-untagged', ['--delete-untagged']],
  ] as const) {
    const theirs: Measure[] = [];
    const ours: Measure[] = [];
    // Interleaved, so a slow spell of the machine falls on both sides.
    for (let i = 0; i < runs; i++) {
      theirs.push(await measure('docker-registry', ['garbage-collect', '--dry-run', ...flags, config]));
      ours.push(await measure(process.execPath, [BINARY, '--store', ROOT, '--json', 'gc', '--dry-run', '--min-age', '0', ...flags]));
    }
    const eligible = /(\d+) blobs and (\d+) manifests eligible for deletion/.exec(theirs[0]!.out);
    const planned = JSON.parse(ours[0]!.out.slice(0, ours[0]!.out.lastIndexOf('}') + 1)) as { planned: { blobs: number; manifests: number } };
    const theirKib = theirs.map((m) => m.kib);
    const ourKib = ours.map((m) => m.kib);
    rows.push(
      `| ${mode} | ${mib(middle(theirKib))} (${range(theirKib)}) | ${fmt(middle(theirs.map((m) => m.seconds)))} | ${mib(middle(ourKib))} (${range(ourKib)}) | ${fmt(middle(ours.map((m) => m.seconds)))} | ${fmt(middle(ourKib) / middle(theirKib))}x |`,
    );
    console.error(`${mode}: registry ${eligible?.[1]} blobs, ${eligible?.[2]} manifests eligible; regbucket ${planned.planned.blobs} blobs, ${planned.planned.manifests} manifests planned`);
  }
  const load = sh('cut -d" " -f1-3 /proc/loadavg').trim();
  console.log(
    [
      `${machine()}; load average ${load} at the end; median of ${runs} interleaved runs (range in brackets)`,
      '',
      `### filesystem: ${files.toLocaleString('en')} files (${SHAPE.repos} repositories, ${images.toLocaleString('en')} image manifests of ${SHAPE.layersPerImage} layers, ${SHAPE.orphans} orphan blobs), page cache warm`,
      '',
      '| mode | docker-registry garbage-collect --dry-run: peak RSS (MiB) | seconds | regbucket gc --dry-run --min-age 0 --json: peak RSS (MiB) | seconds | regbucket / registry |',
      '| --- | --- | --- | --- | --- | --- |',
      ...rows,
    ].join('\n'),
  );
}

await main();
