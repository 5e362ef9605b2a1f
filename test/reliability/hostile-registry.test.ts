// A hostile registry as a docker:// source of push --all-tags: a small server on 127.0.0.1 that
// speaks just enough of the Registry API to serve one image, and lies in its tag lists (names
// outside the tag grammar, pages linked without end, links elsewhere, answers of the wrong shape).
// Each lie ends in one line and a documented exit code; no listed name outside the grammar is
// requested or written; nothing hangs.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket } from '../lab/cli.js';
import { filesUnder } from '../lab/files.js';
import { tempDir } from '../lab/tools.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const layer = gzipSync(Buffer.alloc(1024));
const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(Buffer.alloc(1024))] }, config: {} }));
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: layer.length }],
  }),
);
const blobs = new Map([
  [sha(layer), layer],
  [sha(config), config],
]);

type TagsAnswer = (url: URL, res: ServerResponse) => void;

describe('a hostile registry as the source of push --all-tags', () => {
  let server: Server;
  let host = '';
  let tagsAnswer: TagsAnswer = () => {};
  const requested: string[] = [];

  function serve(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    requested.push(`${req.method} ${req.url}`);
    if (url.pathname === '/v2/') return void res.writeHead(200).end('{}');
    if (url.pathname.endsWith('/tags/list')) return tagsAnswer(url, res);
    if (/^\/v2\/lib\/app\/manifests\/[^/]+$/.test(url.pathname) && !url.pathname.includes('sha256-')) {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': sha(manifest) });
      return void res.end(req.method === 'HEAD' ? undefined : manifest);
    }
    const blob = blobs.get(/\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname)?.[1] ?? '');
    if (blob) return void res.writeHead(200, { 'content-length': blob.length }).end(req.method === 'HEAD' ? undefined : blob);
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND"}]}');
  }
  const page = (res: ServerResponse, body: unknown, link?: string) => {
    res.writeHead(200, { 'content-type': 'application/json', ...(link ? { link } : {}) });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };

  beforeAll(async () => {
    server = createServer(serve);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const mirror = async (store: string) => {
    requested.length = 0;
    return regbucket(['--store', store, '--progress', 'none', 'push', '--src-tls-verify=false', '--retries', '0', '--all-tags', `docker://${host}/lib/app`, 'mirror/app']);
  };
  const oneLine = (stderr: string) => expect(stderr.trim().split('\n'), stderr).toHaveLength(1);

  it('listed names outside the tag grammar are failed tags: never requested, never written; the valid ones arrive', async () => {
    const bad = ['../x', 'a/b', 'x'.repeat(129), 'ünï', '', 'a\u0000b', 'a\u001b[31mred', '..', '.', '-a', '.hidden', '%2e%2e', 'a?b'];
    tagsAnswer = (_u, res) => page(res, { name: 'lib/app', tags: [...bad, 'ok', 'ok'] });
    const store = tempDir();
    const r = await mirror(store);
    expect(r.code, r.stderr).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toMatch(/^regbucket: error: 13 of 14 tags failed: /);
    expect([...r.stderr].filter((c) => c < ' ' && c !== '\n')).toEqual([]);
    expect(requested.filter((q) => q.includes('/manifests/') && !/\/manifests\/(ok|sha256[-:])/.test(q))).toEqual([]);
    const tagDirs = new Set(filesUnder(store).map((f) => /\/_manifests\/tags\/([^/]+)\//.exec(f)?.[1]));
    tagDirs.delete(undefined);
    expect([...tagDirs]).toEqual(['ok']);
  }, 300_000);

  it('paging lies: names repeated across pages count once; a link elsewhere, a loop, endless empty pages, a malformed link and answers of the wrong shape are refused in one line', async () => {
    tagsAnswer = (u, res) => (u.searchParams.get('last') ? page(res, { tags: ['b', 'a', 'c'] }) : page(res, { tags: ['a', 'b'] }, '</v2/lib/app/tags/list?last=b>; rel="next"'));
    const twice = await regbucket(['--store', tempDir(), '--json', 'push', '--src-tls-verify=false', '--all-tags', `docker://${host}/lib/app`, 'mirror/app']);
    expect(twice.code, twice.stderr).toBe(0);
    expect(twice.json<{ summary: { tagsListed: number } }>().summary.tagsListed).toBe(3);

    const lies: [string, TagsAnswer, RegExp][] = [
      ['another path', (_u, res) => page(res, { tags: ['a'] }, '</token?last=a>; rel="next"'), /links a next page outside \/v2\/lib\/app\/tags\/list: refused/],
      ['another host', (_u, res) => page(res, { tags: ['a'] }, '<http://127.0.0.1:1/v2/other/tags/list?last=a>; rel="next"'), /links a next page outside/],
      ['a loop', (_u, res) => page(res, { tags: ['a'] }, '</v2/lib/app/tags/list?last=a>; rel="next"'), /links page .* twice/],
      ['endless empty pages', (u, res) => page(res, { tags: [] }, `</v2/lib/app/tags/list?last=${Number(u.searchParams.get('last') ?? 0) + 1}>; rel="next"`), /100 pages in a row without a name/],
      ['a malformed link', (_u, res) => page(res, { tags: ['a'] }, '<http://[::1>; rel="next"'), /Link header names no usable next page/],
      ['an array', (_u, res) => page(res, '[["a"]]'), /not a JSON object with "tags"/],
      ['null', (_u, res) => page(res, 'null'), /not a JSON object with "tags"/],
      ['names of the wrong type', (_u, res) => page(res, { tags: [1, {}] }), /"tags" is not a list of names/],
    ];
    for (const [what, answer, message] of lies) {
      tagsAnswer = answer;
      const store = tempDir();
      const r = await mirror(store);
      expect(r.code, `${what}: ${r.stderr}`).toBe(1);
      oneLine(r.stderr);
      expect(r.stderr, what).toMatch(message);
      expect(
        requested.filter((q) => !q.includes('/v2/lib/app/tags/list') && q !== 'GET /v2/'),
        what,
      ).toEqual([]);
      expect(filesUnder(store), what).toEqual([]);
    }
  }, 300_000);

  it('a registry answering 429 for ever ends the run in one line naming the rate limit, after its bounded waits', async () => {
    tagsAnswer = (_u, res) => res.writeHead(429, { 'retry-after': '0', 'content-type': 'application/json' }).end('{"errors":[{"code":"TOOMANYREQUESTS","message":"\\u001b[2Jslow down"}]}');
    const store = tempDir();
    const r = await mirror(store);
    expect(r.code, r.stderr).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toMatch(/answered 429 too many requests 31 times in a row: TOOMANYREQUESTS \\x1b\[2Jslow down: the registry's rate limit holds; try again later/);
    expect(requested.filter((q) => q.includes('/tags/list'))).toHaveLength(31);
    expect(filesUnder(store)).toEqual([]);
  }, 300_000);

  it('a page of 300,000 names is read (it overflowed the stack when spread into one push)', async () => {
    tagsAnswer = (_u, res) => page(res, { tags: Array.from({ length: 300_000 }, (_, i) => `t${i}`) });
    const r = await regbucket(['--store', tempDir(), 'push', '--src-tls-verify=false', '--all-tags', '--include-tag', 'none', `docker://${host}/lib/app`, 'mirror/app']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('(300000 listed)');
  }, 300_000);
});
