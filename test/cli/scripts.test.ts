// Output for scripts (ls, inspect, du: --format, --no-headers, --bytes, -q) and -v/-vv (storage
// request counts at the end, each request as it is made), on a directory store and on S3.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { LayoutWriter, type Blob } from '../lab/images.js';
import { freshS3Store } from '../lab/swift.js';
import { tempDir } from '../lab/tools.js';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';

let layout: string;
let store: string;
let one: Blob;
let multi: Blob;

const rows = (stdout: string): string[][] =>
  stdout
    .trimEnd()
    .split('\n')
    .map((l) => l.split('\t'));

describe('output for scripts', { timeout: 300_000 }, () => {
  beforeAll(async () => {
    const base = tempDir('regbucket-scripts-');
    layout = join(base, 'layout');
    store = join(base, 'store');
    const w = new LayoutWriter(layout);
    one = await w.image({ ref: '1.0', layers: 1, layerSize: 3000 });
    multi = await w.image({ ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 1, layerSize: 100 });
    w.write();
    await regbucketOk(['--store', store, 'push', `oci:${layout}:1.0`, 'app:1.0']);
    await regbucketOk(['--store', store, 'push', `oci:${layout}:multi`, 'app:multi']);
    await regbucketOk(['--store', store, 'push', `oci:${layout}:1.0`, 'team/api:v1']);
  });

  it('ls piped: tsv with a header, exact values; --no-headers drops it', async () => {
    const s = ['--store', store];
    expect((await regbucketOk([...s, 'ls'])).stdout).toBe('REPOSITORY\tTAGS\napp\t2\nteam/api\t1\n');
    expect((await regbucketOk([...s, 'ls', '--no-headers'])).stdout).toBe('app\t2\nteam/api\t1\n');
    const tags = rows((await regbucketOk([...s, 'ls', '--no-headers', 'app'])).stdout);
    expect(tags.map((r) => r.slice(0, 4))).toEqual([
      ['1.0', one.digest, MANIFEST, '-'],
      ['multi', multi.digest, INDEX, 'linux/amd64,linux/arm64'],
    ]);
    for (const r of tags) {
      expect(r[4]).toMatch(/^\d+$/); // bytes, not "2.9 KiB"
      expect(r[5]).toMatch(ISO); // push time, not "3m ago"
    }
    const j = (await regbucketOk([...s, '--json', 'ls', 'app'])).json<{ repositories: { tags: { size: number }[] }[] }>();
    expect(tags.map((r) => Number(r[4]))).toEqual(j.repositories[0]!.tags.map((t) => t.size));
  });

  it('ls --format table, with --bytes and --no-headers, when asked for by name on a pipe', async () => {
    const t = (await regbucketOk(['--store', store, 'ls', '--format', 'table', 'app'])).stdout;
    expect(t).toContain('│ TAG');
    expect(t).toMatch(/KiB/);
    expect(t).toMatch(/ ago /);
    const b = (await regbucketOk(['--store', store, 'ls', '--format', 'table', '--bytes', '--no-headers', 'app'])).stdout;
    expect(b).not.toContain('TAG');
    expect(b).not.toMatch(/KiB/);
  });

  it('--format json is --json, errors included', async () => {
    const a = await regbucketOk(['--store', store, 'ls', '--format', 'json', 'app']);
    const b = await regbucketOk(['--store', store, '--json', 'ls', 'app']);
    const strip = (o: unknown) => JSON.stringify(o, (k, v: unknown) => (k === 'pushed' ? undefined : v));
    expect(strip(a.json())).toBe(strip(b.json()));
    const e = await regbucket(['--store', store, 'inspect', '--format', 'json', 'app:nope']);
    expect(e.code).toBe(1);
    expect(e.json<{ error: { kind: string } }>().error.kind).toBe('not-found');
  });

  it('-q prints references only, one a line', async () => {
    const s = ['--store', store, '-q'];
    expect((await regbucketOk([...s, 'ls'])).stdout).toBe('app\nteam/api\n');
    expect((await regbucketOk([...s, 'ls', 'app', 'team/api'])).stdout).toBe('app:1.0\napp:multi\nteam/api:v1\n');
    expect((await regbucketOk([...s, 'ls', '--all', '--tag', '^m'])).stdout).toBe('app:multi\n');
    expect((await regbucketOk([...s, 'inspect', 'app:multi'])).stdout).toBe(`app@${multi.digest}\n`);
    expect((await regbucketOk([...s, 'du', '--sort', 'name'])).stdout).toBe('app\nteam/api\n');
  });

  it('-q on write commands prints each reference written as repo:tag@digest', async () => {
    const s = ['--store', join(tempDir('regbucket-scripts-write-'), 'store'), '-q'];
    expect((await regbucketOk([...s, 'push', `oci:${layout}:multi`, 'app:multi'])).stdout).toBe(`app:multi@${multi.digest}\n`);
    expect((await regbucketOk([...s, 'push', `oci:${layout}:1.0`, 'q/pushed:a'])).stdout).toBe(`q/pushed:a@${one.digest}\n`);
    expect((await regbucketOk([...s, 'tag', 'q/pushed:a', 'b', 'c'])).stdout).toBe(`q/pushed:b@${one.digest}\nq/pushed:c@${one.digest}\n`);
    const other = tempDir('regbucket-scripts-copy-');
    expect((await regbucketOk([...s, 'copy', 'app:multi', `${other}//mirror/app`])).stdout).toBe(`mirror/app:multi@${multi.digest}\n`);
    const r = await regbucketOk([...s, 'delete', 'q/pushed:c']);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('');
  });

  it('du: tsv rows of exact values, no totals; table totals say their unit with --bytes', async () => {
    const r = rows((await regbucketOk(['--store', store, 'du', '--sort', 'name'])).stdout);
    expect(r[0]).toEqual(['REPOSITORY', 'BYTES', 'EXCLUSIVE', 'SHARED', 'RECLAIMABLE', 'BLOBS', 'UPLOADS', 'UPLOAD_BYTES']);
    expect(r.map((x) => x[0])).toEqual(['REPOSITORY', 'app', 'team/api']);
    const j = (await regbucketOk(['--store', store, '--json', 'du', '--sort', 'name'])).json<{ repositories: { bytes: number; exclusiveBytes: number }[] }>();
    expect(r.slice(1).map((x) => [Number(x[1]), Number(x[2])])).toEqual(j.repositories.map((x) => [x.bytes, x.exclusiveBytes]));
    const t = (await regbucketOk(['--store', store, 'du', '--format', 'table', '--bytes'])).stdout;
    expect(t).toMatch(/^store: \d+ bytes in \d+ blobs/m);
  });

  it('inspect --format tsv: a field a line, a descriptor a line', async () => {
    const r = rows((await regbucketOk(['--store', store, 'inspect', '--no-headers', 'app:multi'])).stdout);
    expect(r.find((x) => x[0] === 'digest')).toEqual(['digest', multi.digest]);
    expect(r.find((x) => x[0] === 'kind')).toEqual(['kind', 'index']);
    const children = r.filter((x) => x[0] === 'manifest');
    expect(children.map((x) => [x[2], x[3], x[4]])).toEqual([
      [expect.stringMatching(/^\d+$/), MANIFEST, 'linux/amd64'],
      [expect.stringMatching(/^\d+$/), MANIFEST, 'linux/arm64'],
    ]);
    const text = (await regbucketOk(['--store', store, 'inspect', '--format', 'table', 'app:1.0'])).stdout;
    expect(text).toMatch(/^digest: +sha256:/m);
  });
});

