// Where pull writes (oci:, oci-archive:, docker-archive:) is checked as a store is: nothing
// inside the destination is a symlink or anything but a directory or regular file (so a write
// never lands somewhere else), the destination never lies inside the store being exported from
// (it would overwrite the blobs it reads), and writers of one layout's index.json take turns.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { hostname } from 'node:os';
import * as nodePath from 'node:path';
import { InvalidInputError, RegbucketError } from '../errors.js';
import { processAlive } from '../util/process-alive.js';
import { isMissingFile } from '../util/not-found.js';

async function lstatOrNone(p: string): Promise<import('node:fs').Stats | undefined> {
  try {
    return await fs.lstat(p);
  } catch (err) {
    if (isMissingFile(err)) return undefined;
    throw err;
  }
}

/** The real path `p` would have: the nearest existing ancestor resolved, the rest appended. */
async function realTarget(p: string): Promise<string> {
  const rest: string[] = [];
  let cur = nodePath.resolve(p);
  for (;;) {
    try {
      return nodePath.join(await fs.realpath(cur), ...rest.reverse());
    } catch (err) {
      if (!isMissingFile(err)) throw err;
      const parent = nodePath.dirname(cur);
      if (parent === cur) return nodePath.join(cur, ...rest.reverse());
      rest.push(nodePath.basename(cur));
      cur = parent;
    }
  }
}

/** Refuses a destination inside the store directory `storeRoot` (or the store itself). */
export async function refuseInsideStore(dest: string, storeRoot: string, what: string): Promise<void> {
  const [d, s] = await Promise.all([realTarget(dest), realTarget(storeRoot)]);
  if (d === s || d.startsWith(s.endsWith(nodePath.sep) ? s : s + nodePath.sep)) {
    throw new InvalidInputError(`${what} ${dest} lies inside the store ${storeRoot}: writing there could overwrite what is being exported; choose a path outside the store`);
  }
}

/**
 * Checks an OCI layout directory before writing: the directory and what regbucket writes in it
 * (blobs, blobs/sha256, index.json, oci-layout) are real directories and regular files, never
 * symlinks; each is allowed not to exist yet.
 */
export async function checkLayoutDestination(dir: string): Promise<void> {
  const expect: [string, 'dir' | 'file'][] = [
    ['', 'dir'],
    ['blobs', 'dir'],
    ['blobs/sha256', 'dir'],
    ['index.json', 'file'],
    ['oci-layout', 'file'],
    ['index.json.lock', 'file'],
  ];
  for (const [rel, kind] of expect) {
    const p = rel ? nodePath.join(dir, rel) : dir;
    const st = await lstatOrNone(p);
    if (!st) {
      if (kind === 'dir') break; // nothing below a missing directory exists either
      continue;
    }
    if (st.isSymbolicLink()) throw new InvalidInputError(`cannot write the OCI layout ${dir}: ${p} is a symlink (symlinks in a destination are not followed)`);
    if (kind === 'dir' && !st.isDirectory()) throw new InvalidInputError(`cannot write the OCI layout ${dir}: ${p} exists and is not a directory`);
    if (kind === 'file' && !st.isFile()) throw new InvalidInputError(`cannot write the OCI layout ${dir}: ${p} exists and is not a regular file`);
  }
}

const LOCK_WAIT_MS = 120_000;

/**
 * Runs `fn` holding `<dir>/index.json.lock` (created exclusively; it names its holder, so a lock
 * left by a process that died on this host is taken over). Concurrent pulls into one layout each
 * read, merge and write index.json in turn, and none loses another's entries.
 */
export async function withIndexLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = nodePath.join(dir, 'index.json.lock');
  const me = `${process.pid}@${hostname()} ${randomUUID()}`;
  const started = Date.now();
  let delay = 10;
  for (;;) {
    try {
      const fh = await fs.open(lock, 'wx');
      try {
        await fh.writeFile(me);
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await fs.readFile(lock, 'utf8').catch(() => '');
    const m = /^(\d+)@(\S+) /.exec(holder);
    if (m && m[2] === hostname() && !processAlive(Number(m[1]))) {
      // The holder died: take the lock over, unless another waiter did it first.
      const stale = `${lock}.${randomUUID()}.stale`;
      await fs.rename(lock, stale).then(
        () => fs.rm(stale, { force: true }),
        () => undefined,
      );
      continue;
    }
    if (Date.now() - started > LOCK_WAIT_MS) {
      throw new RegbucketError(
        `${lock} has been held for over ${LOCK_WAIT_MS / 1000} s (${holder.split(' ')[0] || 'unknown holder'}): another pull is writing this layout; remove the file if no pull is running`,
      );
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 200);
  }
  try {
    return await fn();
  } finally {
    const now = await fs.readFile(lock, 'utf8').catch(() => '');
    if (now === me) await fs.rm(lock, { force: true });
  }
}

/** Docker's familiar form of a name for RepoTags: `docker.io/library/foo:latest` -> `foo:latest`. */
export function dockerRepoTag(name: string): string {
  const at = name.indexOf('@');
  if (at >= 0) throw new InvalidInputError(`${JSON.stringify(name)} names a digest: a docker-archive's RepoTags hold repo:tag names only`);
  let repo = name;
  let tag = 'latest';
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) {
    repo = name.slice(0, colon);
    tag = name.slice(colon + 1);
  }
  if (!/^[\w][\w.-]{0,127}$/.test(tag)) throw new InvalidInputError(`invalid tag ${JSON.stringify(tag)} in ${JSON.stringify(name)} for a docker-archive`);
  const parts = repo.split('/');
  let domain: string | undefined;
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost' || parts[0] !== parts[0]!.toLowerCase())) domain = parts.shift();
  if (domain !== undefined && !/^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$/.test(domain)) {
    throw new InvalidInputError(`invalid registry host ${JSON.stringify(domain)} in ${JSON.stringify(name)} for a docker-archive`);
  }
  const component = /^[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*$/;
  for (const p of parts) {
    if (!component.test(p)) {
      const hint = p !== p.toLowerCase() ? ' (Docker repository names are lowercase)' : '';
      throw new InvalidInputError(`invalid repository name ${JSON.stringify(repo)} in ${JSON.stringify(name)} for a docker-archive${hint}`);
    }
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  let path = parts.join('/');
  if (domain === 'docker.io' || domain === undefined) {
    if (parts.length === 2 && parts[0] === 'library') path = parts[1]!;
    return `${path}:${tag}`;
  }
  return `${domain}/${path}:${tag}`;
}
