import { expect } from 'vitest';
import type { CliResult } from './cli.js';

/** A one-line usage error (exit 2) naming `what`. */
export function refused(r: CliResult, what: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^regbucket: error: /);
  expect(lines[0]).toMatch(what);
}
