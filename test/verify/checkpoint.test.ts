// verify --checkpoint: a run killed with SIGKILL part way resumes from its checkpoint file, on a
// filesystem store and on S3 (Swift). The resumed run reports what an uncut run reports (findings,
// counts, exit code) while hashing fewer blobs (counted: blobsHashed - checkpoint.blobsSkipped);
// a blob rewritten after it was recorded (same size, new modification time or ETag) is hashed
// again and found corrupt. A checkpoint of another store or shard is refused in one line, a file
// that is not a checkpoint is refused and left alone, and a torn last line is skipped.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, regbucket, type CliResult } from '../lab/cli.js';
import { digestOf, LayoutWriter, type Blob } from '../lab/images.js';
import { freshS3Store, type S3TestStore } from '../lab/swift.js';
import { refused } from '../lab/refused.js';
import { tempDir } from '../lab/tools.js';
import { blobDataPath } from '../../src/store/paths.js';
import type { Digest } from '../../src/image/digest.js';
import { eachLimit } from '../../src/util/each-limit.js';

interface Finding {
  kind: string;
  digest?: string;
}
interface Report {
  clean: boolean;
  blobs: number;
  blobsHashed: number;
  bytesHashed: number;
  findings: Finding[];
  seconds: number;
  checkpoint?: { file: string; resumed: boolean; blobsSkipped: number; bytesSkipped: number; ignoredLines: number };
}

const V2 = 'docker/registry/v2';
const NO_ENGINE = { JOB_COMPLETION_INDEX: '', JOB_COMPLETIONS: '', AWS_BATCH_JOB_ARRAY_INDEX: '', REGBUCKET_SHARDS: '' };

/** The report as an uncut run's compares: without its timing and checkpoint figures. */
const comparable = ({ seconds: _, checkpoint: __, ...rest }: Report): Omit<Report, 'seconds' | 'checkpoint'> => rest;

/** Blobs hashed for real: those not taken from the checkpoint. */
const work = (r: Report): number => r.blobsHashed - (r.checkpoint?.blobsSkipped ?? 0);

/** Records in a checkpoint file (lines after the header that end in a newline). */
function recordsIn(file: string): number {
  if (!existsSync(file)) return 0;
  const text = readFileSync(file, 'utf8');
  return Math.max(0, text.split('\n').length - 2);
}

/**
 * Starts verify --checkpoint and kills it with SIGKILL once the checkpoint holds a batch of
 * records. Under heavy load the run may end before the kill lands: then the attempt is repeated
 * with a new checkpoint file. Returns the file and how many records it held after the kill.
 */
async function killedRun(args: string[], env: NodeJS.ProcessEnv, dir: string): Promise<{ file: string; records: number }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const file = join(dir, `killed-${attempt}.ckpt`);
    const child = spawn(process.execPath, [BIN, ...args, '--checkpoint', file], { env: { ...process.env, CI: 'true', ...NO_ENGINE, ...env }, stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    let done = false;
    void exited.then(() => (done = true));
    while (!done && recordsIn(file) === 0) await new Promise((r) => setTimeout(r, 5));
    if (!done) child.kill('SIGKILL');
    const signal = await exited;
    if (signal === 'SIGKILL') return { file, records: recordsIn(file) };
  }
  throw new Error('verify finished before it could be killed, five times over');
}

/** Same size, other bytes. */
function flipped(b: Buffer): Buffer {
  const out = Buffer.from(b);
  out[out.length - 1] = out[out.length - 1]! ^ 0xff;
  return out;
}

interface Lab {
  /** Runs the CLI on the store with --json verify and the arguments. */
  verify(args: string[]): Promise<CliResult>;
  /** Arguments selecting the store, before the command. */
  storeArgs: string[];
  env: NodeJS.ProcessEnv;
  /** Rewrites a blob's data. */
  put(digest: string, bytes: Buffer): Promise<void>;
  orphans: Buffer[];
  corruptLayer: string;
  dir: string;
}

/** An image with one corrupt layer, plus `n` orphan blobs of `size` bytes: enough hashing for a kill to land part way. */
async function populate(
  dir: string,
  push: (layout: string) => Promise<void>,
  put: (digest: string, bytes: Buffer) => Promise<void>,
  n: number,
  size: number,
): Promise<{ orphans: Buffer[]; corruptLayer: string }> {
  const layout = join(dir, 'layout');
  const w = new LayoutWriter(layout);
  await w.image({ ref: 'v1', layers: 3, layerSize: 300 });
  w.write();
  await push(layout);
  const layer = [...w.blobs.values()].find((b: Blob) => b.mediaType.includes('layer'))!;
  await put(layer.digest, flipped(layer.bytes));
  const orphans = Array.from({ length: n }, () => randomBytes(size));
  await eachLimit(orphans, 8, (b) => put(digestOf(b), b));
  return { orphans, corruptLayer: layer.digest };
}

