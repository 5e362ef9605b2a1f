// vitest globalSetup: compile src/ to dist/ once, so CLI tests run the real binary.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './cli.js';

export default function setup(): void {
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO_ROOT, 'tsconfig.json')], {
    stdio: 'inherit',
  });
}
