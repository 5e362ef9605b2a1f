// gc's "now": the storage's clock (store/clock.ts). A real run refuses to delete anything when
// the storage's clock and this machine's differ by more than --max-clock-skew, or the storage
// does not tell its time: other writers (a registry's `startedat`, pushes on other machines)
// stamp times with their own clocks, and a large skew means some clock is wrong.
import { RegbucketError } from '../errors.js';
import type { StorageDriver } from '../drivers/driver.js';
import { storageClock } from '../store/clock.js';
import { formatDuration } from '../util/duration.js';

/** Default --max-clock-skew. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** gc refused to delete because the clocks disagree (exit 1: fix the clock, or widen the limit). */
export class ClockSkewError extends RegbucketError {}

export interface GcClock {
  /** The storage's time at the start of the run (ms since the epoch). */
  now: number;
  /** The storage's clock minus this machine's; undefined when unknown (now is then this machine's). */
  offsetMs: number | undefined;
}

/**
 * The storage's time now; with `enforce` (a real run), throws ClockSkewError when the offset is
 * unknown or larger than `maxSkewMs` (Infinity: any offset, and unknown falls back to this machine's clock).
 */
export async function gcClock(d: StorageDriver, store: string, maxSkewMs: number, enforce: boolean): Promise<GcClock> {
  const { offsetMs } = await storageClock(d);
  const now = Date.now() + (offsetMs ?? 0);
  if (!enforce || maxSkewMs === Infinity) return { now, offsetMs };
  if (offsetMs === undefined) {
    throw new ClockSkewError(
      `gc deletes nothing: ${store} does not tell its time (no Date header, or a file could not be written), so ages cannot be measured; pass --max-clock-skew any to use this machine's clock`,
    );
  }
  if (Math.abs(offsetMs) > maxSkewMs) {
    const dir = offsetMs > 0 ? 'behind' : 'ahead of';
    throw new ClockSkewError(
      `gc deletes nothing: this machine's clock is ${formatDuration(Math.round(Math.abs(offsetMs) / 1000) * 1000)} ${dir} the clock of ${store} (more than --max-clock-skew ${formatDuration(maxSkewMs)}); fix the clock (NTP), or pass --max-clock-skew any to measure ages by the storage's clock anyway`,
    );
  }
  return { now, offsetMs };
}

/** --max-clock-skew: a duration, or `any`. */
export function parseMaxSkew(v: string, parse: (s: string, what: string) => number): number {
  return v.trim() === 'any' ? Infinity : parse(v, '--max-clock-skew');
}
