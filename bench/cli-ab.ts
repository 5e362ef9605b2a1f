// The whole CLI of two checkouts side by side, for a change that must not cost time: gc, ls,
// verify and push (the commands bench/gc.ts, bench/ls.ts, bench/verify.ts and bench/push-pull.ts
// time) on the same stores, interleaved run by run with the side that goes first alternating, so
// machine load hits both alike. Each checkout is built (npm run build) and run by its package.json bin; node's start
// is included. Sizes are modest: the comparison is a ratio, not a throughput.
// Run: npx tsx bench/cli-ab.ts <before checkout> <after checkout> [repos] [runs]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeLayout } from '../test/lab/images.js';
import { directoryPut, writeStore, type StoreShape } from './gc.js';
import { fmt, machine, sh, timeIt } from './util.js';

const [before, after] = [process.argv[2], process.argv[3]];
if (!before || !after) throw new Error('usage: npx tsx bench/cli-ab.ts <before checkout> <after checkout> [repos] [runs]');
const REPOS = Number(process.argv[4] ?? 30);
const RUNS = Number(process.argv[5] ?? 5);
const SHAPE: StoreShape = { repos: REPOS, imagesPerRepo: 20, tagsPerRepo: 10, layersPerImage: 3, indexEvery: 10, orphans: 200 };
// The checkout's own entry point (bin/regbucket.js before the bundle, bin/regbucket.cjs after).
const binOf = (dir: string): string => join(dir, (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { bin: { regbucket: string } }).bin.regbucket);
const sides = { before: binOf(before), after: binOf(after) };
type Side = keyof typeof sides;

const root = mkdtempSync(join(tmpdir(), 'regbucket-cli-ab-'));
const store = join(root, 'store');
const layout = join(root, 'layout');
const cli = (side: Side, args: string[]): void => void execFileSync(process.execPath, [sides[side], ...args], { env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'ignore', 'pipe'] });

const benches: { name: string; command: string; run: (side: Side, n: number) => void }[] = [
  { name: 'gc', command: 'gc --dry-run --min-age 0 --delete-untagged', run: (s) => cli(s, ['--store', store, '--json', 'gc', '--dry-run', '--min-age', '0', '--delete-untagged']) },
  { name: 'ls', command: 'ls --all', run: (s) => cli(s, ['--store', store, 'ls', '--all']) },
  { name: 'verify', command: 'verify', run: (s) => cli(s, ['--store', store, '--quiet', 'verify']) },
  { name: 'push', command: 'push oci:<8 x 4 MiB layout> into an empty store', run: (s, n) => cli(s, ['--store', join(root, `push-${s}-${n}`), 'push', `oci:${layout}:big`, 'bench/img:1']) },
];

try {
  const { files } = await writeStore(SHAPE, directoryPut(store));
  await makeLayout(layout, [{ ref: 'big', layers: 8, layerSize: 4 * 1024 * 1024 }]);
  const load = (): string => sh('cut -d" " -f1-3 /proc/loadavg').trim();
  const loads = [load()];
  const times: Record<string, Record<Side, number[]>> = {};
  for (let n = 0; n < RUNS; n++) {
    for (const b of benches) {
      const order: Side[] = (n + benches.indexOf(b)) % 2 ? ['after', 'before'] : ['before', 'after'];
      for (const side of order) (times[b.name] ??= { before: [], after: [] })[side].push(await timeIt(() => b.run(side, n)));
    }
    loads.push(load());
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`${machine()}; store: ${files} files (${REPOS} repositories, 20 images each, 200 orphans); median of ${RUNS} interleaved runs`);
  console.log(`load average (1, 5, 15 min) at the start and after each round: ${loads.join(' | ')}\n`);
  console.log('| benchmark | regbucket command | before (s) | after (s) | after/before |');
  console.log('| --------- | ----------------- | ---------- | --------- | ------------ |');
  for (const b of benches) {
    const t = times[b.name]!;
    console.log(`| ${b.name} | \`${b.command}\` | ${fmt(med(t.before), 3)} | ${fmt(med(t.after), 3)} | ${fmt(med(t.after) / med(t.before))} |`);
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
