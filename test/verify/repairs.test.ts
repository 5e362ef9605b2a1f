// Repairs that work, on a filesystem store and on S3 (Swift): each kind of damage a store
// suffers (a corrupted blob, a truncated one, a missing one, a missing manifest blob under its
// revision link, a missing child manifest of an index) is found by verify, whose advice names
// a command; that command, run as printed (with <source> filled in), leaves verify clean; and
// the real registry, started afterwards, serves every image digest for digest.
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StorageDriver } from '../../src/drivers/driver.js';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import type { Digest } from '../../src/image/digest.js';
import { blobDataPath, revisionLinkPath } from '../../src/store/paths.js';
import { regbucket, regbucketOk, type CliResult } from '../lab/cli.js';
import { makeLayout, type Blob } from '../lab/images.js';
import { startRegistry, type RegistryStorage } from '../lab/registry.js';
import { expectServed } from '../lab/served.js';
import { freshS3Store } from '../lab/swift.js';
import { tempDir } from '../lab/tools.js';

const SLOW = 300_000;
/** Where each image of the store can be had again: its ref in the source layout. */
const SOURCE_REF: Record<string, string> = { 'team/app:v1': 'v1', 'team/multi:2': 'multi' };

interface Finding {
  kind: string;
  severity: string;
  digest?: string;
  fix?: string;
}

interface Backend {
  args: string[];
  env: Record<string, string>;
  driver: StorageDriver;
  storage: RegistryStorage;
}

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Problems verify reports, with its exit code. */
async function problems(cli: (args: string[]) => Promise<CliResult>): Promise<{ code: number; findings: Finding[] }> {
  const r = await cli(['--json', 'verify']);
  return { code: r.code, findings: (r.json<{ findings: Finding[] }>().findings ?? []).filter((f) => f.severity === 'problem') };
}

/**
 * verify finds `kind` with the advice `expectedFix`; every problem found names a command, and
 * each is run as printed (the first of `a; or: b`, `<source>` the image's ref in the layout
 * `src`); verify is clean after.
 */
async function repairedByAdviceWith(cli: (args: string[]) => Promise<CliResult>, src: string, kind: string, expectedFix: string): Promise<void> {
  const before = await problems(cli);
  expect(before.code).toBe(3);
  const f = before.findings.find((x) => x.kind === kind);
  expect(f, JSON.stringify(before.findings)).toBeDefined();
  expect(f!.fix).toBe(expectedFix);
  const fixes = [...new Set(before.findings.map((x) => x.fix))];
  expect(fixes.every(Boolean), JSON.stringify(before.findings)).toBe(true);
  for (const fix of fixes) {
    const words = fix!.split('; or: ')[0]!.split(' ');
    const argv = words.map((a) => (a === '<source>' ? `oci:${src}:${SOURCE_REF[words.at(-1)!]}` : a));
    expect(argv[0]).toBe('regbucket');
    const r = await cli(['--json', ...argv.slice(1)]);
    expect(r.code, r.stderr).toBe(0);
  }
  const after = await problems(cli);
  expect(after.findings).toEqual([]);
  expect(after.code).toBe(0);
}

const backends: [string, () => Promise<Backend>][] = [
  [
    'filesystem',
    async () => {
      const dir = tempDir();
      return { args: ['--store', dir], env: {}, driver: new FilesystemDriver(dir), storage: { filesystem: dir } };
    },
  ],
  [
    's3',
    async () => {
      const s3 = await freshS3Store({ prefix: 'store', tag: 'repairs' });
      return {
        args: s3.args,
        env: s3.env,
        driver: s3.driver(),
        storage: { s3: { endpoint: s3.endpoint, bucket: s3.bucket, rootdirectory: '/store', ...s3.credentials } },
      };
    },
  ],
];

