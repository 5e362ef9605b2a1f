// vitest globalSetup: compile src/ to dist/ and bundle it once, so CLI tests run the real binary.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './cli.js';

export default function setup(): void {
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO_ROOT, 'tsconfig.json')], {
    stdio: 'inherit',
  });
  // The bundles bin/regbucket.cjs runs (npm run build does both steps).
  execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'bundle.mjs')], { stdio: 'inherit' });
}
