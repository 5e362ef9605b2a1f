// copy --all-repositories: a ten-repository store copied whole, filesystem to filesystem and to
// S3 (Swift); the real registry serves every tag from the copy with the same digest, and a second
// run writes nothing (counted by -v on a filesystem, by a counting proxy on S3).
import { rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { manyRepoStore } from '../lab/many-repos.js';
import { startProxy } from '../lab/proxy.js';
import { startRegistry } from '../lab/registry.js';
import { expectServed } from '../lab/served.js';
import { freshS3Store } from '../lab/swift.js';
import { skopeoInspectRaw, tempDir } from '../lab/tools.js';
import { digestOf } from '../lab/images.js';
import { blobSet, copyTree, fileSet, servedByRegistry } from '../reliability/harness.js';

const SLOW = 600_000;

interface AllJson {
  images: { source: string; destination: string; digest: string }[];
  stats: { blobsUploaded: number; blobsSkipped: number; manifestsWritten: number; bytesUploaded: number };
  repositories: { name: string; tagsCopied: number; tagsPresent: number; tagsFailed: number; error?: string }[];
  verified?: { blobs: number; bytes: number; bad: unknown[] };
}

/** The `storage requests (<url>): op n, ...` line -v prints for a store, as counts. */
function requestsOf(stderr: string, url: string): Record<string, number> {
  const line = stderr.split('\n').find((l) => l.startsWith(`regbucket: storage requests (${url}): `));
  if (!line) throw new Error(`no request counts for ${url} in: ${stderr}`);
  const out: Record<string, number> = {};
  for (const part of line
    .slice(line.indexOf('): ') + 3)
    .split(';')[0]!
    .split(', ')) {
    const [op, n] = part.split(' ');
    out[op!] = Number(n);
  }
  return out;
}

const WRITES = ['putContent', 'putStream', 'move', 'delete', 'deleteFiles', 'touch', 'createExclusive', 'removeEmptyDir'];

const byTag = (doc: AllJson): Record<string, string> => Object.fromEntries(doc.images.map((i) => [i.destination, i.digest]));

describe('copy --all-repositories', () => {
  let src: string;
  let tags: Map<string, string>;

  beforeAll(async () => {
    src = tempDir('regbucket-allrepos-src-');
    tags = await manyRepoStore(src);
  }, SLOW);

  it(
    'filesystem to filesystem: every repository, tag and referrer, blobs once; the registry serves the copy; a second run writes nothing',
    async () => {
      const dest = tempDir('regbucket-allrepos-dst-');
      const first = await regbucketOk(['--store', src, '--json', 'copy', '--all-repositories', dest]);
      const doc = first.json<AllJson>();
      expect(byTag(doc)).toEqual(Object.fromEntries(tags));
      expect(doc.repositories.map((r) => r.name)).toHaveLength(10);
      for (const r of doc.repositories) expect(r).toMatchObject({ tagsPresent: 0, tagsFailed: 0 });
      // Each blob of the source uploaded once; the shared layers linked into the other repositories.
      const blobs = blobSet(src);
      expect(blobSet(dest)).toEqual(blobs);
      expect(doc.stats.blobsUploaded + doc.stats.manifestsWritten).toBe(blobs.size);
      expect(doc.stats.blobsSkipped).toBe(2 * 8); // r1..r7 and multi link the two layers r0 uploaded
      // The same files as the store copied from: links, tags and their history included.
      expect(Object.fromEntries(fileSet(dest))).toEqual(Object.fromEntries(fileSet(src)));
      const served = await servedByRegistry(dest, tags.keys());
      expect(Object.fromEntries(served)).toEqual(Object.fromEntries(tags));

      const again = await regbucketOk(['--store', src, '-v', '--json', 'copy', '--all-repositories', dest]);
      const second = again.json<AllJson>();
      for (const r of second.repositories) expect(r).toMatchObject({ tagsCopied: 0, tagsFailed: 0 });
      expect(second.stats).toMatchObject({ blobsUploaded: 0, manifestsWritten: 0 });
      const counts = requestsOf(again.stderr, dest);
      for (const op of WRITES) expect(counts[op], `${op} on the second run`).toBeUndefined();
      console.log(`[copy-all fs] second run: ${JSON.stringify(counts)} on the destination, no write`);
    },
    SLOW,
  );

  it("--include-repo / --exclude-repo select with prune's globs; -q prints repo:tag@digest", async () => {
    const dest = tempDir('regbucket-allrepos-dst-');
    const r = await regbucketOk([
      '--store',
      src,
      '-q',
      'copy',
      '--all-repositories',
      '--include-repo',
      'team/**',
      '--exclude-repo',
      'team/multi',
      '--exclude-repo',
      'team/r?',
      '--include-repo',
      'lib/*',
      dest,
    ]);
    expect(r.stdout.trim().split('\n').sort()).toEqual(
      [...tags]
        .filter(([t]) => t.startsWith('lib/signed:'))
        .map(([t, d]) => `${t}@${d}`)
        .sort(),
    );
    const bad = await regbucket(['--store', src, 'copy', '--all-repositories', '--include-repo', 'Team/*', dest]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--include-repo "Team/*" is not a repository name or glob');
    const two = await regbucket(['--store', src, 'copy', '--all-repositories', 'team/r0', dest]);
    expect(two.code).toBe(2);
  });

  it('a failing repository does not stop the others: exit 1 and a line naming it; --verify re-hashes what arrived', async () => {
    const broken = tempDir('regbucket-allrepos-broken-');
    copyTree(src, broken);
    // A layer of team/multi that no other repository has, gone from the source.
    const dest = tempDir('regbucket-allrepos-dst-');
    const others = new Set<string>();
    for (const [t] of tags) if (!t.startsWith('team/multi:')) for (const l of await layersOf(broken, t)) others.add(l);
    const lone = (await layersOf(broken, 'team/multi:1')).find((l) => !others.has(l))!;
    unlinkSync(join(broken, 'docker/registry/v2/blobs/sha256', lone.slice(7, 9), lone.slice(7), 'data'));
    const r = await regbucket(['--store', broken, '--json', 'copy', '--all-repositories', '--verify', dest]);
    expect(r.code).toBe(1);
    const doc = r.json<AllJson>();
    expect(doc.repositories.find((x) => x.name === 'team/multi')).toMatchObject({ tagsCopied: 0, tagsFailed: 1 });
    expect(doc.repositories.filter((x) => x.tagsFailed > 0)).toHaveLength(1);
    expect(doc.images).toHaveLength(tags.size - 1);
    expect(doc.verified).toMatchObject({ bad: [] });
    expect(doc.verified!.blobs).toBe(blobSet(dest).size);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^regbucket: error: repository team\/multi: 1 of 1 tags not copied: blob sha256:[0-9a-f]{64} of store team\/multi is missing/)]);
    rmSync(broken, { recursive: true, force: true });
  });

  it(
    "filesystem to S3: the registry's s3 driver serves every tag with the same digest; a second run makes no write request",
    async () => {
      const s3 = await freshS3Store({ prefix: 'reg/all', tag: 'allrepos' });
      const first = await regbucketOk(['--store', src, '--s3-endpoint', s3.endpoint, '--json', 'copy', '--all-repositories', s3.url], s3.env);
      expect(byTag(first.json<AllJson>())).toEqual(Object.fromEntries(tags));
      const registry = await startRegistry({ storage: { s3: { endpoint: s3.endpoint, bucket: s3.bucket, rootdirectory: `/${s3.prefix}`, ...s3.credentials } } });
      try {
        for (const [t, digest] of tags) expect(digestOf(await skopeoInspectRaw(`docker://${registry.host}/${t}`)), t).toBe(digest);
        await expectServed(registry.host, 'team/multi:1', tags.get('team/multi:1')!, ['linux/amd64', 'linux/arm64']);
        await expectServed(registry.host, 'team/r3:v1', tags.get('team/r3:v1')!);
      } finally {
        await registry.stop();
      }
      const proxy = await startProxy({ target: s3.endpoint });
      try {
        const again = await regbucketOk(['--store', src, '--s3-endpoint', proxy.url, '--json', 'copy', '--all-repositories', s3.url], s3.env);
        expect(again.json<AllJson>().stats).toMatchObject({ blobsUploaded: 0, manifestsWritten: 0 });
        const writes = Object.keys(proxy.counts()).filter((k) => !/^(GET|HEAD) /.test(k));
        expect(writes).toEqual([]);
        console.log(`[copy-all s3] second run: ${proxy.total()} requests, all reads: ${JSON.stringify(proxy.counts())}`);
      } finally {
        await proxy.stop();
      }
      // And back, S3 to a directory: the same files as the store it started from.
      const back = tempDir('regbucket-allrepos-back-');
      await regbucketOk(['--store', s3.url, '--s3-endpoint', s3.endpoint, 'copy', '--all-repositories', back], s3.env);
      expect(Object.fromEntries(fileSet(back))).toEqual(Object.fromEntries(fileSet(src)));
    },
    SLOW,
  );
});

/** Layer digests of an image (every platform's, for an index), read through inspect --raw. */
async function layersOf(store: string, ref: string): Promise<string[]> {
  const raw = JSON.parse((await regbucketOk(['--store', store, 'inspect', '--raw', ref])).stdout) as { layers?: { digest: string }[]; manifests?: { digest: string }[] };
  const out = (raw.layers ?? []).map((l) => l.digest);
  const repo = ref.slice(0, ref.lastIndexOf(':'));
  for (const c of raw.manifests ?? []) out.push(...(await layersOf(store, `${repo}@${c.digest}`)));
  return out;
}
