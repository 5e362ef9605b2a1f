// The benchmark proxy (test/lab/proxy.ts): forwards requests unchanged (the Host header too:
// SigV4 signs it), counts them by S3 operation, injects faults on request.
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Operation, startProxy, type RunningProxy } from '../lab/proxy.js';

let upstream: ReturnType<typeof createServer>;
let target: string;
const seen: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(200, { 'x-upstream': 'yes', etag: '"abc"' });
      res.end(`echo ${req.method} ${req.url}`);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  target = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

function send(p: RunningProxy, method: string, path: string, body = '', headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${p.url}${path}`, { method, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('benchmark proxy', () => {
  it('forwards method, path, headers (Host included) and body unchanged, and the answer back', async () => {
    const p = await startProxy({ target, latencyMs: 1 });
    try {
      seen.length = 0;
      const r = await send(p, 'PUT', '/bucket/some/key?x=1', 'payload', { authorization: 'AWS4-HMAC-SHA256 sig', 'x-amz-date': '20260101T000000Z' });
      expect(r).toMatchObject({ status: 200, body: 'echo PUT /bucket/some/key?x=1' });
      expect(r.headers['x-upstream']).toBe('yes');
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ method: 'PUT', url: '/bucket/some/key?x=1', body: 'payload' });
      expect(seen[0]!.headers.host).toBe(`127.0.0.1:${p.port}`);
      expect(seen[0]!.headers.authorization).toBe('AWS4-HMAC-SHA256 sig');
    } finally {
      await p.stop();
    }
  });

  it('counts requests by S3 operation', async () => {
    const p = await startProxy({ target });
    try {
      await send(p, 'GET', '/b?list-type=2&prefix=docker%2F');
      await send(p, 'GET', '/b?list-type=2&continuation-token=x');
      await send(p, 'POST', '/b?delete', '<Delete/>');
      await send(p, 'GET', '/b/docker/registry/v2/blobs/sha256/aa/aa/data');
      await send(p, 'HEAD', '/b/k');
      expect(p.counts()).toEqual({ 'GET ListObjectsV2': 2, 'POST DeleteObjects': 1, 'GET GetObject': 1, 'HEAD HeadObject': 1 });
      expect(p.total()).toBe(5);
      p.reset();
      expect(p.total()).toBe(0);
    } finally {
      await p.stop();
    }
  });

  it('names the S3 operations the registry and the SDK use', () => {
    expect(s3Operation('GET', '/b?prefix=x&delimiter=%2F', {})).toBe('ListObjects');
    expect(s3Operation('GET', '/b?uploads&prefix=p', {})).toBe('ListMultipartUploads');
    expect(s3Operation('PUT', '/b/k?partNumber=1&uploadId=u', {})).toBe('UploadPart');
    expect(s3Operation('PUT', '/b/k?partNumber=1&uploadId=u', { 'x-amz-copy-source': '/b/o' })).toBe('UploadPartCopy');
    expect(s3Operation('PUT', '/b/k', { 'x-amz-copy-source': '/b/o' })).toBe('CopyObject');
    expect(s3Operation('POST', '/b/k?uploads', {})).toBe('CreateMultipartUpload');
    expect(s3Operation('POST', '/b/k?uploadId=u', {})).toBe('CompleteMultipartUpload');
    expect(s3Operation('DELETE', '/b/k?uploadId=u', {})).toBe('AbortMultipartUpload');
    expect(s3Operation('DELETE', '/b/k', {})).toBe('DeleteObject');
    expect(s3Operation('PUT', '/b', {})).toBe('CreateBucket');
  });

  it('injects S3 errors and dropped connections, reproducibly, and stops when faults are cleared', async () => {
    const p = await startProxy({ target, faults: { errorRate: 1, seed: 7 } });
    try {
      seen.length = 0;
      const statuses = new Set<number>();
      for (let i = 0; i < 20; i++) {
        const r = await send(p, 'PUT', '/b/k', 'body');
        statuses.add(r.status);
        expect(r.body).toMatch(/<Code>(SlowDown|InternalError)<\/Code>/);
      }
      expect([...statuses].sort()).toEqual([500, 503]);
      expect(seen).toHaveLength(0); // nothing reached the endpoint
      p.faults = { dropRate: 1 };
      await expect(send(p, 'GET', '/b/k')).rejects.toThrow();
      expect(p.injected()).toMatchObject({ drop: 1 });
      p.faults = {};
      expect((await send(p, 'GET', '/b/k')).status).toBe(200);
    } finally {
      await p.stop();
    }
  });
});
