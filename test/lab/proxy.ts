// A small HTTP proxy on 127.0.0.1 in front of an S3 endpoint (the Swift lab) that adds latency
// to every request and counts requests by kind (`GET ListObjectsV2`, `POST DeleteObjects`, ...),
// to measure what a tool costs against a remote bucket. Headers go through unchanged: SigV4
// signs the Host header, so clients are pointed at the proxy and sign for it, and the endpoint
// checks the signature against that same Host.
//
// `faults` injects what real S3 does under load, reproducibly (seeded): 503 SlowDown and 500
// InternalError answers, connections dropped before an answer, latency spikes.
//
// `quirks` makes it a server that is wrong in ways real ones are: listings cut short and marked
// truncated without a continuation token or markers (partial ListObjectsV2 support), or with no
// entries at all (no progress); requests that never get an answer, or whose answer stalls mid-body
// (the connection stays open); a Date header off by some hours.
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

export interface Quirks {
  /** ListObjectsV2 and ListMultipartUploads answers keep their first N entries, say "truncated", and carry no continuation token or next markers. */
  listPageLimit?: number;
  /** Listings answer "truncated" with no entries and no token (a server that makes no progress). */
  emptyTruncatedListings?: boolean;
  /** The first `count` requests that `match` get no answer; the connection stays open. */
  stallHeaders?: { match: (op: string, url: string) => boolean; count: number };
  /** The answers of the first `count` requests that `match` stop after `afterBytes` bytes of body; the connection stays open. */
  stallBody?: { match: (op: string, url: string) => boolean; count: number; afterBytes: number };
  /** Added to the Date header of every answer. */
  dateOffsetMs?: number;
}

export interface ProxyOptions {
  /** The endpoint behind the proxy, e.g. http://127.0.0.1:8080. */
  target: string;
  /** Added before each request is forwarded. */
  latencyMs?: number;
  faults?: FaultOptions;
  quirks?: Quirks;
}

export interface RunningProxy {
  /** http://127.0.0.1:PORT: give this to clients as their S3 endpoint. */
  url: string;
  port: number;
  latencyMs: number;
  faults: FaultOptions;
  /** Set to change how the server misbehaves from the next request on (stall counts restart). */
  quirks: Quirks;
  /** Requests stalled since the last reset (`headers`, `body`) and listings cut (`cut`). */
  quirked(): Record<string, number>;
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
  const state = { latencyMs: opts.latencyMs ?? 0, faults: opts.faults ?? {}, quirks: opts.quirks ?? {} };
  let quirked: Record<string, number> = {};
  let stalledHeaders = 0;
  let stalledBodies = 0;
  const quirk = (kind: string): void => {
    quirked[kind] = (quirked[kind] ?? 0) + 1;
  };
  const inject = (kind: string): void => {
    injected[kind] = (injected[kind] ?? 0) + 1;
  };

