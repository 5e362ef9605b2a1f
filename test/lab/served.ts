// The interop check both backends share: the real registry serves a tag with the digest
// regbucket wrote, skopeo copies it into a layout with that digest, and every platform of a
// multi-arch tag resolves.
import { join } from 'node:path';
import { expect } from 'vitest';
import { digestOf, refDigest } from './images.js';
import { skopeo, skopeoCopy, skopeoInspectRaw, tempDir } from './tools.js';

export async function expectServed(host: string, repoTag: string, digest: string, platforms: string[] = []): Promise<void> {
  const ref = `docker://${host}/${repoTag}`;
  expect(digestOf(await skopeoInspectRaw(ref))).toBe(digest);
  const out = join(tempDir(), 'out');
  await skopeoCopy(ref, `oci:${out}:served`, platforms.length > 0 ? ['--all'] : []);
  expect(refDigest(out, 'served')).toBe(digest);
  for (const platform of platforms) {
    const [os, arch] = platform.split('/') as [string, string];
    const raw = await skopeo(['inspect', '--tls-verify=false', '--override-arch', arch, '--override-os', os, ref]);
    expect(JSON.parse(raw).Architecture).toBe(arch);
  }
}

/**
 * The pull-back check both backends share: `pull` (regbucket with the store's arguments) exports
 * up/single:1 and up/multi:1 into a new OCI layout; the layout names them by the digests pushed,
 * skopeo reads both and copies the multi-arch one whole. Returns the layout.
 */
export async function expectPulledBack(pull: (args: string[]) => Promise<unknown>, roots: readonly { digest: string }[]): Promise<string> {
  const out = join(tempDir(), 'pulled');
  await pull(['pull', 'up/single:1', `oci:${out}:single`]);
  await pull(['pull', 'up/multi:1', `oci:${out}:multi`]);
  for (const [i, ref] of ['single', 'multi'].entries()) {
    expect(refDigest(out, ref)).toBe(roots[i]!.digest);
    expect(digestOf(await skopeoInspectRaw(`oci:${out}:${ref}`))).toBe(roots[i]!.digest);
  }
  await skopeoCopy(`oci:${out}:multi`, `oci:${join(tempDir(), 'copy')}:m`, ['--all']);
  return out;
}
