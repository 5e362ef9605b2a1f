// HTTP for the Registry API v2: scheme discovery (https; http only with tls verification off, as
// skopeo), the auth challenge (anonymous, bearer token per scope, basic), redirects (credentials
// dropped when the origin changes), retries with backoff on 5xx and dropped connections, and waits
// on rate limits (429 with Retry-After or RateLimit-Reset; a spent RateLimit-Remaining quota).
import * as http from 'node:http';
import * as https from 'node:https';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { RegbucketError } from '../errors.js';
import { basicHeader, parseChallenge, registerSecret, RegistryAuthError, RegistryConnectionError, RegistryError, type Challenge, type Credentials } from './registry-auth.js';
import { escapeText } from '../util/escape.js';
import { Agents, proxyAuthHint } from '../util/proxy.js';

export interface RegistryHttpOptions {
  /** false: accept any certificate and fall back to plain http (`--src-tls-verify=false`). */
  tlsVerify: boolean;
  credentials?: Credentials;
  retries: number;
  /** No byte for this long (connecting, waiting for the answer, mid-body) fails the attempt (default 60 s). */
  timeoutMs?: number;
  /** Sockets per origin. */
  maxSockets: number;
  /** Base delay of the exponential backoff (tests make it short). */
  backoffMs?: number;
  /** The flags messages name: `src` (--src-creds, --src-tls-verify) or `dest`. */
  side?: 'src' | 'dest';
}

export interface RequestSpec {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';
  /** Path (and query) below the origin, starting with /v2/. */
  path: string;
  /** Token scope (`repository:<name>:pull`); several are separated by spaces. */
  scope?: string;
  headers?: Record<string, string>;
  /** A request body: bytes, or a stream opened anew for each attempt (uploads never buffer a blob). */
  body?: Buffer | (() => Promise<Readable>);
  /**
   * No retry of a dropped connection or a 5xx at this address: the caller starts over. An upload's
   * session is spoilt by a partial body (distribution cancels it: "upload resumed at wrong offset").
   */
  once?: boolean;
}

const TRANSIENT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', 'ECONNABORTED', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_SOCKET']);

export function isTransientError(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException;
  return TRANSIENT_CODES.has(e?.code ?? '') || e?.message === 'aborted' || e?.message === 'socket hang up';
}

function retryableStatus(s: number): boolean {
  return s === 408 || s === 429 || (s >= 500 && s !== 501 && s !== 505);
}

/** 429 answers waited out per request before it fails: rate limits slow a mirror down, not end it. */
const MAX_RATE_LIMIT_WAITS = 30;
/** The longest single wait a registry's rate limit headers can ask for. */
const MAX_RATE_LIMIT_WAIT_MS = 60_000;

/** Seconds in a header (`Retry-After: 12`, `RateLimit-Reset: 12`); an HTTP date for Retry-After. */
function headerSeconds(v: string | string[] | undefined): number | undefined {
  const text = Array.isArray(v) ? v[0] : v;
  if (text === undefined || text.trim() === '') return undefined;
  const n = Number(text.trim().split(/[;,]/)[0]);
  if (Number.isFinite(n) && n >= 0) return n;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}

/** How long to wait after a 429: Retry-After, else RateLimit-Reset, else exponential backoff; at most a minute. */
export function rateLimitWaitMs(h: http.IncomingHttpHeaders, baseMs: number, waits: number): number {
  const s = headerSeconds(h['retry-after']) ?? headerSeconds(h['ratelimit-reset']);
  const ms = s !== undefined ? Math.max(s * 1000, baseMs) : baseMs * 2 ** Math.min(waits, 8);
  return Math.min(ms, MAX_RATE_LIMIT_WAIT_MS);
}

/** A quota spent (`RateLimit-Remaining: 0` with `RateLimit-Reset`): how long to hold further requests. */
export function quotaPauseMs(h: http.IncomingHttpHeaders): number {
  const remaining = headerSeconds(h['ratelimit-remaining']);
  const reset = headerSeconds(h['ratelimit-reset']);
  if (remaining !== 0 || reset === undefined) return 0;
  return Math.min(reset * 1000, MAX_RATE_LIMIT_WAIT_MS);
}

const IDLE_TIMEOUT_MS = 60_000;
const CONNECT_TIMEOUT_MS = 10_000;

