// docs/commands/*.md against the command definitions: every command has a page in the man-page
// shape, and its SYNOPSIS, OPTIONS and EXAMPLES blocks are what the definitions generate now
// (an option added without `npm run docs` fails here). The man pages built from the pages render.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { markdownToRoff } from '../../src/cli/man.js';
import { blockNames, generatedBlocks, refreshPage } from '../../src/cli/reference.js';
import { REPO_ROOT } from '../lab/cli.js';
import { run } from '../lab/exec.js';

const DIR = join(REPO_ROOT, 'docs', 'commands');
const SECTIONS = ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'EXAMPLES', 'EXIT STATUS', 'SEE ALSO'];
const program = buildProgram();
const commands = program.commands.filter((c) => c.name() !== 'help');

describe('docs/commands', () => {
  for (const cmd of commands) {
    it(`${cmd.name()}.md: man-page sections, generated blocks match the definition`, () => {
      const file = join(DIR, `${cmd.name()}.md`);
      expect(existsSync(file), `${file} missing: run npm run docs`).toBe(true);
      const page = readFileSync(file, 'utf8');
      const headings = [...page.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
      for (const s of SECTIONS) expect(headings, `${cmd.name()}.md lacks ## ${s}`).toContain(s);
      expect(blockNames(page).sort()).toEqual(['examples', 'options', 'synopsis']);
      expect(page, `${cmd.name()}.md drifted from src/cli/commands/${cmd.name()}.ts: run npm run docs`).toBe(refreshPage(page, generatedBlocks(program, cmd)));
      for (const o of cmd.options.filter((x) => !x.hidden)) expect(page).toContain(`\`${o.flags}\``);
    });
  }

  it('regbucket.md lists every command and every global option', () => {
    const page = readFileSync(join(DIR, 'regbucket.md'), 'utf8');
    expect(page).toBe(refreshPage(page, generatedBlocks(program, program)));
    for (const c of commands) expect(page).toContain(`(${c.name()}.md)`);
    for (const o of program.options.filter((x) => !x.hidden)) expect(page).toContain(`\`${o.flags}\``);
  });

  it('no page for a command that does not exist', () => {
    const names = new Set(['regbucket', ...commands.map((c) => c.name())]);
    for (const f of readdirSync(DIR)) expect(names, `${f} documents no command`).toContain(f.replace(/\.md$/, ''));
  });

  it('package.json installs a man page for every page', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { man: string[] };
    const pages = readdirSync(DIR).map((f) => (f === 'regbucket.md' ? './man/man1/regbucket.1' : `./man/man1/regbucket-${f.replace(/\.md$/, '')}.1`));
    expect([...pkg.man].sort()).toEqual(pages.sort());
  });

  it('every page becomes a man page man(1) renders without warnings (a JSON shape wider than the page may overflow)', async () => {
    for (const f of readdirSync(DIR)) {
      const roff = markdownToRoff(readFileSync(join(DIR, f), 'utf8'), '2026-01-01', '0.0.0');
      expect(roff).toMatch(/^\.TH "REGBUCKET/);
      const r = await run('groff', ['-man', '-Tutf8', '-ww', '-Wbreak', '-z'], { input: roff });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr, `${f}: ${r.stderr}`).toBe('');
    }
  });
});
