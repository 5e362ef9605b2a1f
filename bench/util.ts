// Shared timing helpers for benchmarks: wall-clock of whole commands, medians over runs.
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export async function timeIt(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

export async function median(runs: number, fn: () => unknown, before?: () => Promise<void> | void): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    await before?.();
    times.push(await timeIt(fn));
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export function sh(cmd: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync('bash', ['-c', cmd], { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

export function fmt(n: number, digits = 2): string {
  return n.toFixed(digits);
}

export function machine(): string {
  return sh('echo "$(nproc) cores, $(free -g | awk \'/Mem:/{print $2}\') GiB, node $(node --version), $(uname -r)"').trim();
}
