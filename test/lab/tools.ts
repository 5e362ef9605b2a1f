// skopeo and umoci, the real clients the interop tests compare against.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { requireTool, runOk } from './exec.js';

const created: string[] = [];
process.once('exit', () => {
  if (process.env.REGBUCKET_KEEP_TEST_DIRS) return;
  for (const d of created) rmSync(d, { recursive: true, force: true });
});

/** A fresh temp directory, removed when the test process exits (REGBUCKET_KEEP_TEST_DIRS=1 keeps it). */
export function tempDir(prefix = 'regbucket-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  created.push(d);
  return d;
}

export async function skopeo(args: string[]): Promise<string> {
  requireTool('skopeo');
  return runOk('skopeo', ['--insecure-policy', ...args]);
}

/** skopeo copy with plain-http registries on loopback. */
export function skopeoCopy(src: string, dest: string, extra: string[] = []): Promise<string> {
  return skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', ...extra, src, dest]);
}

export async function skopeoInspectRaw(ref: string): Promise<Buffer> {
  const flags = ref.startsWith('docker://') ? ['--tls-verify=false'] : [];
  return Buffer.from(await skopeo(['inspect', ...flags, '--raw', ref]), 'utf8');
}

/** An image made by umoci: `layers` layers of random files, in an OCI layout at `dir:tag`. */
export async function umociImage(dir: string, tag: string, layers: number, bytesPerLayer = 64 * 1024): Promise<void> {
  requireTool('umoci');
  await runOk('umoci', ['init', '--layout', dir]);
  await runOk('umoci', ['new', '--image', `${dir}:${tag}`]);
  for (let i = 0; i < layers; i++) {
    const bundle = join(tempDir('regbucket-bundle-'), 'b');
    await runOk('umoci', ['unpack', '--rootless', '--image', `${dir}:${tag}`, bundle]);
    writeFileSync(join(bundle, 'rootfs', `layer-${i}.bin`), randomBytes(bytesPerLayer));
    await runOk('umoci', ['repack', '--image', `${dir}:${tag}`, bundle]);
  }
}
