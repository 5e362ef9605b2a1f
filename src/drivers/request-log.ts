// -v and -vv: storage requests counted per operation (and, with -vv, each one as it is made).
// The S3 driver counts its HTTP requests itself (every attempt, by S3 operation); a filesystem
// store is wrapped here and counts the driver calls that reach the disk (a call is one or a
// few syscalls).
import type { StorageDriver } from './driver.js';
import { compareStrings } from '../util/compare.js';

/** Called once per request: the operation and what it names (a path, a key, a count). */
export type RequestObserver = (op: string, target: string) => void;

/** Driver methods that are storage requests; others (close, confinement, ...) pass through. */
const OPERATIONS = new Set([
  'getContent',
  'putContent',
  'reader',
  'putStream',
  'stat',
  'statFile',
  'list',
  'listEntries',
  'listTree',
  'walk',
  'move',
  'delete',
  'deleteFiles',
  'touch',
  'createExclusive',
  'removeEmptyDir',
  'getSmall',
  'listNames',
  'clockOffset',
]);

function targetOf(args: unknown[]): string {
  const a = args[0];
  if (typeof a === 'string') return typeof args[1] === 'string' ? `${a} -> ${args[1]}` : a;
  if (Array.isArray(a)) return `${a.length} paths`;
  return '';
}

/**
 * The driver with its storage calls observed. A Proxy, so capability guards (hasLocalPaths, ...)
 * see the same methods; each method runs on the driver itself, so calls one method makes to
 * another are not counted twice.
 */
export function observeCalls<T extends StorageDriver>(d: T, observe: RequestObserver): T {
  const observed: Observed = { target: d, observe };
  return new Proxy(d, {
    get(target, prop) {
      if (prop === OBSERVED) return observed;
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      const fn = v as (...a: unknown[]) => unknown;
      if (typeof prop === 'string' && OPERATIONS.has(prop)) {
        return (...args: unknown[]) => {
          observe(prop, targetOf(args));
          return fn.apply(target, args);
        };
      }
      return fn.bind(target);
    },
  });
}

interface Observed {
  target: StorageDriver;
  observe: RequestObserver;
}

// A registered symbol, not module state: each command is its own bundle (scripts/bundle.mjs), so
// this module can be loaded twice in one process.
const OBSERVED = Symbol.for('regbucket.observedDriver');

/**
 * A decorator over an observed driver (local-reads) is built over the driver itself and observed
 * in turn: its own reads are counted, and its calls to the driver are not counted twice.
 */
export function decorateObserved(d: StorageDriver, decorate: (inner: StorageDriver) => StorageDriver): StorageDriver {
  const o = (d as unknown as Record<symbol, Observed | undefined>)[OBSERVED];
  return o ? observeCalls(decorate(o.target), o.observe) : decorate(d);
}

/** Counts by operation. */
export class RequestCounts {
  private readonly counts = new Map<string, number>();

  add(op: string): void {
    this.counts.set(op, (this.counts.get(op) ?? 0) + 1);
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => compareStrings(a, b)));
  }
}

/** `GetObject 12, ListObjectsV2 3; 15 in all` (or `none`). */
export function countsLine(counts: Record<string, number>): string {
  const entries = Object.entries(counts);
  if (entries.length === 0) return 'none';
  const total = entries.reduce((n, [, v]) => n + v, 0);
  return `${entries.map(([k, v]) => `${k} ${v}`).join(', ')}; ${total} in all`;
}
