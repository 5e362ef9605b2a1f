import { rmSync } from 'node:fs';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import { tempDir } from '../lab/tools.js';
import { driverConformance } from './conformance.js';

driverConformance('filesystem', async () => {
  const root = tempDir('regbucket-fsdriver-');
  return { driver: new FilesystemDriver(root), largeSize: 3 * 1024 * 1024, cleanup: async () => rmSync(root, { recursive: true, force: true }) };
});
