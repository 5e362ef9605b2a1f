import { readdirSync, rmSync } from 'node:fs';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import { tempDir } from '../lab/tools.js';
import { driverConformance } from './conformance.js';

/** Temp files (`<name>.<uuid>.tmp`) and staging directories (`.regbucket-staging-*`) anywhere below the root. */
function leftovers(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((rel) => {
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    return name.endsWith('.tmp') || name.startsWith('.regbucket-staging-');
  });
}

driverConformance('filesystem', async () => {
  const root = tempDir('regbucket-fsdriver-');
  return {
    driver: new FilesystemDriver(root),
    largeSize: 3 * 1024 * 1024,
    leftovers: async () => leftovers(root),
    cleanup: async () => rmSync(root, { recursive: true, force: true }),
  };
});
