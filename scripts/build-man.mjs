// Builds man/man1/regbucket*.1 from docs/commands/*.md (run by npm run build, so prepack ships
// them; package.json "man" installs them). Uses the compiled dist/cli/man.js.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { markdownToRoff } from '../dist/cli/man.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const docs = join(root, 'docs', 'commands');
const out = join(root, 'man', 'man1');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
// The date of the release, not of the build: reproducible pages.
const date = process.env.SOURCE_DATE_EPOCH ? new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000).toISOString().slice(0, 10) : '';
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const f of readdirSync(docs).filter((f) => f.endsWith('.md'))) {
  const name = f === 'regbucket.md' ? 'regbucket' : `regbucket-${f.slice(0, -3)}`;
  writeFileSync(join(out, `${name}.1`), markdownToRoff(readFileSync(join(docs, f), 'utf8'), date, version));
}
