import { InvalidArgumentError } from 'commander';

/**
 * A commander parser for a whole-number option within [min, max]: digits only (no `1e9`, `0x10`,
 * `1.5`, blanks), one clear error naming the option and its range otherwise.
 */
export function boundedInt(name: string, min: number, max: number): (v: string) => number {
  return (v: string): number => {
    const n = /^\d{1,9}$/.test(v.trim()) ? Number(v.trim()) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} takes a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
    }
    return n;
  };
}
