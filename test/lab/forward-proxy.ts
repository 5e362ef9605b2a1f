// A small forward proxy on 127.0.0.1, as corporate networks have: CONNECT tunnels (https) and
// absolute-URI forwarding (plain http). It counts what went through it, by target host:port. With
// `credentials` it asks for Basic proxy authentication (407 without the right Proxy-Authorization).
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

export interface ForwardProxy {
  url: string;
  /** `CONNECT host:port` and `GET host:port` (the method, then the target), in order. */
  seen: string[];
  stop(): Promise<void>;
}

export async function startForwardProxy(credentials?: { user: string; password: string }): Promise<ForwardProxy> {
  const seen: string[] = [];
  const expected = credentials && `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`;
  const refused = (req: IncomingMessage): boolean => expected !== undefined && req.headers['proxy-authorization'] !== expected;
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute URI expected');
      return;
    }
    if (refused(req)) {
      seen.push(`407 ${target.host}`);
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="lab"' }).end();
      return;
    }
    seen.push(`${req.method} ${target.host}`);
    delete req.headers['proxy-authorization'];
    const up = request(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    if (refused(req)) {
      seen.push(`407 ${req.url}`);
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="lab"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    seen.push(`CONNECT ${req.url}`);
    const [host, port] = (req.url ?? '').split(':');
    const up = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
