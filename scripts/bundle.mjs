// Bundles the CLI into CommonJS files in dist/bundle/, which bin/regbucket.cjs loads.
// Why: start-up (bench/startup.ts, bench/RESULTS.md). Node 20 pays for starting its ES module
// loader and for resolving and reading each of ~100 module files; and compiling one bundle of
// everything costs more than all of that. So: one small file for the CLI itself (commander, the
// command definitions, the drivers it opens) and one per command module, required only when
// that command runs. src/errors.ts is its own file, shared by all: the CLI maps errors to exit
// codes with instanceof. The AWS SDK stays outside (large, and loaded only for s3:// stores).
// Source maps go beside each file; REGBUCKET_DEBUG=1 turns them on, so stack traces name src/*.ts.
import { build } from 'esbuild';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const out = join(root, 'dist', 'bundle');
const errorsTs = join(src, 'errors.ts');
const commands = readdirSync(join(src, 'commands'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3));

/** Imports that cross files: to errors.ts, and (from the definitions) to a command module. */
const crossFiles = {
  name: 'regbucket-files',
  setup(b) {
    b.onResolve({ filter: /errors\.js$/ }, (a) => {
      const target = join(a.resolveDir, a.path).replace(/\.js$/, '.ts');
      return target === errorsTs ? { path: './errors.cjs', external: true } : undefined;
    });
    // A command module is a file of its own, loaded with require when the command runs: an
    // import() of a file would start Node's ES module loader, the cost this bundling avoids.
    b.onResolve({ filter: /\/commands\/[a-z-]+\.js$/ }, (a) =>
      a.importer.startsWith(join(src, 'cli', 'commands')) && a.kind === 'dynamic-import' ? { path: a.path.split('/').pop().replace(/\.js$/, ''), namespace: 'command-file' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'command-file' }, (a) => ({ contents: `module.exports = require('./cmd-${a.path}.cjs');`, loader: 'js' }));
    b.onResolve({ filter: /^\.\/cmd-[a-z-]+\.cjs$/ }, (a) => ({ path: a.path, external: true }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: 'external',
  sourcesContent: false,
  external: ['@aws-sdk/*'],
  // Sources use import.meta.url (createRequire, package.json); here it is the bundle file's URL.
  define: { 'import.meta.url': '__regbucketFileUrl' },
  banner: { js: "const __regbucketFileUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
  plugins: [crossFiles],
};

await Promise.all([
  build({ ...common, entryPoints: [join(src, 'cli', 'main.ts')], outfile: join(out, 'regbucket.cjs') }),
  build({ ...common, entryPoints: [errorsTs], outfile: join(out, 'errors.cjs'), plugins: [] }),
  ...commands.map((c) => build({ ...common, entryPoints: [join(src, 'commands', `${c}.ts`)], outfile: join(out, `cmd-${c}.cjs`) })),
]);
