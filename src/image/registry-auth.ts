// Credentials for live registries (docker://): where they come from (a flag, the containers auth
// files, Docker's config.json), the WWW-Authenticate challenge, and redaction. A secret never
// leaves this module in a message: every error the registry client raises goes through redact().
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import * as nodePath from 'node:path';
import { InvalidInputError, RegbucketError } from '../errors.js';
import { isMissingFile } from '../util/not-found.js';

export interface Credentials {
  username: string;
  password: string;
  /** Where they came from, for messages (`--src-creds`, a file path). Never the secret. */
  origin: string;
}

// ---- redaction ----

const secrets = new Set<string>();

/** Remembers a secret so that redact() removes it (and its base64 forms) from any text. */
export function registerSecret(s: string | undefined): void {
  if (!s || s.length < 3) return;
  secrets.add(s);
}

function registerCredentials(c: Credentials): Credentials {
  registerSecret(c.password);
  registerSecret(`${c.username}:${c.password}`);
  registerSecret(Buffer.from(`${c.username}:${c.password}`).toString('base64'));
  return c;
}

/** `text` with every registered secret replaced by `***`. */
export function redact(text: string): string {
  let out = text;
  // Longest first: a password is a substring of `user:password`.
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join('***');
  return out;
}

/** An error from a live registry; its message has been redacted. */
export class RegistryError extends RegbucketError {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(redact(message));
  }
}

export class RegistryAuthError extends RegistryError {}

/** A connection dropped (or refused) after the retries it was given. */
export class RegistryConnectionError extends RegistryError {}

// ---- where credentials come from ----

/** `user:password` as given to --src-creds (the password may contain ':'). */
export function parseCredsFlag(v: string, flag = '--src-creds'): Credentials {
  const i = v.indexOf(':');
  if (i <= 0) throw new InvalidInputError(`${flag} takes user:password (the value given has no user before a ':')`);
  return registerCredentials({ username: v.slice(0, i), password: v.slice(i + 1), origin: flag });
}

/** host[:port] a key of an auth file names: `https://host:port/v1/`, `host/path`, `host`. */
function authKeyHost(key: string): string {
  return key
    .replace(/^[a-z]+:\/\//i, '')
    .split('/')[0]!
    .toLowerCase();
}

const DOCKER_HUB_ALIASES = ['docker.io', 'index.docker.io', 'registry-1.docker.io'];

function sameRegistry(key: string, host: string): boolean {
  const k = authKeyHost(key);
  const h = host.toLowerCase();
  if (k === h) return true;
  return DOCKER_HUB_ALIASES.includes(k) && DOCKER_HUB_ALIASES.includes(h);
}

/** The auth files consulted, in order (containers/image's order, then Docker's). */
export function authFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) files.push(nodePath.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  const home = env.HOME || homedir();
  files.push(nodePath.join(home, '.config', 'containers', 'auth.json'));
  files.push(nodePath.join(env.DOCKER_CONFIG || nodePath.join(home, '.docker'), 'config.json'));
  return files;
}

interface AuthFile {
  // unknown: the file is the user's, any JSON; each value is checked where it is used.
  auths?: Record<string, { auth?: unknown; username?: unknown; password?: unknown } | null>;
  /** Docker's credential helpers: `docker-credential-<name>` for every registry, or per registry. */
  credsStore?: unknown;
  credHelpers?: Record<string, unknown>;
}

const HELPER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const HELPER_TIMEOUT_MS = 30_000;

/**
 * Runs `docker-credential-<name> get` with the registry on stdin, as Docker does (ECR, GCR, ACR,
 * the OS keychains). Undefined when the helper has nothing for it ("credentials not found").
 */
