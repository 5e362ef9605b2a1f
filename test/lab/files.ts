// What a test left on disk: every regular file below a directory.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Every non-directory below `dir` (absolute paths); none when `dir` does not exist. */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const visit = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) visit(p);
      else out.push(p);
    }
  };
  visit(dir);
  return out;
}
