// Images in a live registry, put there by skopeo (the real client), for the mirror tests.
import { join } from 'node:path';
import { hexOf } from '../../src/image/digest.js';
import { digestOf, LayoutWriter, type Blob, type GenImage } from '../lab/images.js';
import { skopeo, skopeoCopy, tempDir } from '../lab/tools.js';

/** bcrypt (cost 4, the minimum: the registry checks it on every request) of HTPASSWD_PASSWORD. */
export const HTPASSWD_USER = 'mirror';
export const HTPASSWD_PASSWORD = 'Pa55-w0rd-mirror-Xq';
export const HTPASSWD = `${HTPASSWD_USER}:$2b$04$TZi3OR3L3slgTKdiM03IRuGVvq7buW8JcCQ1RKRw0fnj0IJKNvzHC\n`;

export interface Seeded {
  /** `repo:tag` -> root digest. */
  digests: Map<string, string>;
}

/**
 * Pushes `images` (name `repo:tag` -> spec) to the registry at `host` with skopeo (`--all` for
 * indexes), optionally with credentials.
 */
export async function seedRegistry(host: string, images: Record<string, GenImage>, creds?: string): Promise<Seeded> {
  const dir = join(tempDir('regbucket-seed-'), 'layout');
  const w = new LayoutWriter(dir);
  const roots = new Map<string, Blob>();
  // skopeo reads only OCI media types from a layout: docker schema2 images are converted on the way.
  for (const [name, spec] of Object.entries(images)) roots.set(name, await w.image({ ...spec, docker: false, ref: name.replace(/[/:]/g, '-') }));
  w.write();
  const extra = creds ? ['--dest-creds', creds] : [];
  const digests = new Map<string, string>();
  for (const [name, root] of roots) {
    const docker = images[name]!.docker ? ['--format', 'v2s2'] : [];
    await skopeoCopy(`oci:${dir}:${name.replace(/[/:]/g, '-')}`, `docker://${host}/${name}`, ['--all', ...docker, ...extra]);
    const credsFlag = creds ? ['--creds', creds] : [];
    digests.set(name, docker.length ? digestOf(Buffer.from(await skopeo(['inspect', '--tls-verify=false', ...credsFlag, '--raw', `docker://${host}/${name}`]))) : root.digest);
  }
  return { digests };
}

/**
 * An image with a signature in the registry, listed the way a registry without the referrers API
 * lists them (2.8): an index under the `sha256-<hex>` fallback tag.
 */
export async function seedSignedImage(host: string, repo: string, tag: string, spec: GenImage = { layers: 1 }): Promise<{ image: string; signature: string }> {
  const dir = join(tempDir('regbucket-seed-'), 'layout');
  const w = new LayoutWriter(dir);
  const image = await w.image({ ...spec, ref: 'img' });
  const sig = w.referrer(image);
  w.entries.pop(); // the signature travels in the fallback index, not as its own entry
  const fallback = `sha256-${hexOf(image.digest as `sha256:${string}`)}`;
  const index = w.add(
    'application/vnd.oci.image.index.v1+json',
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [w.desc(sig, { artifactType: 'application/vnd.example.signature' })] })),
  );
  w.entries.push({ ...w.desc(index), annotations: { 'org.opencontainers.image.ref.name': 'fallback' } });
  w.write();
  await skopeoCopy(`oci:${dir}:img`, `docker://${host}/${repo}:${tag}`, spec.platforms ? ['--all'] : []);
  await skopeoCopy(`oci:${dir}:fallback`, `docker://${host}/${repo}:${fallback}`, ['--all']);
  return { image: image.digest, signature: sig.digest };
}
