// Generates the example image for `npm run example`: a two-platform index and a single-platform
// image in an OCI layout, made locally (no network, no external tools).
import { rmSync } from 'node:fs';
import { makeLayout } from '../test/lab/images.js';

const dir = process.argv[2] ?? 'example/image';
rmSync(dir, { recursive: true, force: true });
await makeLayout(dir, [
  { ref: '1.0', platforms: ['linux/amd64', 'linux/arm64'], layers: 2, layerSize: 256 * 1024 },
  { ref: 'tools', layers: 3, layerSize: 128 * 1024 },
]);
console.log(`example OCI layout written to ${dir} (images 1.0 and tools)`);