/** Reads a (small) body whole; refuses more than `limit` bytes. */
export async function readBody(res: http.IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) {
      res.destroy();
      throw new RegistryError(`${what} is over ${limit} bytes: refused`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** `CODE: message` of the registry's JSON error body, short; empty when there is none. */
async function errorDetail(res: http.IncomingMessage): Promise<string> {
  try {
    const body = await readBody(res, 64 * 1024, 'error body');
    const j = JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] };
    const e = j.errors?.[0];
    if (!e) return '';
    return `: ${[e.code, e.message].filter(Boolean).join(' ')}`.slice(0, 200);
  } catch {
    return '';
  }
}

export class RegistryHttp {
  private base?: Promise<string>;
  private challenge?: Challenge;
  private readonly tokens = new Map<string, Promise<{ token: string; expires: number }>>();
  private readonly agents: Agents;
  /** A spent `RateLimit-Remaining` quota holds every request of this client until then. */
  private pausedUntil = 0;

  constructor(
    readonly host: string,
    private readonly opts: RegistryHttpOptions,
  ) {
    this.agents = new Agents({ keepAlive: true, maxSockets: Math.max(1, opts.maxSockets), rejectUnauthorized: opts.tlsVerify });
  }

  close(): void {
    this.agents.destroy();
  }

  private get side(): string {
    return this.opts.side ?? 'src';
  }

  private get credsHint(): string {
    return this.opts.credentials
      ? `${this.host} rejected the credentials from ${this.opts.credentials.origin}: check the user and password`
      : `${this.host} needs credentials: pass --${this.side}-creds user:password, or log in (REGISTRY_AUTH_FILE, ~/.docker/config.json)`;
  }

  /** One HTTP exchange, following redirects; Authorization only goes to the registry's origin. */
  private async send(method: string, url: URL, headers: Record<string, string>, body?: RequestSpec['body'], redirects = 0): Promise<http.IncomingMessage> {
    const stream = typeof body === 'function' ? await body() : undefined;
    return new Promise((resolve, reject) => {
      const isHttps = url.protocol === 'https:';
      const req = (isHttps ? https : http).request(
        url,
        { method, headers: { 'user-agent': 'regbucket', ...headers }, agent: this.agents.for(url), ...(isHttps ? { rejectUnauthorized: this.opts.tlsVerify } : {}) },
        (res) => {
          const s = res.statusCode ?? 0;
          if (s >= 300 && s < 400 && s !== 304 && res.headers.location) {
            res.resume();
            if (redirects >= 10) return reject(new RegistryError(`${method} ${url.origin}${url.pathname}: more than 10 redirects`));
            const next = new URL(res.headers.location, url);
            const h = { ...headers };
            if (next.origin !== url.origin) delete h.authorization;
            this.send(method, next, h, body, redirects + 1).then(resolve, reject);
            return;
          }
          resolve(res);
        },
      );
      // Idle: no byte for timeoutMs while connecting, waiting for the answer or reading its body
      // (the socket's timeout stays on while the body streams); a connect gets the smaller of it and 10 s.
      const idle = this.opts.timeoutMs ?? IDLE_TIMEOUT_MS;
      const stalled = (what: string, ms: number) => () => req.destroy(Object.assign(new Error(`${what} in ${ms / 1000} s (--timeout)`), { code: 'ETIMEDOUT' }));
      req.setTimeout(idle, stalled('no byte', idle));
      const connectMs = Math.min(idle, CONNECT_TIMEOUT_MS);
      req.once('socket', (sock) => {
        if (!sock.connecting) return;
        const t = setTimeout(stalled('no connection', connectMs), connectMs);
        sock.once('connect', () => clearTimeout(t));
        sock.once('close', () => clearTimeout(t));
      });
      req.on('error', reject);
      if (stream) {
        // The answer may come before the whole body is sent (an early refusal): that answer stands.
        pipeline(stream, req).catch((err: Error) => {
          req.destroy(err);
          reject(err);
        });
      } else req.end(Buffer.isBuffer(body) ? body : undefined);
    });
  }

  private async backoff(attempt: number, retryAfter?: string): Promise<void> {
    const base = this.opts.backoffMs ?? 250;
    let ms = Math.min(base * 2 ** attempt, 10_000);
    const ra = Number(retryAfter);
    if (retryAfter && Number.isFinite(ra)) ms = Math.min(Math.max(ms, ra * 1000), 30_000);
    await sleep(ms * (0.75 + Math.random() * 0.5));
  }

