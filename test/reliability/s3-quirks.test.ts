// S3 servers that are wrong in the ways real ones are, through the lab proxy in front of Swift
// (test/lab/proxy.ts quirks): listings cut short and marked truncated without a continuation
// token (or with no entries at all), requests that never get an answer and answers that stall
// mid-body, a clock two hours off (the server's Date header, or this machine's clock), refused
// credentials, and console "folder" marker objects. Every run is bounded by --timeout and the
// test timeout; nothing is lost, exit codes are the documented ones.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand, CreateMultipartUploadCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket, type CliResult } from '../lab/cli.js';
import { makeLayout } from '../lab/images.js';
import { startProxy, type RunningProxy } from '../lab/proxy.js';
import { freshS3Store, type S3TestStore } from '../lab/swift.js';
import { tempDir } from '../lab/tools.js';
import { tagsComplete, verifyStore } from './harness.js';

const CLOCK_SHIFT = fileURLToPath(new URL('../lab/clock-shift.mjs', import.meta.url));
const TWO_HOURS = 2 * 3_600_000;

function oneLine(r: CliResult, where: string): string {
  const lines = r.stderr.trim().split('\n');
  expect(lines, `${where}: ${r.stderr}`).toHaveLength(1);
  expect(lines[0], where).toMatch(/^regbucket: error: /);
  return lines[0]!;
}

