// A store is served by registry 2.8, which has no referrers API: clients (cosign, oras, regbucket's
// own pull and copy) find an image's referrers through the subject's sha256-<hex> tag. A push of a
// layout or bundle that carries referrers without such a tag writes it; a push that finds it
// complete writes nothing; a tag of that name that is not a referrers index is left alone.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { regbucketOk } from '../lab/cli.js';
import { LayoutWriter } from '../lab/images.js';
import { tempDir } from '../lab/tools.js';

const repoDir = (store: string, repo: string) => join(store, 'docker/registry/v2/repositories', repo);
const tagLink = (store: string, repo: string, tag: string) => join(repoDir(store, repo), '_manifests/tags', tag, 'current/link');
const blob = (store: string, digest: string) => readFileSync(join(store, 'docker/registry/v2/blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data'));

async function layoutWithReferrers(): Promise<{ dir: string; subject: string; sig: string; sbom: string }> {
  const dir = join(tempDir(), 'layout');
  const w = new LayoutWriter(dir);
  const index = await w.image({ platforms: ['linux/amd64', 'linux/arm64'], layers: 1, layerSize: 2048, ref: 'app' });
  const sig = w.referrer(index);
  const sbom = w.referrer(index, 'application/spdx+json');
  w.write();
  return { dir, subject: index.digest, sig: sig.digest, sbom: sbom.digest };
}

function listedReferrers(store: string, repo: string, subject: string): { digest: string; artifactType?: string }[] {
  const digest = readFileSync(tagLink(store, repo, `sha256-${subject.slice(7)}`), 'utf8');
  const index = JSON.parse(blob(store, digest).toString('utf8')) as { mediaType: string; manifests: { digest: string; artifactType?: string }[] };
  expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
  return index.manifests;
}

describe('push writes the referrers tag a registry without the referrers API needs', () => {
  it('a layout whose referrers have no tag: the tag lists them; pull and copy out of the store then bring them', async () => {
    const { dir, subject, sig, sbom } = await layoutWithReferrers();
    const store = tempDir();
    await regbucketOk(['--store', store, 'push', `oci:${dir}:app`, 'lib/app:v1']);
    const listed = listedReferrers(store, 'lib/app', subject);
    expect(listed.map((l) => l.digest).sort()).toEqual([sig, sbom].sort());
    expect(listed.find((l) => l.digest === sbom)?.artifactType).toBe('application/spdx+json');

    const other = tempDir();
    await regbucketOk(['--store', store, 'copy', 'lib/app:v1', other]);
    for (const d of [sig, sbom]) expect(existsSync(join(repoDir(other, 'lib/app'), '_manifests/revisions/sha256', d.slice(7), 'link'))).toBe(true);

    const bundle = join(tempDir(), 'bundle.tar');
    await regbucketOk(['--store', store, 'pull', 'lib/app:v1', `oci-archive:${bundle}`]);
    const third = tempDir();
    await regbucketOk(['--store', third, 'push', `oci-archive:${bundle}`, 'lib/app:v1']);
    expect(
      listedReferrers(third, 'lib/app', subject)
        .map((l) => l.digest)
        .sort(),
    ).toEqual([sig, sbom].sort());
  });

  it('a second push writes no tag; a tag lost after the referrers arrived (a cut run) is written again', async () => {
    const { dir, subject } = await layoutWithReferrers();
    const store = tempDir();
    await regbucketOk(['--store', store, 'push', `oci:${dir}:app`, 'lib/app:v1']);
    const tag = `sha256-${subject.slice(7)}`;
    const first = readFileSync(tagLink(store, 'lib/app', tag), 'utf8');

    const again = await regbucketOk(['--store', store, '--json', 'push', `oci:${dir}:app`, 'lib/app:v1']);
    expect(again.json<{ stats: { manifestsWritten: number } }>().stats.manifestsWritten).toBe(0);
    expect(readFileSync(tagLink(store, 'lib/app', tag), 'utf8')).toBe(first);

    rmSync(join(repoDir(store, 'lib/app'), '_manifests/tags', tag), { recursive: true });
    await regbucketOk(['--store', store, 'push', `oci:${dir}:app`, 'lib/app:v1']);
    expect(readFileSync(tagLink(store, 'lib/app', tag), 'utf8')).toBe(first);
  });

  it('a sha256-<hex> tag that is not a referrers index is left alone', async () => {
    const { dir, subject } = await layoutWithReferrers();
    const store = tempDir();
    const tag = `sha256-${subject.slice(7)}`;
    // Someone tagged an ordinary image with the subject's referrers tag name.
    const plain = join(tempDir(), 'plain');
    const w = new LayoutWriter(plain);
    const image = await w.image({ layers: 1, layerSize: 512, ref: 'x' });
    w.write();
    await regbucketOk(['--store', store, 'push', `oci:${plain}:x`, `lib/app:${tag}`]);
    await regbucketOk(['--store', store, 'push', `oci:${dir}:app`, 'lib/app:v1']);
    expect(readFileSync(tagLink(store, 'lib/app', tag), 'utf8')).toBe(image.digest);
  });
});