describe.each(backends)('repairs on a %s store', (_name, open) => {
  let b: Backend;
  let src: string;
  let image: Blob;
  let index: Blob;
  let layers: { digest: Digest; size: number }[];
  let manifestDigest: Digest;
  let child: Digest;

  const cli = (args: string[]): Promise<CliResult> => regbucket([...b.args, ...args], b.env);
  const repairedByAdvice = (kind: string, expectedFix: string): Promise<void> => repairedByAdviceWith(cli, src, kind, expectedFix);

  beforeAll(async () => {
    b = await open();
    src = join(tempDir(), 'layout');
    // v1's layers are over 1 MiB (written through an upload directory), multi's are small
    // (checked in memory, one atomic put).
    const { roots } = await makeLayout(src, [
      { ref: 'v1', layers: 2, layerSize: 1_600_000 },
      { ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 1 },
    ]);
    [image, index] = roots as [Blob, Blob];
    await regbucketOk([...b.args, 'push', `oci:${src}:v1`, 'team/app:v1'], b.env);
    await regbucketOk([...b.args, 'push', `oci:${src}:multi`, 'team/multi:2'], b.env);
    const m = JSON.parse(image.bytes.toString()) as { layers: { digest: Digest; size: number }[] };
    layers = m.layers;
    manifestDigest = image.digest as Digest;
    child = (JSON.parse(index.bytes.toString()) as { manifests: { digest: Digest }[] }).manifests[0]!.digest;
    expect((await problems(cli)).code).toBe(0);
  }, SLOW);
  afterAll(async () => {
    await b?.driver.close();
  });

  it(
    'a corrupted blob (same size, other bytes): push --repair replaces it',
    async () => {
      const path = blobDataPath(layers[0]!.digest);
      const bytes = await readAll(await b.driver.reader(path));
      bytes[bytes.length >> 1]! ^= 0xff;
      await b.driver.putContent(path, bytes);
      // A plain push sees the right size and keeps it: only a re-hash finds it.
      const plain = await cli(['--json', 'push', `oci:${src}:v1`, 'team/app:v1']);
      expect(plain.json<{ stats: { blobsUploaded: number } }>().stats.blobsUploaded).toBe(0);
      await repairedByAdvice('digest-mismatch', 'regbucket push --repair <source> team/app:v1');
    },
    SLOW,
  );

  it(
    'a truncated blob: a plain push re-writes it',
    async () => {
      const path = blobDataPath(layers[1]!.digest);
      const bytes = await readAll(await b.driver.reader(path));
      await b.driver.putContent(path, bytes.subarray(0, 100));
      await repairedByAdvice('size-mismatch', 'regbucket push <source> team/app:v1');
    },
    SLOW,
  );

  it(
    'a missing blob: a plain push re-writes it',
    async () => {
      await b.driver.delete(blobDataPath(layers[0]!.digest));
      await repairedByAdvice('missing-blob', 'regbucket push <source> team/app:v1');
    },
    SLOW,
  );

  it(
    'a missing manifest blob under its revision link: a plain push writes it again',
    async () => {
      await b.driver.delete(blobDataPath(manifestDigest));
      await repairedByAdvice('missing-blob', 'regbucket push <source> team/app:v1');
    },
    SLOW,
  );

  it(
    'a corrupted manifest blob: push --repair writes it again',
    async () => {
      const path = blobDataPath(manifestDigest);
      const bytes = await b.driver.getContent(path);
      await b.driver.putContent(path, Buffer.from(bytes.toString().replace('"schemaVersion":2', '"schemaVersion":3')));
      await repairedByAdvice('digest-mismatch', 'regbucket push --repair <source> team/app:v1');
    },
    SLOW,
  );

  it(
    "an index's child whose revision link is gone, and a child's layer gone: a push of the index re-writes both",
    async () => {
      await b.driver.delete(revisionLinkPath('team/multi', child).replace(/\/link$/, ''));
      await repairedByAdvice('missing-child', 'regbucket push <source> team/multi:2');
      const childManifest = JSON.parse((await b.driver.getContent(blobDataPath(child))).toString()) as { layers: { digest: Digest }[] };
      await b.driver.delete(blobDataPath(childManifest.layers[0]!.digest));
      await repairedByAdvice('missing-blob', 'regbucket push <source> team/multi:2');
    },
    SLOW,
  );

  it(
    'the real registry, started after the repairs, serves every image',
    async () => {
      const registry = await startRegistry({ storage: b.storage });
      try {
        await expectServed(registry.host, 'team/app:v1', image.digest);
        await expectServed(registry.host, 'team/multi:2', index.digest, ['linux/amd64', 'linux/arm64']);
      } finally {
        await registry.stop();
      }
    },
    SLOW,
  );
});

describe('the other advice, each run as printed (filesystem)', () => {
  let dir: string;
  let src: string;
  let image: Blob;
  const d = (): FilesystemDriver => new FilesystemDriver(dir);
  const cli = (args: string[]): Promise<CliResult> => regbucket(['--store', dir, ...args]);

  const fixedByAdvice = (kind: string, expectedFix: string): Promise<void> => repairedByAdviceWith(cli, src, kind, expectedFix);

  beforeAll(async () => {
    dir = tempDir();
    src = join(tempDir(), 'layout');
    image = (await makeLayout(src, [{ ref: 'v1', layers: 2 }])).roots[0]!;
    await regbucketOk(['--store', dir, 'push', `oci:${src}:v1`, 'team/app:v1']);
  }, SLOW);

  const layer = (): Digest => (JSON.parse(image.bytes.toString()) as { layers: { digest: Digest }[] }).layers[0]!.digest;

  it(
    'a malformed layer link: verify --fix',
    async () => {
      await d().putContent(`/docker/registry/v2/repositories/team/app/_layers/sha256/${layer().slice(7)}/link`, `${layer()}\n`);
      await fixedByAdvice('malformed-link', 'regbucket verify --fix');
    },
    SLOW,
  );

  it(
    'a layer link gone (blob unknown to the registry): verify --fix',
    async () => {
      await d().delete(`/docker/registry/v2/repositories/team/app/_layers/sha256/${layer().slice(7)}`);
      await fixedByAdvice('unlinked-blob', 'regbucket verify --fix');
    },
    SLOW,
  );

  it(
    'a tag whose manifest is not a revision: a push (or untag)',
    async () => {
      await d().delete(revisionLinkPath('team/app', image.digest as Digest).replace(/\/link$/, ''));
      await fixedByAdvice('tag-revision-missing', 'regbucket push <source> team/app:v1; or: regbucket delete team/app:v1');
    },
    SLOW,
  );

  it(
    'a tag without its current link: untag',
    async () => {
      await regbucketOk(['--store', dir, 'tag', 'team/app:v1', 'broken']);
      await d().delete('/docker/registry/v2/repositories/team/app/_manifests/tags/broken/current');
      await fixedByAdvice('tag-without-current', 'regbucket delete team/app:broken');
    },
    SLOW,
  );
});