async function fsLab(): Promise<Lab> {
  const dir = tempDir('regbucket-checkpoint-');
  const store = join(dir, 'store');
  const put = async (digest: string, bytes: Buffer): Promise<void> => {
    const p = join(store, blobDataPath(digest as Digest).slice(1));
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, bytes);
  };
  const push = async (layout: string): Promise<void> => {
    const r = await regbucket(['--store', store, 'push', `oci:${layout}:v1`, 'app:1']);
    expect(r.code, r.stderr).toBe(0);
  };
  // 600 blobs of 256 KiB: a single hashing thread takes a while over 150 MiB.
  const made = await populate(dir, push, put, 600, 256 * 1024);
  const storeArgs = ['--store', store];
  return { ...made, dir, put, storeArgs, env: {}, verify: (args) => regbucket([...storeArgs, '--json', 'verify', ...args], NO_ENGINE) };
}

async function s3Lab(): Promise<Lab> {
  const dir = tempDir('regbucket-checkpoint-s3-');
  const s3: S3TestStore = await freshS3Store({ prefix: 'store', tag: 'checkpoint' });
  const driver = s3.driver();
  const put = (digest: string, bytes: Buffer): Promise<void> => driver.putContent(blobDataPath(digest as Digest), bytes);
  const push = async (layout: string): Promise<void> => {
    const r = await regbucket([...s3.args, 'push', `oci:${layout}:v1`, 'app:1'], s3.env);
    expect(r.code, r.stderr).toBe(0);
  };
  // Fewer, smaller blobs: each is a GET, and the kill comes with one request in flight at a time.
  const made = await populate(dir, push, put, 150, 16 * 1024);
  return { ...made, dir, put, storeArgs: s3.args, env: s3.env, verify: (args) => regbucket([...s3.args, '--json', 'verify', ...args], { ...NO_ENGINE, ...s3.env }) };
}

describe.each([
  ['filesystem', fsLab],
  ['S3 (Swift)', s3Lab],
] as const)('verify --checkpoint on a %s store', { timeout: 300_000 }, (_name, make) => {
  let lab: Lab;
  let uncut: CliResult;
  let uncutDoc: Report;
  let killed: { file: string; records: number };
  let resumed: CliResult;

  beforeAll(async () => {
    lab = await make();
    uncut = await lab.verify([]);
    uncutDoc = uncut.json<Report>();
    // One hashing thread and one request at a time: the kill lands part way.
    killed = await killedRun([...lab.storeArgs, '--concurrency', '1', 'verify'], lab.env, lab.dir);
    resumed = await lab.verify(['--checkpoint', killed.file]);
  }, 600_000);

  it('the uncut run finds the corrupt layer (exit 3) and hashes every blob', () => {
    expect(uncut.code, uncut.stderr).toBe(3);
    expect(uncutDoc.findings.filter((f) => f.kind === 'digest-mismatch').map((f) => f.digest)).toEqual([lab.corruptLayer]);
    expect(uncutDoc.blobsHashed).toBe(uncutDoc.blobs);
    expect(uncutDoc.checkpoint).toBeUndefined();
  });

  it('the killed run left part of the work recorded', () => {
    expect(killed.records).toBeGreaterThan(0);
    expect(killed.records).toBeLessThan(uncutDoc.blobs);
  });

  it('the resumed run ends as the uncut one did, hashing only what the killed run had not', () => {
    expect(resumed.code, resumed.stderr).toBe(uncut.code);
    const doc = resumed.json<Report>();
    expect(comparable(doc)).toEqual(comparable(uncutDoc));
    expect(doc.checkpoint).toMatchObject({ file: killed.file, resumed: true, blobsSkipped: killed.records, ignoredLines: 0 });
    expect(work(doc)).toBe(uncutDoc.blobsHashed - killed.records);
    expect(work(doc)).toBeLessThan(work(uncutDoc));
  });

  it('a run after a complete one hashes nothing and says it is resuming', async () => {
    const human = await regbucket([...lab.storeArgs, 'verify', '--checkpoint', killed.file], { ...NO_ENGINE, ...lab.env });
    expect(human.code, human.stderr).toBe(3);
    expect(human.stderr).toContain(`verify: resuming from ${killed.file}: ${uncutDoc.blobs} blobs already hashed`);
    expect(human.stdout).toContain(`resumed from ${killed.file}: ${uncutDoc.blobs} of ${uncutDoc.blobs} blobs unchanged`);
    const again = await lab.verify(['--checkpoint', killed.file]);
    expect(comparable(again.json<Report>())).toEqual(comparable(uncutDoc));
    expect(work(again.json<Report>())).toBe(0);
  });

  it('a blob rewritten after it was recorded (same size, new modification time or ETag) is hashed again and found corrupt', async () => {
    const victim = lab.orphans[0]!;
    await lab.put(digestOf(victim), flipped(victim));
    const r = await lab.verify(['--checkpoint', killed.file]);
    expect(r.code).toBe(3);
    const doc = r.json<Report>();
    expect(
      doc.findings
        .filter((f) => f.kind === 'digest-mismatch')
        .map((f) => f.digest)
        .sort(),
    ).toEqual([lab.corruptLayer, digestOf(victim)].sort());
    expect(work(doc)).toBe(1);
    await lab.put(digestOf(victim), victim);
  });

  it('a checkpoint of another shard is refused in one line', async () => {
    refused(await lab.verify(['--checkpoint', killed.file, '--shard', '0/2']), /checkpoint .* is of an unsharded run, not shard 0\/2/);
  });
});

