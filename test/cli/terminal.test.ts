// The CLI under pseudo-terminals, the way users and CI wrappers run it: `script` gives the child
// a pty whose size is what `stty` sets (0x0 when script itself has no terminal, as under CI
// agents and `docker run -t` in its first moments). Progress must never loop on a 0-column
// terminal (it wrote megabytes of escape codes at 100% CPU) and must honour NO_COLOR and TERM=dumb.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, regbucketOk } from '../lab/cli.js';
import { run, requireTool } from '../lab/exec.js';
import { makeLayout } from '../lab/images.js';
import { tempDir } from '../lab/tools.js';

let work: string;
let store: string;
/** A store whose verify hashes 128 MiB: long enough for the spinner, loaded on demand, to draw. */
let slowStore: string;
let layout: string;

beforeAll(async () => {
  requireTool('script');
  work = tempDir('regbucket-tty-');
  layout = join(work, 'layout');
  store = join(work, 'store');
  await makeLayout(layout, [{ ref: 'v1', layers: 3 }]);
  await regbucketOk(['--store', store, 'push', `oci:${layout}:v1`, 'app:v1']);
  const big = join(work, 'big-layout');
  await makeLayout(big, [{ ref: 'v1', layers: 1, layerSize: 128 * 1024 * 1024 }]);
  slowStore = join(work, 'slow-store');
  await regbucketOk(['--store', slowStore, 'push', `oci:${big}:v1`, 'app:v1']);
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs regbucket in a pty of the given size; stdout and stderr both arrive on the pty. */
async function inPty(size: { cols: number; rows: number }, args: string[], env: Record<string, string | undefined> = {}) {
  const cmd = `stty cols ${size.cols} rows ${size.rows}; exec ${quote(process.execPath)} ${quote(BIN)} ${args.map(quote).join(' ')}`;
  const childEnv: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color', ...env };
  delete childEnv.CI; // the suite's CI=true turns progress off; these tests are about a terminal
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  // A timeout here means the CLI hung: the failure this file guards against.
  const r = await run('script', ['-qec', cmd, '/dev/null'], { env: childEnv, input: '', timeoutMs: 120_000 });
  return { code: r.code, out: r.stdout };
}

const ESC = '\x1b[';
// eslint-disable-next-line no-control-regex -- the escape character is what these tests look for: an SGR colour sequence
const SGR_COLOR = /\x1b\[3\dm/;

describe('0x0 pseudo-terminal', () => {
  for (const args of [['verify'], ['pull', 'app:v1', 'oci:OUT:v1'], ['gc', '--dry-run'], ['ls', 'app']]) {
    it(`${args[0]} finishes with bounded output and plain progress lines`, async () => {
      const a = args.map((x) => (x.includes('OUT') ? x.replace('OUT', join(work, `pulled-${Math.random().toString(36).slice(2)}`)) : x));
      const r = await inPty({ cols: 0, rows: 0 }, ['--store', store, ...a]);
      expect(r.code, r.out.slice(0, 2000)).toBe(0);
      expect(r.out.length).toBeLessThan(8192);
      expect(r.out).not.toContain(ESC);
    });
  }

  it('gc shows its phases as plain lines', async () => {
    const r = await inPty({ cols: 0, rows: 0 }, ['--store', store, 'gc', '--dry-run'], { REGBUCKET_PROGRESS_INTERVAL: '0' });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^\[00:\d\d\] gc: listing the store/m);
    expect(r.out).toContain('would delete');
  });
});

describe('100x40 pseudo-terminal', () => {
  it('shows a coloured spinner on stderr and the result', async () => {
    const r = await inPty({ cols: 100, rows: 40 }, ['--store', slowStore, 'verify']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('verify:');
    expect(r.out).toMatch(SGR_COLOR);
  });

  it('NO_COLOR: the spinner is drawn without colour', async () => {
    const r = await inPty({ cols: 100, rows: 40 }, ['--store', slowStore, 'verify'], { NO_COLOR: '1' });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('verify:');
    expect(r.out).not.toMatch(SGR_COLOR);
  });

  it('TERM=dumb: plain lines, no escape codes at all', async () => {
    const r = await inPty({ cols: 100, rows: 40 }, ['--store', store, 'verify'], { TERM: 'dumb', REGBUCKET_PROGRESS_INTERVAL: '0' });
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toContain(ESC);
    expect(r.out).toMatch(/^\[00:\d\d\] verify: /m);
  });

  it('--progress none: nothing but the result', async () => {
    const r = await inPty({ cols: 100, rows: 40 }, ['--store', store, '--progress', 'none', 'verify']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toContain(ESC);
    expect(r.out).not.toContain('verify:');
  });

  it('--json: only the document, no progress', async () => {
    const r = await inPty({ cols: 100, rows: 40 }, ['--store', store, '--json', 'ls', 'app']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toContain(ESC);
    expect(JSON.parse(r.out.replace(/\r\n/g, '\n'))).toHaveProperty('repositories');
  });
});
