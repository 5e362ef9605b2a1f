// tag, delete, ls and inspect through the built binary: invalid input refused with nothing
// written, delete's refusal and --force, --dry-run printing the plan the real run carries out,
// ls on nested repositories and its JSON shape, inspect --raw byte for byte.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, regbucket, regbucketOk } from '../lab/cli.js';
import { makeLayout, type Blob } from '../lab/images.js';
import { tempDir } from '../lab/tools.js';
import { snapshot } from './tree.js';

const V2 = 'docker/registry/v2';
const blobPath = (d: string): string => `${V2}/blobs/sha256/${d.slice(7, 9)}/${d.slice(7)}/data`;

let work: string;
let pristine: string;
let single: Blob, multi: Blob;
let children: string[];
const copies: string[] = [];

/** A private copy of the pushed store. */
function store(): string {
  const dir = join(tempDir('regbucket-cmds-'), 'store');
  copies.push(dir);
  cpSync(pristine, dir, { recursive: true });
  return dir;
}

beforeAll(async () => {
  work = tempDir('regbucket-cmds-');
  const layout = join(work, 'layout');
  const { roots } = await makeLayout(layout, [
    { ref: 'single', layers: 2 },
    { ref: 'multi', platforms: ['linux/amd64', 'linux/arm64/v8'], layers: 1 },
  ]);
  [single, multi] = roots as [Blob, Blob];
  children = (JSON.parse(multi.bytes.toString()) as { manifests: { digest: string }[] }).manifests.map((c) => c.digest);
  pristine = join(work, 'store');
  for (const [ref, dest] of [
    ['single', 'app:single'],
    ['multi', 'app:multi'],
    ['single', 'a:one'],
    ['single', 'a/b:two'],
    ['multi', 'a/b/c:three'],
    ['multi', 'a/b/c:four'],
  ]) {
    await regbucketOk(['--store', pristine, 'push', `oci:${layout}:${ref}`, dest!]);
  }
  // Directories that are not repositories: an empty namespace, one with only _uploads.
  mkdirSync(join(pristine, V2, 'repositories/empty/ns'), { recursive: true });
  mkdirSync(join(pristine, V2, 'repositories/up/_uploads'), { recursive: true });
});

afterAll(() => {
  for (const d of [work, ...copies]) if (d) rmSync(d, { recursive: true, force: true });
});