describe('verify --checkpoint files', { timeout: 300_000 }, () => {
  let dir: string;
  let store: string;
  let layer: string;
  const verify = (args: string[], on = store): Promise<CliResult> => regbucket(['--store', on, '--json', 'verify', ...args], NO_ENGINE);

  beforeAll(async () => {
    dir = tempDir('regbucket-checkpoint-files-');
    const layout = join(dir, 'layout');
    store = join(dir, 'store');
    const w = new LayoutWriter(layout);
    await w.image({ ref: 'v1', layers: 2, layerSize: 300 });
    w.write();
    layer = [...w.blobs.values()].find((b) => b.mediaType.includes('layer'))!.digest;
    expect((await regbucket(['--store', store, 'push', `oci:${layout}:v1`, 'app:1'])).code).toBe(0);
  });

  it('a checkpoint of another store is refused in one line', async () => {
    const file = join(dir, 'a.ckpt');
    expect((await verify(['--checkpoint', file])).code).toBe(0);
    const other = join(dir, 'other');
    cpSync(store, other, { recursive: true });
    refused(await verify(['--checkpoint', file], other), /checkpoint .* is of store "file:\/\/.*\/store", not "file:\/\/.*\/other": give each store its own checkpoint file/);
  });

  it('a file that is not a checkpoint is refused and left as it was', async () => {
    const file = join(dir, 'notes.txt');
    writeFileSync(file, 'my notes\n');
    refused(await verify(['--checkpoint', file]), /notes\.txt is not a regbucket verify checkpoint/);
    expect(readFileSync(file, 'utf8')).toBe('my notes\n');
  });

  it('a torn last line and a corrupt one are skipped: those blobs are hashed again, and the file stays readable', async () => {
    const file = join(dir, 'torn.ckpt');
    const first = await verify(['--checkpoint', file]);
    const all = first.json<Report>().blobsHashed;
    const lines = readFileSync(file, 'utf8').split('\n');
    // Garble one record and cut the last in half, as a kill mid-write would.
    const last = lines[lines.length - 2]!;
    writeFileSync(file, [lines[0], 'garbage \u0000\u0001', ...lines.slice(2, -2), last.slice(0, 30)].join('\n'));
    const r = await verify(['--checkpoint', file]);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json<Report>();
    expect(doc.checkpoint).toMatchObject({ resumed: true, ignoredLines: 2, blobsSkipped: all - 2 });
    const again = (await verify(['--checkpoint', file])).json<Report>();
    expect(again.checkpoint).toMatchObject({ ignoredLines: 2, blobsSkipped: all });
  });

  // Manifests are read and hashed by every run (they are parsed); layers are what a checkpoint saves.
  it('a layer rewritten with its modification time put back is not hashed again (the stamp is what is trusted)', async () => {
    const file = join(dir, 'stamp.ckpt');
    expect((await verify(['--checkpoint', file])).code).toBe(0);
    const p = join(store, V2, 'blobs', 'sha256', layer.slice(7, 9), layer.slice(7), 'data');
    const st = statSync(p);
    const bytes = readFileSync(p);
    writeFileSync(p, flipped(bytes));
    utimesSync(p, st.atime, st.mtime);
    const r = await verify(['--checkpoint', file]);
    expect(r.code).toBe(0);
    const plain = await verify([]);
    expect(plain.code).toBe(3);
    writeFileSync(p, bytes);
  });

  it('--checkpoint with --fix, --no-hash or --merge is refused', async () => {
    const file = join(dir, 'x.ckpt');
    refused(await verify(['--checkpoint', file, '--fix']), /--checkpoint with --fix/);
    refused(await verify(['--checkpoint', file, '--no-hash']), /--checkpoint with --no-hash/);
    refused(await verify(['--merge', '--checkpoint', file, 'r.json']), /--merge .* no --shard, --fix, --no-hash or --checkpoint/);
    expect(existsSync(file)).toBe(false);
  });
});
