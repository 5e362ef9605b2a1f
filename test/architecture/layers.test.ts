// The dependency-direction check (npm run depcheck, .dependency-cruiser.cjs) passes on src/ and
// fails on a copy of src/ with an import planted against each rule.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '..', '..');
const DEPCRUISE = join(REPO, 'node_modules', '.bin', 'depcruise');

/** `npm run depcheck` in `cwd`: its exit code and each error line's rule and importing file. */
async function depcheck(cwd: string): Promise<{ code: number; errors: string[] }> {
  let code = 0;
  let out: string;
  try {
    out = (await run(DEPCRUISE, ['src', '--config', '.dependency-cruiser.cjs'], { cwd, maxBuffer: 64 << 20 })).stdout;
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string };
    if (typeof e.code !== 'number' || e.stdout === undefined) throw err;
    code = e.code;
    out = e.stdout;
  }
  const errors = [...out.matchAll(/^\s*error ([\w-]+): (\S+)/gm)].map((m) => `${m[1]} ${m[2]}`);
  return { code, errors };
}

/** Planted files, each importing up the layers (or round in a cycle), and the rule that must catch it. */
const PLANTED: { file: string; text: string; rule: string }[] = [
  { file: 'src/util/planted.ts', text: "export { ExitCode } from '../cli/exit.js';\n", rule: 'util-is-a-leaf' },
  { file: 'src/drivers/planted.ts', text: "export { parseStorePath } from '../store/paths.js';\n", rule: 'drivers-below-the-core' },
  { file: 'src/image/planted.ts', text: "export type { StorageDriver } from '../drivers/driver.js';\n", rule: 'image-has-no-storage' },
  { file: 'src/store/planted.ts', text: "export { markStore } from '../gc/mark.js';\n", rule: 'store-below-the-algorithms' },
  { file: 'src/gc/planted.ts', text: "export type { Context } from '../cli/context.js';\n", rule: 'core-below-commands' },
  { file: 'src/commands/planted.ts', text: "export { main } from '../cli/main.js';\n", rule: 'commands-below-cli' },
  { file: 'src/store/planted-a.ts', text: "import { b } from './planted-b.js';\nexport const a = (): number => b() + 1;\n", rule: 'no-circular' },
  { file: 'src/store/planted-b.ts', text: "import { a } from './planted-a.js';\nexport const b = (): number => a() - 1;\n", rule: 'no-circular' },
];

describe('dependency direction (npm run depcheck)', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('src/ has no import running back up the layers and no cycle', { timeout: 180_000 }, async () => {
    const r = await depcheck(REPO);
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
  });

  it('fails on a copy of src/ with a back-edge planted against each rule, naming each', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'regbucket-depcheck-'));
    dirs.push(dir);
    cpSync(join(REPO, 'src'), join(dir, 'src'), { recursive: true });
    for (const f of ['.dependency-cruiser.cjs', 'tsconfig.json', 'package.json']) cpSync(join(REPO, f), join(dir, f));
    symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
    for (const p of PLANTED) writeFileSync(join(dir, p.file), p.text);
    const r = await depcheck(dir);
    expect(r.code).not.toBe(0);
    // Every rule caught its planted import, and nothing else was reported (a cycle is reported
    // from one of its files, whichever the cruiser meets first).
    const planted = new Set(PLANTED.map((p) => `${p.rule} ${p.file}`));
    for (const p of PLANTED.filter((p) => p.rule !== 'no-circular')) expect(r.errors).toContain(`${p.rule} ${p.file}`);
    expect(r.errors.filter((e) => e.startsWith('no-circular ')).length).toBeGreaterThan(0);
    expect(r.errors.filter((e) => !planted.has(e))).toEqual([]);
  });
});