describe('S3 servers with quirks', () => {
  let work: string;
  let layout: string;
  let digests: Map<string, string>;
  let s3: S3TestStore;
  let proxy: RunningProxy;
  let raw: S3Client;

  beforeAll(async () => {
    work = tempDir('regbucket-s3-quirks-');
    layout = join(work, 'layout');
    const specs = [
      { ref: 'a', layers: 3, layerSize: 64 * 1024 },
      { ref: 'b', layers: 2, layerSize: 64 * 1024 },
      { ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 2, layerSize: 32 * 1024 },
      { ref: 'doomed', layers: 3, layerSize: 16 * 1024 },
      { ref: 'late', layers: 2, layerSize: 16 * 1024 },
      { ref: 'marked', layers: 2, layerSize: 16 * 1024 },
    ];
    const { roots } = await makeLayout(layout, specs);
    digests = new Map(specs.map((s, i) => [s.ref, roots[i]!.digest]));
    s3 = await freshS3Store({ tag: 'quirks', prefix: 'reg' });
    for (const [ref, tag] of [
      ['a', 'app:a'],
      ['b', 'app:b'],
      ['multi', 'multi:v1'],
      ['doomed', 'app:doomed'],
    ]) {
      const r = await regbucket([...s3.args, 'push', `oci:${layout}:${ref}`, tag!], s3.env);
      expect(r.code, r.stderr).toBe(0);
    }
    proxy = await startProxy({ target: s3.endpoint });
    raw = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: s3.credentials.region, credentials: s3.credentials, requestChecksumCalculation: 'WHEN_REQUIRED' });
  }, 300_000);
  afterAll(async () => {
    raw?.destroy();
    await proxy?.stop();
  });

  /** The CLI through the proxy. */
  const via = (args: string[], extra: string[] = [], env: Record<string, string> = {}) => regbucket(['--store', s3.url, '--s3-endpoint', proxy.url, ...extra, ...args], { ...s3.env, ...env });
  /** Straight to Swift. */
  const direct = (args: string[]) => regbucket([...s3.args, ...args], s3.env);
  const keys = async (): Promise<string[]> => {
    const d = s3.driver();
    try {
      const out: string[] = [];
      for await (const f of d.walk('/')) out.push(f.path);
      return out.sort();
    } finally {
      await d.close();
    }
  };
  const tags = async () => {
    const d = s3.driver();
    try {
      return Object.fromEntries(await tagsComplete(d));
    } finally {
      await d.close();
    }
  };

  it('listings cut short without a continuation token are continued after their last key: ls, gc and multipart purges see everything', async () => {
    proxy.quirks = { listPageLimit: 7 };
    proxy.reset();
    const want = await direct(['--json', 'ls']);
    expect(want.code, want.stderr).toBe(0);
    const got = await via(['--json', 'ls']);
    expect(got.code, got.stderr).toBe(0);
    expect(got.json()).toEqual(want.json());
    // Garbage: an image deleted by digest, and abandoned multipart uploads where the registry makes them.
    const del = await direct(['delete', `app@${digests.get('doomed')}`]);
    expect(del.code, del.stderr).toBe(0);
    for (let i = 0; i < 3; i++) {
      await raw.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: `reg/docker/registry/v2/repositories/app/_uploads/abandoned-${i}/data` }));
    }
    await new Promise((r) => setTimeout(r, 1100)); // Swift's times are whole seconds
    const plan = await direct(['--json', 'gc', '--dry-run', '--min-age', '0', '--uploads-older-than', '0']);
    expect(plan.code, plan.stderr).toBe(0);
    const viaPlan = await via(['--json', 'gc', '--dry-run', '--min-age', '0', '--uploads-older-than', '0']);
    expect(viaPlan.code, viaPlan.stderr).toBe(0);
    const p = plan.json<{ lists: { blobs: unknown[]; multipartUploads: unknown[] } }>();
    expect(viaPlan.json<typeof p>().lists).toEqual(p.lists);
    expect(p.lists.multipartUploads).toHaveLength(3);
    const before = await tags();
    const gc = await via(['--json', 'gc', '--min-age', '0', '--uploads-older-than', '0']);
    expect(gc.code, gc.stderr).toBe(0);
    const done = gc.json<{ lists: { blobs: unknown[]; multipartUploads: unknown[] } }>();
    expect(done.lists.blobs).toEqual(p.lists.blobs);
    expect(done.lists.multipartUploads).toHaveLength(3);
    expect(proxy.quirked().cut).toBeGreaterThan(5);
    expect(await tags()).toEqual(before);
    const v = await verifyStore(s3.args, s3.env);
    expect(v.problems).toEqual([]);
    console.log(
      `[s3-quirks listings] pages of 7 without tokens: ls equal, gc plan equal, deleted ${done.lists.blobs.length} blobs and 3 multipart uploads as planned; listings cut ${proxy.quirked().cut}`,
    );
  }, 300_000);

  it('a listing that says "more" with nothing to continue from fails loudly, and gc deletes nothing', async () => {
    const garbage = await direct(['push', `oci:${layout}:late`, 'app:late']);
    expect(garbage.code, garbage.stderr).toBe(0);
    const del = await direct(['delete', `app@${digests.get('late')}`]);
    expect(del.code, del.stderr).toBe(0);
    const before = await keys();
    proxy.quirks = { emptyTruncatedListings: true };
    for (const args of [['ls'], ['gc', '--min-age', '0'], ['verify']]) {
      const r = await via(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(oneLine(r, args.join(' '))).toMatch(/ListObjectsV2 s3:\/\/\S+: .*partial listing/);
    }
    expect(await keys()).toEqual(before);
    proxy.quirks = {};
  }, 300_000);

  it('requests that get no answer, and answers that stall mid-body, time out and are retried; without retries one line, exit 1', async () => {
    const out = join(work, 'pulled');
    const isGet = (op: string) => op === 'GetObject';
    proxy.quirks = { stallHeaders: { match: isGet, count: 2 } };
    proxy.reset();
    const a = await via(['pull', 'app:a', `oci:${out}:a`], ['--timeout', '2s', '--retries', '3']);
    expect(a.code, a.stderr).toBe(0);
    expect(proxy.quirked().headers).toBe(2);
    proxy.quirks = { stallBody: { match: isGet, count: 2, afterBytes: 1000 } };
    proxy.reset();
    const b = await via(['pull', 'app:b', `oci:${out}:b`], ['--timeout', '2s', '--retries', '3']);
    expect(b.code, b.stderr).toBe(0);
    expect(proxy.quirked().body).toBe(2);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests.map((m) => m.digest).sort()).toEqual([digests.get('a'), digests.get('b')].sort());
    // Writes too: a PutObject that never gets an answer is sent again.
    proxy.quirks = { stallHeaders: { match: (op) => op === 'PutObject', count: 1 } };
    const push = await via(['push', `oci:${layout}:b`, 'again:b'], ['--timeout', '2s', '--retries', '3']);
    expect(push.code, push.stderr).toBe(0);
    // --retries 0: the stall is the end, one line naming the operation, exit 1.
    for (const quirks of [{ stallHeaders: { match: isGet, count: 100 } }, { stallBody: { match: isGet, count: 100, afterBytes: 1000 } }]) {
      proxy.quirks = quirks;
      const r = await via(['pull', 'app:a', `oci:${join(work, 'never')}:a`], ['--timeout', '2s', '--retries', '0']);
      expect(r.code, r.stderr).toBe(1);
      expect(oneLine(r, JSON.stringify(Object.keys(quirks)))).toMatch(/GetObject s3:\/\/\S+.*(no answer for 2 s|connection lost|aborted|timed out)/);
    }
    proxy.quirks = {};
    expect(await tags()).toMatchObject({ 'app:a': digests.get('a'), 'app:b': digests.get('b'), 'again:b': digests.get('b') });
    const v = await verifyStore(s3.args, s3.env);
    expect(v.problems).toEqual([]);
  }, 300_000);

  it('a server whose Date header is two hours off: gc deletes nothing and says why in one line', async () => {
    const before = await keys();
    proxy.quirks = { dateOffsetMs: TWO_HOURS };
    const r = await via(['gc', '--min-age', '0']);
    proxy.quirks = {};
    expect(r.code, r.stderr).toBe(1);
    expect(oneLine(r, 'gc')).toMatch(/clock/);
    expect(await keys()).toEqual(before);
  }, 300_000);

  it("this machine's clock two hours ahead: gc refuses; told to go on, it ages by the server's clock and keeps what was just written", async () => {
    const shifted = { NODE_OPTIONS: `--import ${CLOCK_SHIFT}`, REGBUCKET_TEST_CLOCK_SHIFT_MS: String(TWO_HOURS) };
    // A push that has written blobs but no manifest yet: to a clock two hours ahead they look two hours old.
    const push = await direct(['push', `oci:${layout}:late`, 'late:v1']);
    expect(push.code, push.stderr).toBe(0);
    const del = await direct(['delete', `late@${digests.get('late')}`]);
    expect(del.code, del.stderr).toBe(0);
    const before = await keys();
    const refused = await regbucket([...s3.args, 'gc'], { ...s3.env, ...shifted });
    expect(refused.code, refused.stderr).toBe(1);
    expect(oneLine(refused, 'gc')).toMatch(/clock is 2h ahead of the clock of s3:\/\/.*--max-clock-skew/);
    expect(await keys()).toEqual(before);
    const anyway = await regbucket([...s3.args, '--json', 'gc', '--max-clock-skew', 'any'], { ...s3.env, ...shifted });
    expect(anyway.code, anyway.stderr).toBe(0);
    const rep = anyway.json<{ deleted: { blobs: number }; clockOffsetMs: number }>();
    expect(rep.deleted.blobs).toBe(0);
    expect(Math.abs(rep.clockOffsetMs + TWO_HOURS)).toBeLessThan(60_000);
    expect(await keys()).toEqual(before);
  }, 300_000);

  it('refused credentials are one line naming the bucket and the fix', async () => {
    const r = await regbucket([...s3.args, 'ls'], { ...s3.env, AWS_SECRET_ACCESS_KEY: 'wrong' });
    expect(r.code, r.stderr).toBe(1);
    const line = oneLine(r, 'wrong secret');
    expect(line).toContain(s3.bucket);
    expect(line).toMatch(/access denied.*AWS_SECRET_ACCESS_KEY/);
    const k = await regbucket([...s3.args, 'ls'], { ...s3.env, AWS_ACCESS_KEY_ID: 'nobody:none' });
    expect(k.code, k.stderr).toBe(1);
    expect(oneLine(k, 'unknown key')).toMatch(new RegExp(`s3://${s3.bucket}/.*access denied.*AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY)`));
  }, 300_000);

  it('a console "folder" marker object at a blob\'s data path is not the blob: push uploads the layer', async () => {
    const manifestLayers = await (async () => {
      const idx = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
      const m = idx.manifests.find((x) => x.annotations?.['org.opencontainers.image.ref.name'] === 'marked')!;
      const body = JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', m.digest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
      return body.layers.map((l) => l.digest);
    })();
    for (const l of manifestLayers) {
      const hex = l.slice(7);
      await raw.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `reg/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data/`, Body: '' }));
    }
    const r = await direct(['push', `oci:${layout}:marked`, 'marked:v1']);
    expect(r.code, r.stderr).toBe(0);
    const v = await verifyStore(s3.args, s3.env);
    expect(v.problems).toEqual([]);
    expect((await tags())['marked:v1']).toBe(digests.get('marked'));
  }, 300_000);
});