  /** A one-line error for a failure below HTTP (TLS, DNS), with the fix where there is one. */
  private networkError(what: string, err: unknown): unknown {
    // A source's own error (a blob that does not hash to its digest) stays what it is.
    if (err instanceof RegbucketError || !(err instanceof Error)) return err;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'EPROTO' || code.startsWith('ERR_SSL')) {
      return new RegistryError(`${what}: ${this.host} does not answer TLS; if it serves plain http, pass --${this.side}-tls-verify=false`);
    }
    if (/CERT|SIGNATURE/.test(code)) {
      return new RegistryError(`${what}: the TLS certificate of ${this.host} is not trusted (${code}); trust its CA, or pass --${this.side}-tls-verify=false`);
    }
    if (code === 'ENOTFOUND') return new RegistryError(`${what}: no such host ${this.host}`);
    return new RegistryError(`${what}: ${code || err.message}`);
  }

  /** Retries `fn` on dropped connections. */
  private async withRetries<T>(what: string, fn: () => Promise<T>, retries = this.opts.retries): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!isTransientError(err)) throw this.networkError(what, err);
        if (attempt >= retries) {
          const e = err as NodeJS.ErrnoException;
          throw new RegistryConnectionError(`${what}: ${e.code ?? e.message} (after ${attempt + 1} attempt${attempt ? 's' : ''})`);
        }
        await this.backoff(attempt);
      }
    }
  }

  /** https, or http when verification is off and the host does not speak TLS. Learns the auth challenge. */
  private origin(): Promise<string> {
    if (!this.base) {
      this.base = this.discover();
      // A failed probe is not remembered: the next request (another image of a sync) tries again.
      this.base.catch(() => (this.base = undefined));
    }
    return this.base;
  }

  private async discover(): Promise<string> {
    const schemes = this.opts.tlsVerify ? ['https'] : ['https', 'http'];
    let lastErr: unknown;
    for (const scheme of schemes) {
      const base = `${scheme}://${this.host}`;
      let res: http.IncomingMessage;
      try {
        res = await this.withRetries(`GET ${base}/v2/`, () => this.send('GET', new URL(`${base}/v2/`), {}));
      } catch (err) {
        lastErr = err;
        if (scheme === 'https' && schemes.length > 1) continue;
        throw err;
      }
      res.resume();
      if (res.statusCode === 401) this.challenge = parseChallenge(res.headers['www-authenticate']);
      return base;
    }
    throw lastErr;
  }

  private async token(scope: string): Promise<string> {
    const cached = this.tokens.get(scope);
    if (cached) {
      const t = await cached;
      if (t.expires > Date.now()) return t.token;
    }
    const p = this.fetchToken(scope);
    this.tokens.set(scope, p);
    p.catch(() => this.tokens.delete(scope));
    return (await p).token;
  }

  private async fetchToken(scope: string): Promise<{ token: string; expires: number }> {
    const { realm, service } = this.challenge!.params;
    if (!realm) throw new RegistryAuthError(`${this.host} asks for a bearer token but names no realm to get it from`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryAuthError(`${this.host} names a token realm that is not a URL (${escapeText(realm.slice(0, 200))}): the registry's auth configuration is broken`);
    }
    if (url.protocol !== 'https:' && (url.protocol !== 'http:' || this.opts.tlsVerify)) {
      // Basic credentials go to the realm: never in the clear unless TLS was waived for this registry.
      throw new RegistryAuthError(
        `${this.host} names a token realm ${url.protocol}//${url.host} that is not https: credentials would travel in the clear; use an https realm, or --${this.side === 'dest' ? 'dest' : 'src'}-tls-verify=false to allow plain http`,
      );
    }
    if (service) url.searchParams.set('service', service);
    for (const one of scope.split(' ').filter(Boolean)) url.searchParams.append('scope', one);
    const headers: Record<string, string> = {};
    if (this.opts.credentials) headers.authorization = basicHeader(this.opts.credentials);
    const where = `token request to ${url.origin}${url.pathname}`;
    for (let attempt = 0; ; attempt++) {
      const res = await this.withRetries(where, () => this.send('GET', url, headers));
      const s = res.statusCode ?? 0;
      if (s === 200) {
        // Never quote the body: it holds the token.
        let j: { token?: string; access_token?: string; expires_in?: number };
        try {
          j = JSON.parse((await readBody(res, 1 << 20, 'token response')).toString('utf8')) as typeof j;
        } catch {
          throw new RegistryAuthError(`${where}: the answer is not a JSON token`);
        }
        const token = j.token ?? j.access_token;
        if (!token) throw new RegistryAuthError(`${where}: the answer holds no token`);
        registerSecret(token);
        const life = Math.max(60, Number(j.expires_in) || 60) * 1000;
        return { token, expires: Date.now() + life - 10_000 };
      }
      res.resume();
      if (s === 401 || s === 403) throw new RegistryAuthError(`${where} answered ${s}: ${this.credsHint}`, s);
      if (s === 407) throw new RegistryAuthError(`${where} answered 407: ${proxyAuthHint(where)}`, s);
      if (retryableStatus(s) && attempt < this.opts.retries) {
        await this.backoff(attempt, res.headers['retry-after']);
        continue;
      }
      throw new RegistryError(`${where} answered ${s}`, s);
    }
  }

  private async authorization(scope: string | undefined): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    if (c.scheme === 'bearer') return `Bearer ${await this.token(scope ?? '')}`;
    if (c.scheme === 'basic' && this.opts.credentials) return basicHeader(this.opts.credentials);
    return undefined;
  }

  /**
   * A request answered with a final status: 2xx, or 404 (the caller decides what missing means).
   * Other statuses become one-line errors; 429 and 5xx are retried with backoff first.
   */
  async request(spec: RequestSpec): Promise<http.IncomingMessage> {
    const base = await this.origin();
    const url = new URL(`${base}${spec.path}`);
    const what = `${spec.method} ${url.origin}${url.pathname}`;
    let reauthorized = false;
    let throttled = 0;
    for (let attempt = 0; ;) {
      const auth = await this.authorization(spec.scope);
      const headers = { ...spec.headers, ...(auth ? { authorization: auth } : {}) };
      const pause = this.pausedUntil - Date.now();
      if (pause > 0) await sleep(pause);
      const res = await this.withRetries(what, () => this.send(spec.method, url, headers, spec.body), spec.once ? 0 : undefined);
      const s = res.statusCode ?? 0;
      const quota = quotaPauseMs(res.headers);
      if (quota > 0) this.pausedUntil = Math.max(this.pausedUntil, Date.now() + quota);
      if ((s >= 200 && s < 300) || s === 404) return res;
      const detail = await errorDetail(res);
      if (s === 401) {
        const ch = parseChallenge(res.headers['www-authenticate']);
        if (!reauthorized && ch && (ch.scheme !== this.challenge?.scheme || ch.scheme === 'bearer')) {
          // A first challenge, or an expired token: ask again once.
          this.challenge = ch;
          if (spec.scope) this.tokens.delete(spec.scope);
          reauthorized = true;
          continue;
        }
        throw new RegistryAuthError(`${what} answered 401 unauthorized${detail}: ${this.credsHint}`, s);
      }
      if (s === 407) throw new RegistryAuthError(`${what} answered 407: ${proxyAuthHint(url)}`, s);
      if (s === 403)
        throw new RegistryAuthError(
          `${what} answered 403 denied${detail}: the credentials from ${this.opts.credentials?.origin ?? '(none)'} may not ${this.side === 'dest' ? 'push to' : 'pull'} this repository`,
          s,
        );
      if (s === 429 && throttled < MAX_RATE_LIMIT_WAITS) {
        // Rate limited: wait as long as the registry asks and try again, without using a retry.
        await sleep(rateLimitWaitMs(res.headers, this.opts.backoffMs ?? 250, throttled++));
        continue;
      }
      if (s === 429) {
        // Waited out MAX_RATE_LIMIT_WAITS times: the registry's quota is spent for longer than a run should hang on.
        throw new RegistryError(`${what} answered 429 too many requests ${throttled + 1} times in a row${detail}: the registry's rate limit holds; try again later, or with a lower --concurrency`, s);
      }
      if (retryableStatus(s) && attempt < this.opts.retries && !spec.once) {
        await this.backoff(attempt, res.headers['retry-after']);
        attempt++;
        continue;
      }
      throw new RegistryError(`${what} answered ${s}${detail}${retryableStatus(s) ? ` (after ${attempt + 1} attempts)` : ''}`, s);
    }
  }
}
