// Regenerates the generated blocks of docs/commands/*.md from the command definitions
// (src/cli/commands/), and creates the page of a command that has none. `--check` changes
// nothing and exits 1 naming the pages that drifted (test/cli/docs.test.ts runs the same check).
// Run: npm run docs [-- --check]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProgram } from '../src/cli/main.js';
import { generatedBlocks, newPage, refreshPage } from '../src/cli/reference.js';

const dir = join(import.meta.dirname, '..', 'docs', 'commands');
const check = process.argv.includes('--check');
const program = buildProgram();
const drifted: string[] = [];
for (const cmd of [program, ...program.commands.filter((c) => c.name() !== 'help')]) {
  const file = join(dir, `${cmd === program ? 'regbucket' : cmd.name()}.md`);
  const before = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  const after = before === undefined ? newPage(program, cmd) : refreshPage(before, generatedBlocks(program, cmd));
  if (after === before) continue;
  drifted.push(file);
  if (!check) writeFileSync(file, after);
}
if (check && drifted.length) {
  console.error(`docs drifted from the command definitions: ${drifted.join(', ')}; run npm run docs`);
  process.exit(1);
}
for (const f of drifted) console.log(`wrote ${f}`);
