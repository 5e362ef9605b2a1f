// --version and `regbucket version` report regbucket's own package.json, whatever npm script
// runs them; `npm pack` from a clean tree ships dist/ (prepack builds it).
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, regbucket, regbucketOk } from '../lab/cli.js';
import { runOk } from '../lab/exec.js';
import { tempDir } from '../lab/tools.js';

const own = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true, maxRetries: 5 });
});

describe('version', () => {
  it('--version ignores npm_package_version (set by any npm script of the calling project)', async () => {
    const r = await regbucketOk(['--version'], { npm_package_version: '9.9.9' });
    expect(r.stdout.trim()).toBe(own);
  });

  it('regbucket version, and --json with schemaVersion', async () => {
    expect((await regbucketOk(['version'], { npm_package_version: '9.9.9' })).stdout.trim()).toBe(`regbucket ${own}`);
    const j = (await regbucketOk(['--json', 'version'])).json<{ version: string; node: string }>();
    expect(j).toEqual({ version: own, node: process.versions.node });
  });

  it('an unknown command is a one-line usage error', async () => {
    const r = await regbucket(['nosuch']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^regbucket: error: /);
  });
});

describe('npm pack', () => {
  it('from a tree without dist/, prepack builds it and the tarball ships it', { timeout: 600_000 }, async () => {
    const tree = tempDir('regbucket-pack-');
    dirs.push(tree);
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'README.md']) cpSync(join(REPO_ROOT, f), join(tree, f));
    for (const d of ['bin', 'src', 'scripts', 'docs']) cpSync(join(REPO_ROOT, d), join(tree, d), { recursive: true });
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(tree, 'node_modules'));
    mkdirSync(join(tree, 'home'));
    const out = await runOk('npm', ['pack', '--dry-run', '--json'], {
      cwd: tree,
      env: { ...process.env, npm_config_cache: join(tree, 'home'), npm_config_update_notifier: 'false' },
      timeoutMs: 560_000,
    });
    const [pack] = JSON.parse(out.slice(out.indexOf('['))) as { files: { path: string }[] }[];
    const files = pack!.files.map((f) => f.path);
    expect(files).toContain('bin/regbucket.cjs');
    expect(files).toContain('dist/bundle/regbucket.cjs');
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('package.json');
    expect(files.some((f) => f.startsWith('src/'))).toBe(false);
  });
});
