// ls ages: each tag's push time (its current link's modification time) in --json as ISO 8601
// UTC, --created from the image config (an index: its newest child's), sorting by either,
// repository globs, --tag regexes and --omit-digest-tags; the flat listing (memory, as S3) gives
// the same push times as the tree listing (filesystem).
import { describe, expect, it } from 'vitest';
import { listAllTags } from '../../src/store/listing.js';
import { tagCurrentLinkPath } from '../../src/store/paths.js';
import { regbucketOk } from '../lab/cli.js';
import { tempDir } from '../lab/tools.js';
import { blob, filesystemStore, manifest, memoryStore, OCI_INDEX, OCI_MANIFEST, type TestStore } from '../gc/store-builder.js';

const T0 = Date.parse('2026-10-01T00:00:00Z');
const H = 3_600_000;

async function img(s: TestStore, repo: string, created: string, tag: string, pushedAt: number): Promise<{ digest: string; size: number; mediaType: string }> {
  const config = await blob(s.d, repo, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created })), 'application/vnd.oci.image.config.v1+json');
  const layer = await blob(s.d, repo, Buffer.from(`layer of ${repo}:${tag}`));
  const m = await manifest(s.d, repo, { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }, tag);
  await s.age(tagCurrentLinkPath(repo, tag), new Date(pushedAt));
  return m;
}

async function build(s: TestStore): Promise<void> {
  const a = await img(s, 'ci/app', '2026-09-01T10:00:00Z', 'pr-1', T0 + 3 * H);
  await img(s, 'ci/app', '2026-09-03T10:00:00Z', 'pr-2', T0 + 1 * H);
  const b = await img(s, 'ci/app', '2026-09-02T10:00:00Z', 'v1.0', T0 + 2 * H);
  const ix = await manifest(s.d, 'ci/app', { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [a, b] }, 'multi');
  await s.age(tagCurrentLinkPath('ci/app', 'multi'), new Date(T0 + 4 * H));
  await img(s, 'ci/app', '2026-09-04T10:00:00Z', `sha256-${ix.digest.slice(7)}.sig`, T0 + 5 * H);
  await img(s, 'other', '2026-09-05T10:00:00Z', 'latest', T0);
}

interface Row {
  tag: string;
  pushed: string | null;
  created?: string | null;
}

describe('ls ages', { timeout: 600_000 }, () => {
  it('push times, created times, sorting and filters through the CLI', async () => {
    const root = tempDir('regbucket-ls-ages-');
    await build(filesystemStore(root));
    const ls = async (...args: string[]): Promise<{ name: string; tags: Row[] }[]> =>
      (await regbucketOk(['--store', root, '--json', 'ls', ...args])).json<{ repositories: { name: string; tags: Row[] }[] }>().repositories;

    const byPush = await ls('ci/*', '--sort', 'pushed', '--no-details');
    expect(byPush.map((r) => r.name)).toEqual(['ci/app']);
    expect(byPush[0]!.tags.map((t) => [t.tag, t.pushed])).toEqual([
      [expect.stringMatching(/^sha256-[a-f0-9]{64}\.sig$/), new Date(T0 + 5 * H).toISOString()],
      ['multi', new Date(T0 + 4 * H).toISOString()],
      ['pr-1', new Date(T0 + 3 * H).toISOString()],
      ['v1.0', new Date(T0 + 2 * H).toISOString()],
      ['pr-2', new Date(T0 + 1 * H).toISOString()],
    ]);

    const byCreated = await ls('ci/app', '--created', '--sort', 'created', '--omit-digest-tags');
    expect(byCreated[0]!.tags.map((t) => [t.tag, t.created])).toEqual([
      ['pr-2', '2026-09-03T10:00:00.000Z'],
      ['multi', '2026-09-02T10:00:00.000Z'], // the newest of its children
      ['v1.0', '2026-09-02T10:00:00.000Z'],
      ['pr-1', '2026-09-01T10:00:00.000Z'],
    ]);

    const filtered = await ls('**', '--tag', '^(pr-|latest$)', '--no-details');
    expect(filtered.map((r) => [r.name, r.tags.map((t) => t.tag)])).toEqual([
      ['ci/app', ['pr-1', 'pr-2']],
      ['other', ['latest']],
    ]);
  });

  it('flat listings (as on S3) give the same push times as tree listings', async () => {
    const flat = memoryStore();
    const tree = filesystemStore();
    await build(flat);
    await build(tree);
    const times = async (s: TestStore): Promise<[string, string, number | undefined][]> =>
      (await listAllTags(s.d, 4)).flatMap((r) => r.tags.map((t): [string, string, number | undefined] => [r.name, t.tag, t.pushed]));
    const f = await times(flat);
    expect(f).toEqual(await times(tree));
    expect(f.every(([, , t]) => typeof t === 'number' && t >= T0)).toBe(true);
  });
});
