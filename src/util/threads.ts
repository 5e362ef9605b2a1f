// The one worker-thread launcher (the local read pool and the hash pool use it). A thread body is
// a self-contained function started from its source text with `eval: true`, so nothing but the
// bundle has to ship; the functions it needs are passed in as its arguments, also as source text.
import { Worker, type ResourceLimits } from 'node:worker_threads';

type Source = (...args: never[]) => unknown;

/** Starts `count` threads (at least one), each running `body(...deps)`. */
export function startThreads(count: number, body: Source, deps: readonly Source[], workerData?: unknown, resourceLimits?: ResourceLimits): Worker[] {
  // esbuild's keepNames (tsx, vitest) wraps functions in a `__name` helper the thread lacks.
  const source = `var __name = (f) => f;\n(${body.toString()})(${deps.map((f) => f.toString()).join(', ')})`;
  return Array.from({ length: Math.max(1, count) }, () => new Worker(source, { eval: true, workerData, resourceLimits }));
}
