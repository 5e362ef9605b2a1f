import { InvalidInputError } from '../errors.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const DURATION_RE = /^(?:\d+(?:\.\d+)?[smhdw])+$/;
const PART_RE = /(\d+(?:\.\d+)?)([smhdw])/g;

/**
 * Parses `90s`, `30m`, `1h`, `7d`, `2w`, combinations such as `1h30m`, and `0`, into
 * milliseconds. `what` names the flag in the error.
 */
export function parseDuration(s: string, what = 'duration'): number {
  const v = s.trim();
  if (/^0+$/.test(v)) return 0;
  if (!DURATION_RE.test(v)) {
    throw new InvalidInputError(`${what} ${JSON.stringify(s)} is not a duration: use a number with a unit s, m, h, d or w (90s, 30m, 1h, 7d, 1h30m) or 0`);
  }
  let ms = 0;
  for (const [, n, unit] of v.matchAll(PART_RE)) ms += Number(n) * UNIT_MS[unit!]!;
  return Math.round(ms);
}

/** The shortest exact rendering of a duration in the same units (`3600000` -> `1h`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  let left = ms;
  let out = '';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const n = Math.floor(left / UNIT_MS[unit]!);
    if (n > 0) {
      out += `${n}${unit}`;
      left -= n * UNIT_MS[unit]!;
    }
  }
  return left > 0 ? `${out}${left}ms` : out;
}
