import { InvalidInputError } from '../errors.js';

// K, M, G, T with or without "i"/"iB" are powers of 1024 (what `du -h` and docker's --memory
// mean by them); KB, MB, GB, TB are powers of 1000 (what disk vendors and S3 bills mean).
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(?:(B)|([KMGT])(i?B|i)?)?$/i;
const POWER: Record<string, number> = { K: 1, M: 2, G: 3, T: 4 };

/** Parses `500`, `500B`, `10G`, `10GiB`, `1.5T`, `200MB` into bytes. `what` names the flag in the error. */
export function parseSize(s: string, what = 'size'): number {
  const m = SIZE_RE.exec(s.trim());
  if (!m)
    throw new InvalidInputError(
      `${what} ${JSON.stringify(s)} is not a size: use bytes or a number with K, M, G or T (powers of 1024; KiB, MiB.. alike) or KB, MB, GB, TB (powers of 1000), e.g. 10G, 500MiB`,
    );
  const [, n, , unit, suffix] = m;
  if (!unit) {
    if (!/^\d+$/.test(n!)) throw new InvalidInputError(`${what} ${JSON.stringify(s)}: a size in bytes is a whole number`);
    return Number(n);
  }
  const base = suffix !== undefined && suffix.toUpperCase() === 'B' ? 1000 : 1024;
  return Math.floor(Number(n) * base ** POWER[unit.toUpperCase()]!);
}
