// Start-up: `regbucket --help`, `regbucket version` and `regbucket ls` on the example store
// against bare `node -e 0`, interleaved run by run so load changes hit every column alike.
// Reports the median wall time and the median CPU time (user+sys, from /usr/bin/time), each as a
// ratio to node -e 0; CPU time is the steadier figure on a loaded machine.
// Run: npm run build && npm run example && npx tsx bench/startup.ts [runs] [store]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt, machine } from './util.js';

const runs = Number(process.argv[2] ?? 30);
const store = process.argv[3] ?? 'example/store';
const bin = process.env.REGBUCKET_BIN ?? 'bin/regbucket.cjs';

const cases: [string, string[]][] = [
  ['node -e 0', ['-e', '0']],
  ['regbucket --help', [bin, '--help']],
  ['regbucket version', [bin, 'version']],
  [`regbucket ls (${store})`, [bin, '--store', store, 'ls']],
  [`regbucket ls demo/hello`, [bin, '--store', store, 'ls', 'demo/hello']],
];

const dir = mkdtempSync(join(tmpdir(), 'regbucket-startup-'));
const out = join(dir, 'time');
const wall: number[][] = cases.map(() => []);
const cpu: number[][] = cases.map(() => []);
try {
  for (let i = 0; i < runs; i++) {
    cases.forEach(([, args], j) => {
      execFileSync('/usr/bin/time', ['-o', out, '-f', '%e %U %S', process.execPath, ...args], { stdio: 'ignore' });
      const [e, u, s] = readFileSync(out, 'utf8').trim().split(/\s+/).map(Number) as [number, number, number];
      wall[j]!.push(e);
      cpu[j]!.push(u + s);
    });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const med = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
console.log(`${runs} interleaved runs; ${machine()}; load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
console.log('| command | wall (median) | ratio | cpu user+sys (median) | ratio |');
console.log('|---|---|---|---|---|');
cases.forEach(([name], j) => {
  console.log(`| ${name} | ${fmt(med(wall[j]!))} s | ${fmt(med(wall[j]!) / med(wall[0]!))}x | ${fmt(med(cpu[j]!))} s | ${fmt(med(cpu[j]!) / Math.max(0.01, med(cpu[0]!)))}x |`);
});
