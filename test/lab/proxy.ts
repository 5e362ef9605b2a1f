// A small HTTP proxy on 127.0.0.1 in front of an S3 endpoint (the Swift lab) that adds latency
// to every request and counts requests by kind (`GET ListObjectsV2`, `POST DeleteObjects`, ...),
// to measure what a tool costs against a remote bucket. Headers go through unchanged: SigV4
// signs the Host header, so clients are pointed at the proxy and sign for it, and the endpoint
// checks the signature against that same Host.
//
// `faults` injects what real S3 does under load, reproducibly (seeded): 503 SlowDown and 500
// InternalError answers, connections dropped before an answer, latency spikes.
import { createServer, request, Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FaultOptions {
  /** Share of requests answered 503 SlowDown or 500 InternalError (half each) instead of forwarded. */
  errorRate?: number;
  /** Share of requests whose connection is dropped without an answer. */
  dropRate?: number;
  /** Share of requests delayed by `spikeMs` more. */
  spikeRate?: number;
  spikeMs?: number;
  /** PRNG seed, so a failing run can be replayed (default 1). */
  seed?: number;
}

export interface ProxyOptions {
  /** The endpoint behind the proxy, e.g. http://127.0.0.1:8080. */
  target: string;
  /** Added before each request is forwarded. */
  latencyMs?: number;
  faults?: FaultOptions;
}

export interface RunningProxy {
  /** http://127.0.0.1:PORT: give this to clients as their S3 endpoint. */
  url: string;
  port: number;
  latencyMs: number;
  faults: FaultOptions;
  /** Requests seen since the last reset, by kind. */
  counts(): Record<string, number>;
  total(): number;
  /** Faults injected since the last reset, by kind (`503`, `500`, `drop`, `spike`). */
  injected(): Record<string, number>;
  reset(): void;
  stop(): Promise<void>;
}

/** The S3 operation a request is, from its method, path and query (and the copy header). */
export function s3Operation(method: string, url: string, headers: IncomingMessage['headers']): string {
  const u = new URL(url, 'http://x');
  const q = u.searchParams;
  const hasKey = u.pathname.split('/').filter(Boolean).length > 1; // path style: /bucket/key
  switch (method) {
    case 'GET':
      if (!hasKey) {
        if (q.has('uploads')) return 'ListMultipartUploads';
        if (q.get('list-type') === '2') return 'ListObjectsV2';
        if (q.has('location')) return 'GetBucketLocation';
        return 'ListObjects';
      }
      return q.has('uploadId') ? 'ListParts' : 'GetObject';
    case 'HEAD':
      return hasKey ? 'HeadObject' : 'HeadBucket';
    case 'PUT':
      if (!hasKey) return 'CreateBucket';
      if (q.has('uploadId')) return headers['x-amz-copy-source'] ? 'UploadPartCopy' : 'UploadPart';
      return headers['x-amz-copy-source'] ? 'CopyObject' : 'PutObject';
    case 'POST':
      if (q.has('delete')) return 'DeleteObjects';
      if (q.has('uploads')) return 'CreateMultipartUpload';
      if (q.has('uploadId')) return 'CompleteMultipartUpload';
      return 'Post';
    case 'DELETE':
      if (q.has('uploadId')) return 'AbortMultipartUpload';
      return hasKey ? 'DeleteObject' : 'DeleteBucket';
    default:
      return 'Other';
  }
}

/** mulberry32: a tiny seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function s3Error(res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export async function startProxy(opts: ProxyOptions): Promise<RunningProxy> {
  const target = new URL(opts.target);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  let counts: Record<string, number> = {};
  let injected: Record<string, number> = {};
  let random = prng(opts.faults?.seed ?? 1);
  const state = { latencyMs: opts.latencyMs ?? 0, faults: opts.faults ?? {} };
  const inject = (kind: string): void => {
    injected[kind] = (injected[kind] ?? 0) + 1;
  };

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const up = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, upRes.rawHeaders);
        upRes.pipe(res);
      },
    );
    up.on('error', (err) => {
      if (!res.headersSent) s3Error(res, 502, 'ProxyError', err.message);
      else res.destroy(err);
    });
    req.pipe(up);
  };

  const server = createServer((req, res) => {
    const kind = `${req.method} ${s3Operation(req.method ?? '', req.url ?? '/', req.headers)}`;
    counts[kind] = (counts[kind] ?? 0) + 1;
    const f = state.faults;
    let delay = state.latencyMs;
    if (f.spikeRate && random() < f.spikeRate) {
      delay += f.spikeMs ?? 1000;
      inject('spike');
    }
    setTimeout(() => {
      if (f.dropRate && random() < f.dropRate) {
        inject('drop');
        req.socket.destroy();
        return;
      }
      if (f.errorRate && random() < f.errorRate) {
        req.resume(); // drain the body so the client sees the answer, not a reset
        req.on('end', () => {
          if (random() < 0.5) {
            inject('503');
            s3Error(res, 503, 'SlowDown', 'Please reduce your request rate.');
          } else {
            inject('500');
            s3Error(res, 500, 'InternalError', 'We encountered an internal error. Please try again.');
          }
        });
        return;
      }
      forward(req, res);
    }, delay);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get latencyMs() {
      return state.latencyMs;
    },
    set latencyMs(ms: number) {
      state.latencyMs = ms;
    },
    get faults() {
      return state.faults;
    },
    set faults(f: FaultOptions) {
      state.faults = f;
      random = prng(f.seed ?? 1);
    },
    counts: () => ({ ...counts }),
    total: () => Object.values(counts).reduce((a, b) => a + b, 0),
    injected: () => ({ ...injected }),
    reset: () => {
      counts = {};
      injected = {};
    },
    stop: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