/** `storage requests (<url>): a 1, b 2; 3 in all` lines of stderr, parsed. */
function summaries(stderr: string): { url: string; counts: Record<string, number>; total: number }[] {
  return [...stderr.matchAll(/^regbucket: storage requests \((.*)\): (.*); (\d+) in all$/gm)].map((m) => ({
    url: m[1]!,
    counts: Object.fromEntries(m[2]!.split(', ').map((kv) => [kv.split(' ')[0]!, Number(kv.split(' ')[1])])),
    total: Number(m[3]),
  }));
}

function requestLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('regbucket: request: '));
}

describe('-v and -vv', { timeout: 300_000 }, () => {
  it('on a directory: counts per driver operation; -vv prints as many requests as -v counts', async () => {
    for (const args of [['ls', 'app'], ['inspect', 'app:multi'], ['verify', '--no-hash'], ['gc', '--dry-run'], ['du']]) {
      const v = await regbucketOk(['--store', store, '-v', ...args]);
      const [sum, ...more] = summaries(v.stderr);
      expect(more, args.join(' ')).toEqual([]);
      expect(sum!.url).toBe(store);
      expect(sum!.total).toBe(Object.values(sum!.counts).reduce((a, b) => a + b, 0));
      expect(sum!.total).toBeGreaterThan(0);
      expect(requestLines(v.stderr)).toEqual([]);
      const vv = await regbucketOk(['--store', store, '-vv', ...args]);
      const lines = requestLines(vv.stderr);
      expect(lines.length, args.join(' ')).toBe(summaries(vv.stderr)[0]!.total);
      for (const l of lines) expect(l).toMatch(/^regbucket: request: filesystem [a-zA-Z]+( \/\S*)?/);
      // Operation names in the lines are those counted.
      const ops = new Set(lines.map((l) => l.split(' ')[3]));
      expect([...ops].sort()).toEqual(Object.keys(summaries(vv.stderr)[0]!.counts).sort());
    }
  });

  it('stdout is unchanged by -v (counts go to stderr), with --json too', async () => {
    const plain = await regbucketOk(['--store', store, '--json', 'ls', 'app']);
    const v = await regbucketOk(['--store', store, '--json', '-vv', 'ls', 'app']);
    expect(v.json()).toEqual(plain.json());
    expect(summaries(v.stderr)).toHaveLength(1);
  });

  it('on S3: counts per S3 operation (every attempt), -vv each request with its key', async () => {
    const s3 = await freshS3Store({ prefix: 'verbose', tag: 'verbose' });
    const push = await regbucketOk([...s3.args, '-v', 'push', `oci:${layout}:1.0`, 'app:1.0'], s3.env);
    const [p] = summaries(push.stderr);
    expect(p!.url).toBe(s3.url);
    expect(p!.counts.PutObject).toBeGreaterThan(0);
    const vv = await regbucketOk([...s3.args, '-vv', 'ls', 'app'], s3.env);
    const [sum] = summaries(vv.stderr);
    expect(Object.keys(sum!.counts)).toContain('ListObjectsV2');
    const lines = requestLines(vv.stderr);
    expect(lines.length).toBe(sum!.total);
    expect(lines.some((l) => /^regbucket: request: s3 ListObjectsV2 verbose\/docker\/registry\/v2\/repositories\/app\//.test(l))).toBe(true);
  });
});
