import { statSync } from 'node:fs';
import * as nodePath from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InvalidInputError } from '../errors.js';
import type { StorageDriver } from './driver.js';
import { FilesystemDriver } from './filesystem.js';

/**
 * The directory store a URL names (a path or file:///dir), or undefined for s3://. Other schemes
 * are refused. Kept apart from open.ts so a filesystem store never loads the S3 driver (and the
 * http, https and crypto modules it needs): start-up time.
 */
export function openLocalStore(url: string): StorageDriver | undefined {
  if (!url.trim()) throw new InvalidInputError('empty store URL: give a directory, file://dir or s3://bucket[/prefix]');
  if (/^file:/i.test(url)) return openDirectory(fileUrlPath(url), url);
  if (/^s3:\/\//i.test(url)) return undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new InvalidInputError(`unsupported store URL ${JSON.stringify(url)}: give a directory, file://dir or s3://bucket[/prefix]`);
  }
  return openDirectory(nodePath.resolve(url), url);
}

/**
 * A store's name as reports record it (verify --shard; --merge refuses shards of different
 * stores): a directory as its absolute file:// URL, an S3 store as s3://bucket/prefix.
 */
export function storeIdentity(url: string): string {
  if (/^s3:\/\//i.test(url)) return `s3://${url.slice(5).replace(/\/+$/, '')}`;
  const dir = /^file:/i.test(url) ? fileUrlPath(url) : nodePath.resolve(url);
  return pathToFileURL(dir).href.replace(/\/+$/, '');
}

/** The local path of a file: URL; one on another host is refused (it is not this machine's). */
function fileUrlPath(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InvalidInputError(`invalid store URL ${JSON.stringify(url)}: give file:///absolute/dir`);
  }
  if (u.hostname !== '' && u.hostname !== 'localhost') {
    throw new InvalidInputError(`store URL ${JSON.stringify(url)} names the host ${JSON.stringify(u.hostname)}: a file: store is a local directory, give file:///absolute/dir`);
  }
  if (u.search || u.hash) throw new InvalidInputError(`store URL ${JSON.stringify(url)} has a query or fragment: give file:///absolute/dir`);
  try {
    return fileURLToPath(u);
  } catch (err) {
    throw new InvalidInputError(`invalid store URL ${JSON.stringify(url)}: ${(err as Error).message}`);
  }
}

/** A directory store; a path that exists and is not a directory is refused (a mistyped --store). */
function openDirectory(dir: string, url: string): FilesystemDriver {
  const st = statSync(dir, { throwIfNoEntry: false });
  if (st && !st.isDirectory()) throw new InvalidInputError(`store ${JSON.stringify(url)} is not a directory: --store takes the registry's root directory (the one holding docker/)`);
  return new FilesystemDriver(dir);
}
