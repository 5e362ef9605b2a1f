// What only the S3 driver has: key layout under the prefix (the registry's rootdirectory),
// store URL parsing, retries through faults, errors naming the operation and key, multipart
// uploads in flight (gc), request counts, and no SDK warning reaching CLI users.
import { S3Client, ListObjectsV2Command, CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDriver } from '../../src/drivers/open.js';
import { S3Driver } from '../../src/drivers/s3.js';
import { InvalidInputError, StorageError } from '../../src/errors.js';
import { regbucket } from '../lab/cli.js';
import { startProxy, type RunningProxy } from '../lab/proxy.js';
import { freshS3Store, type S3TestStore } from '../lab/swift.js';

function rawClient(s3: S3TestStore, endpoint = s3.endpoint): S3Client {
  return new S3Client({ endpoint, forcePathStyle: true, region: s3.credentials.region, credentials: s3.credentials, requestChecksumCalculation: 'WHEN_REQUIRED' });
}

async function rawKeys(s3: S3TestStore): Promise<string[]> {
  const c = rawClient(s3);
  try {
    const out = await c.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
    return (out.Contents ?? []).map((o) => o.Key!).sort();
  } finally {
    c.destroy();
  }
}

describe('S3 store URLs', () => {
  it('s3://bucket[/prefix] opens the S3 driver; bad buckets and prefixes are one-line input errors', () => {
    const d = openDriver('s3://my-bucket/a/b/', { s3Endpoint: 'http://127.0.0.1:1' });
    expect(d).toBeInstanceOf(S3Driver);
    expect((d as S3Driver).bucket).toBe('my-bucket');
    for (const url of ['s3://', 's3:///x', 's3://ab', 's3://Upper', 's3://under_score', 's3://a..b', 's3://-ab', 's3://bucket/a//b', 's3://bucket/../x', 's3://bucket/a b']) {
      expect(() => openDriver(url), url).toThrow(InvalidInputError);
    }
    // Path-style (an endpoint given): names older S3 allowed, capitals and underscores, up to 255.
    for (const name of ['Upper', 'under_score', 'My.Old_Bucket-1', 'x'.repeat(255)]) {
      expect((openDriver(`s3://${name}/p`, { s3Endpoint: 'http://127.0.0.1:1' }) as S3Driver).bucket, name).toBe(name);
    }
    for (const url of ['s3://a b', 's3://' + 'x'.repeat(256), 's3://a%b', 's3://..']) {
      expect(() => openDriver(url, { s3Endpoint: 'http://127.0.0.1:1' }), url).toThrow(InvalidInputError);
    }
    expect(() => openDriver('s3://bucket', { s3Endpoint: 'not a url' })).toThrow(/invalid S3 endpoint/);
    expect(() => openDriver('s3://bucket', { s3Endpoint: 'ftp://x' })).toThrow(/invalid S3 endpoint/);
  });
});

