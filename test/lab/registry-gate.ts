// An HTTP gate on 127.0.0.1 in front of the real registry, for what the registry itself cannot do
// here without TLS and a token service: a bearer-token challenge (its own token endpoint, basic
// credentials checked there), blob redirects to another origin (as registries redirect to S3),
// and faults on demand (error statuses, connections dropped mid-blob). Counts requests by kind.
import { randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GateOptions {
  /** http://127.0.0.1:PORT of the registry behind. */
  target: string;
  /** Bearer-token auth: the token endpoint takes these credentials (or anyone, when `anonymous`). */
  bearer?: { username: string; password: string; anonymous?: boolean };
  /** Blob GETs answer 307 to a second origin that serves the bytes. */
  redirectBlobs?: boolean;
  /**
   * Answer the OCI 1.1 referrers API (which 2.8 lacks): subject digest -> descriptors listed;
   * any other subject gets an empty index, as a registry with the API answers.
   */
  referrers?: Record<string, unknown[]>;
  /**
   * Page tag lists by `n` and `last` with a `Link` to the next page, as distribution 3 does
   * (2.8 answers every tag at once and ignores `n`).
   */
  pageTags?: boolean;
}

export interface Fault {
  /** Matches `METHOD kind` (e.g. `GET blobs`, `GET manifests`, `HEAD blobs`). */
  match: string;
  /** Answer this status instead of forwarding... */
  status?: number;
  /** ...with these headers (`retry-after`, `ratelimit-reset`). */
  headers?: Record<string, string>;
  /** ...or forward, but cut the connection after this many body bytes. */
  dropAfterBytes?: number;
  /** ...or forward the request, but cut the connection after this many bytes of its body (an upload dropped mid-way). */
  cutRequestAfterBytes?: number;
  /** How many matching requests it hits. */
  times: number;
}

export interface RunningGate {
  host: string;
  counts(): Record<string, number>;
  /** Authorization headers the redirect origin received (must stay empty). */
  redirectAuthHeaders: string[];
  /** Token requests seen, with their scope. */
  tokenScopes: string[];
  addFault(f: Fault): void;
  reset(): void;
  stop(): Promise<void>;
}

function kindOf(path: string): string {
  const m = /^\/v2\/.+\/(manifests|blobs|referrers|tags)\//.exec(path);
  if (m) return m[1]!;
  if (path === '/v2/_catalog') return 'catalog';
  return path === '/v2/' ? 'ping' : path.startsWith('/token') ? 'token' : 'other';
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

export async function startGate(opts: GateOptions): Promise<RunningGate> {
  const target = new URL(opts.target);
  const tokens = new Set<string>();
  const counts: Record<string, number> = {};
  const faults: Fault[] = [];
  const redirectAuthHeaders: string[] = [];
  const tokenScopes: string[] = [];
  let port = 0;
  let redirectPort = 0;

  const forward = (req: IncomingMessage, res: ServerResponse, path: string, dropAfter?: number, cutRequestAfter?: number): void => {
    const headers = { ...req.headers, host: target.host };
    delete headers.authorization;
    const up = request({ host: target.hostname, port: target.port, method: req.method, path, headers }, (ur) => {
      const h = { ...ur.headers };
      if (ur.headers.location) h.location = ur.headers.location.replace(target.host, `127.0.0.1:${port}`);
      res.writeHead(ur.statusCode ?? 502, h);
      if (dropAfter === undefined) {
        ur.pipe(res);
        return;
      }
      let sent = 0;
      ur.on('data', (c: Buffer) => {
        const room = dropAfter - sent;
        if (room <= 0) return;
        res.write(c.subarray(0, room));
        sent += Math.min(room, c.length);
        if (sent >= dropAfter) {
          ur.destroy();
          // Flush what was written, then cut the connection mid-body.
          setTimeout(() => res.socket?.destroy(), 20);
        }
      });
      ur.on('end', () => res.end());
    });
    up.on('error', () => res.destroy());
    if (cutRequestAfter === undefined) {
      req.pipe(up);
      return;
    }
    let passed = 0;
    req.on('data', (c: Buffer) => {
      const room = cutRequestAfter - passed;
      if (room <= 0) return;
      up.write(c.subarray(0, room));
      passed += Math.min(room, c.length);
      if (passed >= cutRequestAfter) {
        // The registry sees its client go away mid-body; the client sees its connection cut.
        setTimeout(() => {
          up.destroy();
          req.socket.destroy();
        }, 20);
      }
    });
    req.on('end', () => up.end());
  };

  const pagedTags = (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    const headers = { ...req.headers, host: target.host };
    delete headers.authorization;
    const up = request({ host: target.hostname, port: target.port, method: 'GET', path: url.pathname, headers }, (ur) => {
      const chunks: Buffer[] = [];
      ur.on('data', (c: Buffer) => chunks.push(c));
      ur.on('end', () => {
        if (ur.statusCode !== 200) {
          res.writeHead(ur.statusCode ?? 502, ur.headers).end(Buffer.concat(chunks));
          return;
        }
        const doc = JSON.parse(Buffer.concat(chunks).toString()) as { name: string; tags: string[] };
        const last = url.searchParams.get('last');
        const n = Number(url.searchParams.get('n') ?? 1000);
        const rest = [...doc.tags].sort().filter((t) => last === null || t > last);
        const page = rest.slice(0, n);
        const h: Record<string, string> = { 'content-type': 'application/json' };
        if (rest.length > n) h.link = `<${url.pathname}?n=${n}&last=${encodeURIComponent(page[page.length - 1]!)}>; rel="next"`;
        res.writeHead(200, h).end(JSON.stringify({ name: doc.name, tags: page }));
      });
    });
    up.on('error', () => res.destroy());
    up.end();
  };

  const redirectServer = createServer((req, res) => {
    if (req.headers.authorization) redirectAuthHeaders.push(req.headers.authorization);
    forward(req, res, req.url ?? '/');
  });
  redirectPort = await listen(redirectServer);

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const kind = `${req.method} ${kindOf(url.pathname)}`;
    counts[kind] = (counts[kind] ?? 0) + 1;

    if (url.pathname === '/token' && opts.bearer) {
      tokenScopes.push(url.searchParams.get('scope') ?? '');
      const want = `Basic ${Buffer.from(`${opts.bearer.username}:${opts.bearer.password}`).toString('base64')}`;
      if (!opts.bearer.anonymous && req.headers.authorization !== want) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
        return;
      }
      const token = randomBytes(16).toString('hex');
      tokens.add(token);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
      return;
    }
    if (opts.bearer) {
      const auth = req.headers.authorization ?? '';
      if (!auth.startsWith('Bearer ') || !tokens.has(auth.slice(7))) {
        const repo = /^\/v2\/(.+)\/(?:manifests|blobs|referrers|tags)\//.exec(url.pathname)?.[1];
        const scope = repo ? `,scope="repository:${repo}:pull"` : '';
        res
          .writeHead(401, {
            'content-type': 'application/json',
            'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="gate"${scope}`,
          })
          .end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
    }
    const referrersOf = /^\/v2\/.+\/referrers\/(sha256:[a-f0-9]{64})$/.exec(url.pathname)?.[1];
    if (opts.referrers && referrersOf) {
      const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: opts.referrers[referrersOf] ?? [] };
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' }).end(JSON.stringify(index));
      return;
    }
    const fault = faults.find((f) => f.times > 0 && kind === f.match);
    if (opts.pageTags && kind === 'GET tags' && !fault) {
      pagedTags(req, res, url);
      return;
    }
    if (fault) fault.times--;
    if (fault?.status) {
      res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers }).end('{"errors":[{"code":"UNKNOWN","message":"injected"}]}');
      return;
    }
    if (opts.redirectBlobs && kind === 'GET blobs' && !fault) {
      res.writeHead(307, { location: `http://127.0.0.1:${redirectPort}${req.url}` }).end();
      return;
    }
    forward(req, res, req.url ?? '/', fault?.dropAfterBytes, fault?.cutRequestAfterBytes);
  });
  port = await listen(server);

  const close = (s: Server) =>
    new Promise<void>((resolve) => {
      s.closeAllConnections();
      s.close(() => resolve());
    });
  return {
    host: `127.0.0.1:${port}`,
    counts: () => ({ ...counts }),
    redirectAuthHeaders,
    tokenScopes,
    addFault: (f) => faults.push({ ...f }),
    reset: () => {
      for (const k of Object.keys(counts)) delete counts[k];
      faults.length = 0;
      tokenScopes.length = 0;
    },
    stop: async () => {
      await close(server);
      await close(redirectServer);
    },
  };
}
