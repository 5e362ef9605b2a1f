// A faulty network in front of S3 (test/lab/proxy.ts before Swift's S3 API): 503 SlowDown and
// 500 InternalError answers, dropped connections and latency spikes, seeded. With retries, push,
// pull, gc and verify complete; with --retries 0 and a high fault rate each fails with one line
// naming the S3 operation and the key (exit 1), and the bucket is left as after a crash.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket } from '../lab/cli.js';
import { makeLayerTar, makeLayout } from '../lab/images.js';
import { startProxy, type RunningProxy } from '../lab/proxy.js';
import { freshS3Store, type S3TestStore } from '../lab/swift.js';
import { tempDir } from '../lab/tools.js';
import { runSeed, tagsComplete, trialCount, verifyStore } from './harness.js';

const MB = 1 << 20;
const S3_OPS =
  'GetObject|PutObject|HeadObject|ListObjectsV2|ListObjects|DeleteObjects|DeleteObject|CopyObject|CreateMultipartUpload|UploadPart|UploadPartCopy|CompleteMultipartUpload|AbortMultipartUpload|ListMultipartUploads';

function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

function add(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
}

describe('S3 behind a faulty network', () => {
  let work: string;
  let layout: string;
  let digests: Map<string, string>;
  let s3: S3TestStore;
  let proxy: RunningProxy;
  let seed: number;

  beforeAll(async () => {
    work = tempDir('regbucket-flaky-');
    layout = join(work, 'layout');
    const shared = [await makeLayerTar(MB)];
    const specs = [
      { ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 2, layerSize: 512 * 1024, sharedLayers: shared },
      { ref: 'single', layers: 3, layerSize: 512 * 1024, sharedLayers: shared },
      { ref: 'doomed', layers: 3, layerSize: 256 * 1024 },
      ...Array.from({ length: 4 }, (_, i) => ({ ref: `late-${i}`, layers: 2, layerSize: 128 * 1024 })),
    ];
    const { roots } = await makeLayout(layout, specs);
    digests = new Map(specs.map((s, i) => [s.ref, roots[i]!.digest]));
    s3 = await freshS3Store({ tag: 'flaky', prefix: 'reg' });
    seed = runSeed('flaky-s3');
    proxy = await startProxy({ target: s3.endpoint });
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  /** The CLI on the bucket through the proxy. */
  const cli = (retries: number, args: string[]) => regbucket(['--store', s3.url, '--s3-endpoint', proxy.url, '--retries', String(retries), ...args], s3.env);
  /** Straight to Swift, no faults: how the bucket really is. */
  const direct = () => verifyStore(s3.args, s3.env);
  const tags = async () => {
    const d = s3.driver();
    try {
      return Object.fromEntries(await tagsComplete(d));
    } finally {
      await d.close();
    }
  };

  it('push, pull, gc and verify complete through 5% errors, drops and latency spikes (--retries 10)', async () => {
    proxy.faults = { errorRate: 0.05, dropRate: 0.02, spikeRate: 0.05, spikeMs: 300, seed };
    proxy.reset();
    const ops: Record<string, string> = {};
    const push = await cli(10, ['--json', 'push', `oci:${layout}:multi`, 'app:multi']);
    expect(push.code, push.stderr).toBe(0);
    const push2 = await cli(10, ['push', `oci:${layout}:single`, 'app:single']);
    expect(push2.code, push2.stderr).toBe(0);
    const doomed = await cli(10, ['push', `oci:${layout}:doomed`, 'app:doomed']);
    expect(doomed.code, doomed.stderr).toBe(0);
    ops.push = `3 pushes`;
    const out = join(work, 'pulled');
    const pull = await cli(10, ['pull', 'app:multi', `oci:${out}:multi`]);
    expect(pull.code, pull.stderr).toBe(0);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests.map((m) => m.digest)).toContain(digests.get('multi'));
    // Garbage for gc: the doomed image deleted by digest (its blobs now unreferenced).
    const del = await cli(10, ['delete', `app@${digests.get('doomed')}`]);
    expect(del.code, del.stderr).toBe(0);
    const gc = await cli(10, ['--json', 'gc', '--min-age', '0']);
    expect(gc.code, gc.stderr).toBe(0);
    const verify = await cli(10, ['verify']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    const injected = proxy.injected();
    const requests = proxy.total();
    // Straight to Swift: nothing lost, the garbage gone.
    const v = await direct();
    expect(v.problems).toEqual([]);
    expect(v.warnings).toEqual({});
    expect(await tags()).toEqual({ 'app:multi': digests.get('multi'), 'app:single': digests.get('single') });
    expect(sum(injected)).toBeGreaterThan(10);
    console.log(
      `[flaky-s3 retries] push x3, pull, delete, gc, verify all exit 0 through ${requests} requests with faults injected ${JSON.stringify(injected)} ` +
        `(${sum(injected)} in all; seed ${seed}), problems 0, objects lost or corrupt 0`,
    );
  }, 900_000);

  it('with --retries 0 and 15% faults: one-line errors naming the operation and the key, exit 1, the bucket consistent', async () => {
    const runs = trialCount(6);
    const stats = { runs: 0, failed: 0, succeeded: 0, injected: {} as Record<string, number>, ops: {} as Record<string, number> };
    const before = await tags();
    for (let i = 0; i < runs; i++) {
      proxy.faults = { errorRate: 0.1, dropRate: 0.05, seed: seed + i };
      proxy.reset();
      // Alternate pushes (new images), gc and verify: each either completes or fails cleanly.
      const cmd = i % 3 === 2 ? ['gc', '--min-age', '0'] : i % 3 === 1 ? ['verify'] : ['push', `oci:${layout}:late-${i % 4}`, `late:${i}`];
      const r = await cli(0, cmd);
      add(stats.injected, proxy.injected());
      stats.runs++;
      const where = `run ${i} (${cmd.join(' ')}, seed ${seed + i})`;
      if (r.code === 0) {
        stats.succeeded++;
      } else {
        stats.failed++;
        expect(r.code, `${where}: ${r.stderr}`).toBe(1);
        const lines = r.stderr.trim().split('\n');
        expect(lines, where).toHaveLength(1);
        const m = new RegExp(`^regbucket: error: .*\\b(${S3_OPS}) s3://${s3.bucket}/reg(/\\S*)?`).exec(lines[0]!);
        expect(m, `${where}: ${lines[0]}`).not.toBeNull();
        stats.ops[m![1]!] = (stats.ops[m![1]!] ?? 0) + 1;
      }
      // As after a crash: no problem (orphans and uploads left behind are warnings).
      const v = await direct();
      expect(v.problems, where).toEqual([]);
      const now = await tags();
      for (const [t, d] of Object.entries(before)) expect(now[t], `${where}: ${t}`).toBe(d);
      for (const [t, d] of Object.entries(now)) if (t.startsWith('late:')) expect(d, `${where}: ${t}`).toBe(digests.get(`late-${Number(t.slice(5)) % 4}`));
    }
    expect(stats.failed).toBeGreaterThan(runs / 2);
    console.log(
      `[flaky-s3 no-retries] runs ${stats.runs} (push, verify, gc), failed with a one-line error naming op and key ${stats.failed} ${JSON.stringify(stats.ops)}, ` +
        `completed ${stats.succeeded}, faults injected ${JSON.stringify(stats.injected)}, problems after 0, objects lost or corrupt 0`,
    );
  }, 900_000);
});