describe('S3 driver on Swift', () => {
  let s3: S3TestStore;
  beforeAll(async () => {
    s3 = await freshS3Store({ prefix: 'store/v', tag: 's3spec' });
  });

  it('keys are <prefix>/<path> (the registry rootdirectory), and without a prefix the path alone', async () => {
    const d = s3.driver();
    await d.putContent('/docker/registry/v2/repositories/a/x', 'x');
    await d.close();
    expect(await rawKeys(s3)).toContain('store/v/docker/registry/v2/repositories/a/x');
    const root = await freshS3Store({ tag: 's3root' });
    const r = root.driver();
    await r.putContent('/docker/registry/v2/blobs/y', 'y');
    expect(await rawKeys(root)).toEqual(['docker/registry/v2/blobs/y']);
    // a key that is not a driver path is skipped by walks and lists, never mangled
    const c = rawClient(root);
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    await c.send(new PutObjectCommand({ Bucket: root.bucket, Key: 'docker/registry/v2/blobs/we ird', Body: 'z' }));
    c.destroy();
    const walked: string[] = [];
    for await (const f of r.walk('/docker')) walked.push(f.path);
    expect(walked).toEqual(['/docker/registry/v2/blobs/y']);
    expect(await r.list('/docker/registry/v2/blobs')).toEqual(['/docker/registry/v2/blobs/y']);
    await r.close();
  });

  it('endpoint from AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL; region from AWS_REGION', async () => {
    const saved = { ...process.env };
    try {
      process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:1';
      process.env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
      process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
      process.env.AWS_REGION = 'us-east-1';
      const d = openDriver(`s3://${s3.bucket}/store/v`);
      expect((d as S3Driver).endpoint).toBe(s3.endpoint);
      await d.putContent('/env/x', 'through the environment');
      expect((await d.getContent('/env/x')).toString()).toBe('through the environment');
      await d.close();
      delete process.env.AWS_ENDPOINT_URL_S3;
      expect((openDriver(`s3://${s3.bucket}`) as S3Driver).endpoint).toBe('http://127.0.0.1:1');
    } finally {
      process.env = saved;
    }
  });

  it('retries throttling, 5xx and dropped connections (counted by operation) and then succeeds', async () => {
    const proxy: RunningProxy = await startProxy({ target: s3.endpoint, faults: { errorRate: 0.25, dropRate: 0.1, seed: 7 } });
    const d = new S3Driver({ bucket: s3.bucket, prefix: 'faults', endpoint: proxy.url, credentials: s3.credentials, retries: 12 });
    try {
      const paths = Array.from({ length: 30 }, (_, i) => `/f/${i}`);
      await Promise.all(paths.map((p) => d.putContent(p, p)));
      for (const p of paths) expect((await d.getContent(p)).toString()).toBe(p);
      const walked: string[] = [];
      for await (const f of d.walk('/f')) walked.push(f.path);
      expect(walked.sort()).toEqual([...paths].sort());
      await d.deleteFiles(paths);
      const left: string[] = [];
      for await (const f of d.walk('/f')) left.push(f.path);
      expect(left).toEqual([]);
      const injected = proxy.injected();
      expect((injected['503'] ?? 0) + (injected['500'] ?? 0) + (injected.drop ?? 0)).toBeGreaterThan(5);
      // every attempt is counted: more requests than operations
      expect(d.requestCounts().PutObject).toBeGreaterThan(30);
      expect(d.requestTotal()).toBe(proxy.total());
    } finally {
      await d.close();
      await proxy.stop();
    }
  });

  it('a read whose answer breaks off mid-body resumes where it stopped (reader and getContent)', async () => {
    // A proxy that cuts the first GET answer of each object after 300 KiB.
    const { createServer, request } = await import('node:http');
    const target = new URL(s3.endpoint);
    const cut = new Set<string>();
    let cuts = 0;
    const server = createServer((req, res) => {
      const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.rawHeaders);
        const path = (req.url ?? '').split('?')[0]!;
        if (req.method !== 'GET' || !path.includes('/cut/') || cut.has(path)) {
          upRes.pipe(res);
          return;
        }
        cut.add(path);
        let sent = 0;
        upRes.on('data', (c: Buffer) => {
          if (sent >= 300 * 1024) return;
          res.write(c);
          sent += c.length;
          if (sent >= 300 * 1024) {
            cuts++;
            upRes.destroy();
            res.socket?.destroy();
          }
        });
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const writer = s3.driver();
    const d = new S3Driver({ bucket: s3.bucket, prefix: s3.prefix, endpoint: `http://127.0.0.1:${port}`, credentials: s3.credentials });
    try {
      const data = randomBytes(2 * 1024 * 1024);
      await writer.putContent('/cut/a', data);
      await writer.putContent('/cut/b', data);
      const chunks: Buffer[] = [];
      for await (const c of await d.reader('/cut/a', 1000)) chunks.push(c as Buffer);
      expect(Buffer.compare(Buffer.concat(chunks), data.subarray(1000))).toBe(0);
      expect(Buffer.compare(await d.getContent('/cut/b'), data)).toBe(0);
      expect(cuts).toBe(2);
      expect(d.requestCounts().GetObject).toBe(4);
    } finally {
      await d.close();
      await writer.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('when retries run out, the error names the S3 operation, the key and the attempts', async () => {
    const proxy = await startProxy({ target: s3.endpoint, faults: { errorRate: 1, seed: 3 } });
    const d = new S3Driver({ bucket: s3.bucket, prefix: 'store/v', endpoint: proxy.url, credentials: s3.credentials, retries: 2 });
    try {
      const err = await d.getContent('/docker/registry/v2/repositories/a/_layers/x/link').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as Error).message).toMatch(new RegExp(`GetObject s3://${s3.bucket}/store/v/docker/registry/v2/repositories/a/_layers/x/link: .*after 3 attempts`));
      expect(proxy.total()).toBe(3);
    } finally {
      await d.close();
      await proxy.stop();
    }
  });

  it('lists multipart uploads in flight under the prefix (keys as driver paths) and aborts them', async () => {
    const c = rawClient(s3);
    try {
      const mine = await c.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: 'store/v/docker/registry/v2/repositories/a/_uploads/u1/data' }));
      await c.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: 'other/docker/registry/v2/x' }));
      const beside = await c.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: 'store/v/not-the-registry/x' }));
      const d = s3.driver();
      const all = [];
      for await (const u of d.listMultipartUploads()) all.push(u.key);
      expect(all.sort()).toEqual(['/docker/registry/v2/repositories/a/_uploads/u1/data', '/not-the-registry/x']);
      await d.abortMultipartUpload('/not-the-registry/x', beside.UploadId!);
      // gc asks for the registry's own only (below /docker/registry/v2)
      const seen = [];
      for await (const u of d.listMultipartUploads('/docker/registry/v2')) seen.push(u);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ key: '/docker/registry/v2/repositories/a/_uploads/u1/data', uploadId: mine.UploadId });
      expect(Math.abs(seen[0]!.initiated.getTime() - Date.now())).toBeLessThan(120_000);
      await d.abortMultipartUpload(seen[0]!.key, seen[0]!.uploadId);
      await d.abortMultipartUpload(seen[0]!.key, seen[0]!.uploadId); // gone already: fine
      const after = [];
      for await (const u of d.listMultipartUploads()) after.push(u);
      expect(after).toEqual([]);
      expect(d.requestCounts()).toMatchObject({ ListMultipartUploads: 3, AbortMultipartUpload: 3 });
      await d.close();
    } finally {
      c.destroy();
    }
  });

  it('the CLI on an S3 store prints no SDK warning, and a wrong store is a one-line error', async () => {
    const empty = await freshS3Store({ tag: 's3cli' });
    const r = await regbucket([...empty.args, 'verify'], empty.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no registry storage in s3:\/\//);
    expect(r.stderr).not.toMatch(/NodeVersionSupportWarning|Warning/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    // Names older S3 allowed (capitals, underscores) work path-style only: refused without an endpoint.
    const { AWS_ENDPOINT_URL_S3: _, ...noEndpoint } = empty.env;
    const bad = await regbucket(['--store', 's3://Bad_Bucket', 'verify'], { ...noEndpoint, AWS_ENDPOINT_URL_S3: '', AWS_ENDPOINT_URL: '' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/invalid bucket name "Bad_Bucket".*--s3-endpoint/);
  });

  afterAll(() => undefined);
});