describe('invalid input: exit 2, one clear line, nothing written', () => {
  const bad = ['../x', 'A/B', `app:${'t'.repeat(129)}`, '/abs/path', 'app:tag:x', `app@sha256:${'a'.repeat(63)}`];
  const cases: [string, (b: string) => string[]][] = [
    ['tag source', (b) => ['tag', b.includes(':') || b.includes('@') ? b : `${b}:one`, 'new']],
    ['tag target', (b) => ['tag', 'app:single', b.replace(/^app[:@]/, '')]],
    ['delete', (b) => ['delete', b.includes(':') || b.includes('@') ? b : `${b}:one`]],
    ['delete --force', (b) => ['delete', '--force', b]],
    ['ls', (b) => ['ls', b]],
    ['inspect', (b) => ['inspect', b]],
    ['inspect --raw', (b) => ['inspect', '--raw', b]],
  ];
  for (const [what, args] of cases) {
    it(what, async () => {
      const s = store();
      const before = snapshot(s);
      for (const b of bad) {
        const a = args(b);
        const r = await regbucket(['--store', s, ...a]);
        expect(r.code, `${a.join(' ')}: ${r.stderr}`).toBe(2);
        const lines = r.stderr.trimEnd().split('\n');
        expect(lines, `${a.join(' ')}`).toHaveLength(1);
        expect(lines[0]).toMatch(/^regbucket: error: (invalid|reference|repository name|digest|.*is not a digest)/);
        expect(r.stdout).toBe('');
      }
      expect(snapshot(s)).toEqual(before);
    });
  }

  it('a tag target that is a digest is not a tag', async () => {
    const s = store();
    const before = snapshot(s);
    const r = await regbucket(['--store', s, 'tag', 'app:single', `sha256:${'a'.repeat(64)}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid tag/);
    expect(snapshot(s)).toEqual(before);
  });

  it('one bad tag among good ones writes none of them', async () => {
    const s = store();
    const before = snapshot(s);
    const r = await regbucket(['--store', s, 'tag', 'app:single', 'good', '.bad']);
    expect(r.code).toBe(2);
    expect(snapshot(s)).toEqual(before);
  });

  it('missing things exit 1 naming them', async () => {
    const s = store();
    const before = snapshot(s);
    const missing = `sha256:${'b'.repeat(64)}`;
    const cases: [string[], RegExp][] = [
      [['tag', `app@${missing}`, 'x'], new RegExp(`manifest ${missing} is not in repository app`)],
      [['tag', 'app:nope', 'x'], /tag app:nope does not exist/],
      [['tag', `app@${single.digest}`.replace('app', 'a/b/c'), 'x'], /is not in repository a\/b\/c/],
      [['delete', 'app:nope'], /tag app:nope does not exist/],
      [['delete', `app@${missing}`], new RegExp(`manifest app@${missing} does not exist`)],
      [['ls', 'nope'], /repository nope is not in the store/],
      [['ls', 'empty'], /repository empty is not in the store/],
      [['inspect', 'app:nope'], /tag app:nope does not exist/],
    ];
    for (const [args, re] of cases) {
      const r = await regbucket(['--store', s, ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(re);
    }
    expect(snapshot(s)).toEqual(before);
  });

  it('a ref with no tag or digest is refused where one is needed', async () => {
    const s = store();
    const before = snapshot(s);
    for (const args of [
      ['tag', 'app', 'x'],
      ['delete', 'app'],
      ['delete', `app:multi@${multi.digest}`],
    ]) {
      const r = await regbucket(['--store', s, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
    }
    expect(snapshot(s)).toEqual(before);
  });
});

describe('regular expressions against tag names anyone who can push chooses', () => {
  // `^(a|aa)+$` backtracks exponentially on 50 a's and a '-': a backtracking engine never ends
  // (and, the event loop blocked, not even SIGINT stops it). Matching is linear time.
  const evil = `${'a'.repeat(50)}-`;
  it('prune --protect, --match, a policy file and ls --tag finish on a tag built to backtrack', async () => {
    const s = store();
    await regbucketOk(['--store', s, 'tag', 'app:single', evil]);
    const policy = join(tempDir('regbucket-policy-'), 'p.yaml');
    writeFileSync(policy, 'version: 1\npolicies:\n  - repositories: "**"\n    protect: "^(a|aa)+$"\n    rules: [{match: "^(a+)+$", keepLast: 0}]\n');
    for (const args of [
      ['prune', '--dry-run', '--keep-last', '0', '--protect', '^(a|aa)+$'],
      ['prune', '--dry-run', '--keep-last', '0', '--match', '^(a+)+$'],
      ['prune', '--dry-run', '--policy', policy],
      ['ls', 'app', '--tag', '^(a|aa)+$'],
    ]) {
      const r = await regbucket(['--store', s, ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const ls = await regbucket(['--store', s, '-q', 'ls', 'app', '--tag', '^(a|aa)+-$']);
    expect(ls.stdout.trim()).toBe(`app:${evil}`);
  });

  it('a policy file glob outside the grammar (a typo in capitals, 900 KB of it) is refused in one short line, not matched against nothing or echoed whole', async () => {
    const s = store();
    const before = snapshot(s);
    for (const glob of ['App/*', 'a[b', 'A'.repeat(900_000)]) {
      const policy = join(tempDir('regbucket-policy-'), 'p.yaml');
      writeFileSync(policy, `version: 1\npolicies:\n  - repositories: "${glob}"\n    rules: [{keepLast: 0}]\n`);
      const r = await regbucket(['--store', s, 'prune', '--policy', policy]);
      expect(r.code, r.stderr.slice(0, 300)).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.length).toBeLessThan(400);
      expect(r.stderr).toMatch(/policies\[0\]\.repositories\[0\]: ".*" is not a repository name or glob/);
    }
    expect(snapshot(s)).toEqual(before);
  });

  it('backreferences and lookarounds are refused in one line (exit 2) before anything is read', async () => {
    const s = store();
    const before = snapshot(s);
    for (const args of [
      ['prune', '--dry-run', '--keep-last', '0', '--protect', '(a)\\1'],
      ['prune', '--dry-run', '--keep-last', '0', '--match', '^(?!v)'],
      ['ls', 'app', '--tag', '(?<=x)a'],
    ]) {
      const r = await regbucket(['--store', s, ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/not a usable regular expression \(backreferences, lookarounds/);
    }
    expect(snapshot(s)).toEqual(before);
  });
});

describe('tag', () => {
  it('points several tags at a manifest, history entry first, and reports what moved', async () => {
    const s = store();
    const r = await regbucketOk(['--store', s, '--json', 'tag', 'app:multi', 'single', 'fresh']);
    expect(r.json()).toEqual({
      tagged: [
        { repo: 'app', tag: 'single', digest: multi.digest, previous: single.digest, changed: true },
        { repo: 'app', tag: 'fresh', digest: multi.digest, previous: null, changed: true },
      ],
    });
    const tags = join(s, V2, 'repositories/app/_manifests/tags');
    expect(readFileSync(join(tags, 'single/current/link'), 'utf8')).toBe(multi.digest);
    expect(readFileSync(join(tags, `single/index/sha256/${single.digest.slice(7)}/link`), 'utf8')).toBe(single.digest);
    expect(readFileSync(join(tags, `single/index/sha256/${multi.digest.slice(7)}/link`), 'utf8')).toBe(multi.digest);
    const again = await regbucketOk(['--store', s, '--json', 'tag', `app@${multi.digest}`, 'fresh']);
    expect(again.json<{ tagged: { changed: boolean }[] }>().tagged[0]!.changed).toBe(false);
  });
});

describe('delete', () => {
  it('refuses a manifest a kept index references, changes nothing, and deletes it with --force', async () => {
    const s = store();
    const before = snapshot(s);
    for (const flags of [[], ['--dry-run']]) {
      const r = await regbucket(['--store', s, 'delete', ...flags, `app@${children[0]}`]);
      expect(r.code).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`refusing to delete app@${children[0]}`);
      expect(r.stderr).toContain(`index ${multi.digest} (tag multi)`);
      expect(r.stderr).toContain('--force');
    }
    expect(snapshot(s)).toEqual(before);
    const r = await regbucketOk(['--store', s, '--json', 'delete', '--force', `app@${children[0]}`]);
    expect(r.json()).toEqual({
      dryRun: false,
      manifests: [{ repo: 'app', digest: children[0], mediaType: 'application/vnd.oci.image.manifest.v1+json', untag: [], referencedBy: [{ digest: multi.digest, tags: ['multi'] }] }],
      tags: [],
    });
    const rev = join(s, V2, `repositories/app/_manifests/revisions/sha256/${children[0]!.slice(7)}`);
    expect(snapshot(s).filter((p) => !before.includes(p))).toEqual([]);
    expect(before.filter((p) => !snapshot(s).includes(p))).toEqual([expect.stringMatching(new RegExp(`${children[0]!.slice(7)}/link `))]);
    expect(spawnSync('ls', [rev]).status).toBe(0); // the empty revision directory stays, as 2.8 leaves it
  });

  it('an index deleted with its children needs no --force; other repositories are not consulted', async () => {
    const s = store();
    const r = await regbucketOk(['--store', s, '--json', 'delete', `app@${multi.digest}`, ...children.map((c) => `app@${c}`)]);
    const plan = r.json<{ manifests: { digest: string; untag: string[] }[] }>();
    expect(plan.manifests.map((m) => m.digest)).toEqual([multi.digest, ...children]);
    expect(plan.manifests[0]!.untag).toEqual(['multi']);
    const ls = await regbucketOk(['--store', s, '--json', 'ls', 'a/b/c']);
    expect(ls.json<{ repositories: { tags: { digest: string }[] }[] }>().repositories[0]!.tags.map((t) => t.digest)).toEqual([multi.digest, multi.digest]);
  });

  it('--dry-run changes nothing and prints the plan the real run carries out', async () => {
    const s = store();
    await regbucketOk(['--store', s, 'tag', 'app:single', 'v1', 'v2']);
    const before = snapshot(s);
    const args = ['delete', `app@${single.digest}`, 'app:multi'];
    const dry = await regbucketOk(['--store', s, '--json', ...args, '--dry-run']);
    expect(snapshot(s)).toEqual(before);
    const dryHuman = await regbucketOk(['--store', s, ...args, '--dry-run']);
    expect(snapshot(s)).toEqual(before);
    const real = await regbucketOk(['--store', s, '--json', ...args]);
    expect({ ...dry.json<object>(), dryRun: false }).toEqual(real.json());
    expect(real.json()).toEqual({
      dryRun: false,
      manifests: [{ repo: 'app', digest: single.digest, mediaType: single.mediaType, untag: ['single', 'v1', 'v2'], referencedBy: [] }],
      tags: [
        { repo: 'app', tag: 'single', digest: single.digest, reason: 'manifest' },
        { repo: 'app', tag: 'v1', digest: single.digest, reason: 'manifest' },
        { repo: 'app', tag: 'v2', digest: single.digest, reason: 'manifest' },
        { repo: 'app', tag: 'multi', digest: multi.digest, reason: 'tag' },
      ],
    });
    expect(dryHuman.stdout).toContain(`would delete manifest app@${single.digest}`);
    expect(dryHuman.stdout).toContain('would untag app:multi');
    const tags = join(s, V2, 'repositories/app/_manifests/tags');
    expect(spawnSync('ls', [tags], { encoding: 'utf8' }).stdout.trim()).toBe('');
    // the manifest of the untagged tag stays
    expect((await regbucket(['--store', s, 'inspect', `app@${multi.digest}`])).code).toBe(0);
  });
});

describe('ls', () => {
  it('lists repositories, nested ones included, and not directories that are not repositories', async () => {
    const r = await regbucketOk(['--store', pristine, '--json', 'ls']);
    expect(r.json()).toEqual({
      repositories: [
        { name: 'a', tagCount: 1 },
        { name: 'a/b', tagCount: 1 },
        { name: 'a/b/c', tagCount: 2 },
        { name: 'app', tagCount: 2 },
      ],
    });
    const tsv = await regbucketOk(['--store', pristine, 'ls']);
    expect(tsv.stdout).toBe('REPOSITORY\tTAGS\na\t1\na/b\t1\na/b/c\t2\napp\t2\n');
  });

  it('lists tags with digest, media type, platforms and total size (JSON, TSV)', async () => {
    const r = await regbucketOk(['--store', pristine, '--json', 'ls', 'a/b/c', 'a']);
    const childBlobs = children.map((c) => {
      const m = JSON.parse(readFileSync(join(pristine, blobPath(c)), 'utf8')) as { config: { size: number }; layers: { size: number }[] };
      return m.config.size + m.layers.reduce((n, l) => n + l.size, 0);
    });
    const sm = JSON.parse(single.bytes.toString()) as { config: { size: number }; layers: { size: number }[] };
    const multiRow = { digest: multi.digest, mediaType: multi.mediaType, platforms: ['linux/amd64', 'linux/arm64/v8'], size: childBlobs[0]! + childBlobs[1]! };
    const pushed = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/); // the tag's push time, ISO 8601 UTC
    expect(r.json()).toEqual({
      repositories: [
        {
          name: 'a/b/c',
          tags: [
            { tag: 'four', ...multiRow, pushed },
            { tag: 'three', ...multiRow, pushed },
          ],
        },
        { name: 'a', tags: [{ tag: 'one', digest: single.digest, mediaType: single.mediaType, platforms: null, size: sm.config.size + sm.layers.reduce((n, l) => n + l.size, 0), pushed }] },
      ],
    });
    const tsv = await regbucketOk(['--store', pristine, 'ls', 'a']);
    const [head, row] = tsv.stdout.trimEnd().split('\n');
    expect(head).toBe('TAG\tDIGEST\tTYPE\tPLATFORMS\tSIZE\tPUSHED');
    expect(row!.split('\t').slice(0, 4)).toEqual(['one', single.digest, single.mediaType, '-']);
    const bare = await regbucketOk(['--store', pristine, '--json', 'ls', '--no-details', 'a']);
    expect(bare.json()).toEqual({ repositories: [{ name: 'a', tags: [{ tag: 'one', digest: single.digest, pushed }] }] });
  });

  it('--all lists every repository with its tags', async () => {
    const r = await regbucketOk(['--store', pristine, '--json', 'ls', '--all', '--no-details']);
    const all = r.json<{ repositories: { name: string; tags: { tag: string }[] }[] }>();
    expect(all.repositories.map((x) => [x.name, x.tags.map((t) => t.tag)])).toEqual([
      ['a', ['one']],
      ['a/b', ['two']],
      ['a/b/c', ['four', 'three']],
      ['app', ['multi', 'single']],
    ]);
    const tsv = await regbucketOk(['--store', pristine, 'ls', '--all']);
    expect(tsv.stdout.split('\n')[0]).toBe('REPOSITORY\tTAG\tDIGEST\tTYPE\tPLATFORMS\tSIZE\tPUSHED');
  });

  it('shows a tag whose manifest is gone, with a warning, and goes on', async () => {
    const s = store();
    rmSync(join(s, blobPath(single.digest)));
    const r = await regbucket(['--store', s, '--json', 'ls', 'app']);
    expect(r.code).toBe(0);
    const tags = r.json<{ repositories: { tags: { tag: string; size: number | null; problem?: string }[] }[] }>().repositories[0]!.tags;
    expect(tags.find((t) => t.tag === 'single')).toMatchObject({ size: null, problem: expect.stringContaining('is not in the store') });
    const human = await regbucket(['--store', s, 'ls', 'app']);
    expect(human.stderr).toContain('warning: app:single');
  });
});

describe('inspect', () => {
  it('--raw prints the stored manifest bytes exactly', () => {
    for (const ref of ['app:single', `app@${multi.digest}`, `app@${children[1]}`]) {
      const out = execFileSync(process.execPath, [BIN, '--store', pristine, 'inspect', '--raw', ref]);
      const digest = ref.includes('@') ? ref.split('@')[1]! : single.digest;
      expect(Buffer.compare(out, readFileSync(join(pristine, blobPath(digest))))).toBe(0);
    }
  });

  it('--json summarizes an index and an image', async () => {
    const idx = (await regbucketOk(['--store', pristine, '--json', 'inspect', 'app:multi'])).json<Record<string, unknown>>();
    expect(idx).toMatchObject({
      repository: 'app',
      reference: 'app:multi',
      digest: multi.digest,
      mediaType: multi.mediaType,
      kind: 'index',
      size: multi.size,
      config: null,
      layers: [],
      platforms: ['linux/amd64', 'linux/arm64/v8'],
      subject: null,
    });
    expect((idx.manifests as { digest: string; platform: string }[]).map((m) => [m.digest, m.platform])).toEqual([
      [children[0], 'linux/amd64'],
      [children[1], 'linux/arm64/v8'],
    ]);
    const img = (await regbucketOk(['--store', pristine, '--json', 'inspect', `app@${children[1]}`])).json<Record<string, unknown>>();
    expect(img).toMatchObject({ kind: 'image', platform: 'linux/arm64/v8', platforms: null });
    expect((img.layers as unknown[]).length).toBe(1);
    const human = await regbucketOk(['--store', pristine, 'inspect', '--format', 'table', 'app:single']);
    expect(human.stdout).toContain(`digest:     ${single.digest}`);
    expect(human.stdout).toContain('platform:   linux/amd64');
  });

  it('defaults to the tag latest', async () => {
    const s = store();
    await regbucketOk(['--store', s, 'tag', 'app:single', 'latest']);
    const r = await regbucketOk(['--store', s, '--json', 'inspect', 'app']);
    expect(r.json<{ digest: string }>().digest).toBe(single.digest);
  });
});

describe('store argument', () => {
  it('a directory with no registry storage is an error, not an empty store', async () => {
    const empty = tempDir('regbucket-empty-');
    writeFileSync(join(empty, 'x'), 'y');
    for (const args of [['ls'], ['tag', 'app:single', 'x'], ['delete', 'app:single'], ['inspect', 'app']]) {
      const r = await regbucket(['--store', empty, ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain('no registry storage');
    }
    rmSync(empty, { recursive: true, force: true });
  });
});