function fromHelper(name: unknown, host: string, origin: string): Credentials | undefined {
  if (typeof name !== 'string' || !HELPER_NAME_RE.test(name)) throw new InvalidInputError(`credential helper name ${JSON.stringify(name)} in ${origin} is not a name: fix the file`);
  const program = `docker-credential-${name}`;
  const server = DOCKER_HUB_ALIASES.includes(host.toLowerCase()) ? 'https://index.docker.io/v1/' : host;
  // SIGKILL at the timeout: spawnSync waits for the child's exit, and a helper that ignores
  // SIGTERM (a shell trapping it, a blocked keychain prompt) would hang the command for good.
  const r = spawnSync(program, ['get'], { input: server, encoding: 'utf8', timeout: HELPER_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 });
  const code = r.error ? (r.error as NodeJS.ErrnoException).code : undefined;
  // EPIPE: the helper answered and exited without reading the registry from stdin (one that knows
  // nothing answers at once); its exit status and output still stand.
  if (r.error && !(code === 'EPIPE' && r.status !== null)) {
    if (code === 'ENOENT') throw new InvalidInputError(`${program} (named in ${origin}) is not on PATH: install it or remove "${name}" from the file`);
    throw new InvalidInputError(`${program} get failed for ${host}: ${code ?? r.error.message}`);
  }
  if (r.status !== 0) {
    // Docker's protocol: the helper says so on stdout; anything else is a failure worth naming
    // (its output is not quoted: it may hold a secret).
    if (/credentials not found/i.test(`${r.stdout}${r.stderr}`)) return undefined;
    throw new InvalidInputError(`${program} get exited ${r.status ?? 'on a signal'} for ${host}: run it by hand (echo ${host} | ${program} get) to see why`);
  }
  let out: { Username?: unknown; Secret?: unknown };
  try {
    out = JSON.parse(r.stdout) as typeof out;
  } catch {
    throw new InvalidInputError(`${program} get printed no JSON {Username, Secret} for ${host}`);
  }
  if (typeof out.Secret !== 'string' || typeof out.Username !== 'string' || out.Secret === '') return undefined;
  return registerCredentials({ username: out.Username, password: out.Secret, origin: program });
}

function readAuthFile(path: string): AuthFile | undefined {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    if (isMissingFile(err)) return undefined;
    throw new InvalidInputError(`cannot read auth file ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(raw) as AuthFile;
  } catch {
    // Not the parser's message: it can quote the file's content.
    throw new InvalidInputError(`auth file ${path} is not valid JSON: fix or remove it`);
  }
}

/** Credentials for `host` from the first auth file that has an entry for it. */
export function credentialsFromFiles(host: string, env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  for (const path of authFiles(env)) {
    const file = readAuthFile(path);
    // Docker's order: a helper for this registry, else the default store, else the auths entries.
    const helper = Object.entries(file?.credHelpers ?? {}).find(([key]) => sameRegistry(key, host))?.[1] ?? file?.credsStore;
    if (helper) {
      const found = fromHelper(helper, host, path);
      if (found) return found;
    }
    for (const [key, entry] of Object.entries(file?.auths ?? {})) {
      if (!entry || !sameRegistry(key, host)) continue;
      if (entry.auth !== undefined && typeof entry.auth !== 'string') throw new InvalidInputError(`the auth entry for ${key} in ${path} is not a base64 string: log in again`);
      if (entry.auth) {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        registerSecret(entry.auth);
        const i = decoded.indexOf(':');
        if (i <= 0) throw new InvalidInputError(`the auth entry for ${key} in ${path} does not decode to user:password: log in again`);
        return registerCredentials({ username: decoded.slice(0, i), password: decoded.slice(i + 1), origin: path });
      }
      if (typeof entry.username === 'string' && typeof entry.password === 'string' && entry.username && entry.password)
        return registerCredentials({ username: entry.username, password: entry.password, origin: path });
    }
  }
  return undefined;
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

// ---- challenges ----

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="...",service="...",scope="..."` (quoted or token values). */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]!)) !== null) {
    if (p[0] === '') break;
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}
