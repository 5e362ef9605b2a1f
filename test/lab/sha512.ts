// An image whose layer is named by its sha512 digest (as registry 2.8.2 accepts it), and a blob
// upload to the real registry by any digest: what the sha512 tests of gc and verify share.
import { createHash } from 'node:crypto';
import { expect } from 'vitest';

export const hash = (alg: string, b: Buffer): string => `${alg}:${createHash(alg).update(b).digest('hex')}`;

export interface Sha512Image {
  config: Buffer;
  /** The manifest's bytes: an OCI image manifest naming the layer by `l512`. */
  manifest: Buffer;
  l512: string;
  l256: string;
}

export function sha512Image(layer: Buffer): Sha512Image {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [hash('sha256', layer)] } }));
  const l512 = hash('sha512', layer);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: hash('sha256', config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l512, size: layer.length }],
    }),
  );
  return { config, manifest, l512, l256: hash('sha256', layer) };
}

/** A monolithic upload to the registry, closed with `?digest=` (sha512 accepted by 2.8.2). */
export async function pushBlob(host: string, repo: string, bytes: Buffer, digest: string): Promise<void> {
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  expect(start.status).toBe(202);
  const loc = new URL(start.headers.get('location')!, `http://${host}`);
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', body: new Uint8Array(bytes), headers: { 'content-type': 'application/octet-stream' } });
  expect(put.status, await put.text()).toBe(201);
}