  const forward = (req: IncomingMessage, res: ServerResponse, op: string): void => {
    const q = state.quirks;
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent }, (upRes) => {
      const headers = { ...upRes.headers };
      if (q.dateOffsetMs && typeof headers.date === 'string') headers.date = new Date(Date.parse(headers.date) + q.dateOffsetMs).toUTCString();
      const listing = op === 'ListObjectsV2' || op === 'ListMultipartUploads';
      if (listing && upRes.statusCode === 200 && (q.listPageLimit !== undefined || q.emptyTruncatedListings)) {
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('end', () => {
          const body = Buffer.from(cutListing(Buffer.concat(chunks).toString('utf8'), op, q, quirk));
          delete headers['transfer-encoding'];
          headers['content-length'] = String(body.length);
          res.writeHead(200, upRes.statusMessage, headers);
          res.end(body);
        });
        return;
      }
      const sb = q.stallBody;
      if (sb && stalledBodies < sb.count && sb.match(op, req.url ?? '') && upRes.statusCode !== undefined && upRes.statusCode < 300) {
        stalledBodies++;
        quirk('body');
        res.writeHead(upRes.statusCode, upRes.statusMessage, headers);
        let sent = 0;
        upRes.on('data', (c: Buffer) => {
          if (sent >= sb.afterBytes) return;
          const part = c.subarray(0, sb.afterBytes - sent);
          sent += part.length;
          res.write(part);
        });
        // Never ended: the client has to give up on the connection.
        return;
      }
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, headers);
      upRes.pipe(res);
    });
    up.on('error', (err) => {
      if (!res.headersSent) s3Error(res, 502, 'ProxyError', err.message);
      else res.destroy(err);
    });
    req.pipe(up);
  };

  const server = createServer((req, res) => {
    const op = s3Operation(req.method ?? '', req.url ?? '/', req.headers);
    const kind = `${req.method} ${op}`;
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
      const sh = state.quirks.stallHeaders;
      if (sh && stalledHeaders < sh.count && sh.match(op, req.url ?? '')) {
        stalledHeaders++;
        quirk('headers');
        req.resume(); // read the request, never answer
        return;
      }
      forward(req, res, op);
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
    get quirks() {
      return state.quirks;
    },
    set quirks(q: Quirks) {
      state.quirks = q;
      stalledHeaders = 0;
      stalledBodies = 0;
    },
    quirked: () => ({ ...quirked }),
    counts: () => ({ ...counts }),
    total: () => Object.values(counts).reduce((a, b) => a + b, 0),
    injected: () => ({ ...injected }),
    reset: () => {
      counts = {};
      injected = {};
      quirked = {};
    },
    stop: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Entries of a listing answer (XML) with the key they sort by. */
function entries(xml: string, tag: string, keyTag: string): { text: string; key: string }[] {
  const out: { text: string; key: string }[] = [];
  for (const m of xml.matchAll(new RegExp(`<${tag}>[\\s\\S]*?</${tag}>`, 'g'))) {
    const k = new RegExp(`<${keyTag}>([\\s\\S]*?)</${keyTag}>`).exec(m[0]);
    out.push({ text: m[0], key: k?.[1] ?? '' });
  }
  return out;
}

/** A listing answer as a server with partial support sends it (see Quirks). */
function cutListing(xml: string, op: string, q: Quirks, quirk: (kind: string) => void): string {
  const blocks =
    op === 'ListObjectsV2'
      ? [...entries(xml, 'Contents', 'Key'), ...entries(xml, 'CommonPrefixes', 'Prefix')]
      : [...entries(xml, 'Upload', 'Key')].map((e, i) => ({ ...e, key: `${e.key}\u0000${String(i).padStart(6, '0')}` }));
  blocks.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const limit = q.emptyTruncatedListings ? 0 : (q.listPageLimit ?? Infinity);
  const wasTruncated = /<IsTruncated>true<\/IsTruncated>/.test(xml);
  const keep = blocks.slice(0, limit);
  const truncated = wasTruncated || keep.length < blocks.length || Boolean(q.emptyTruncatedListings);
  if (keep.length < blocks.length || q.emptyTruncatedListings) quirk('cut');
  let out = xml;
  for (const b of blocks) out = out.replace(b.text, '');
  out = out
    .replace(/<NextContinuationToken>[\s\S]*?<\/NextContinuationToken>/, '')
    .replace(/<NextKeyMarker>[\s\S]*?<\/NextKeyMarker>/, '')
    .replace(/<NextUploadIdMarker>[\s\S]*?<\/NextUploadIdMarker>/, '')
    .replace(/<KeyCount>\d+<\/KeyCount>/, `<KeyCount>${keep.length}</KeyCount>`);
  out = /<IsTruncated>/.test(out)
    ? out.replace(/<IsTruncated>\w+<\/IsTruncated>/, `<IsTruncated>${truncated}</IsTruncated>`)
    : out.replace(/(<\/(?:ListBucketResult|ListMultipartUploadsResult)>)/, `<IsTruncated>${truncated}</IsTruncated>$1`);
  return out.replace(/(<\/(?:ListBucketResult|ListMultipartUploadsResult)>)/, `${keep.map((b) => b.text).join('')}$1`);
}
