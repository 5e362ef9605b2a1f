// Placeholder until the S3 driver lands: filesystem stores only.
import * as nodePath from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidInputError } from '../errors.js';
import type { StorageDriver } from './driver.js';
import { FilesystemDriver } from './filesystem.js';

export interface OpenOptions {
  s3Endpoint?: string;
  s3Region?: string;
  retries?: number;
}

export function openDriver(url: string, _opts: OpenOptions = {}): StorageDriver {
  if (!url) throw new InvalidInputError('empty store URL: give a directory, file://dir or s3://bucket[/prefix]');
  if (url.startsWith('file://')) return new FilesystemDriver(fileURLToPath(url));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new InvalidInputError(`unsupported store URL ${JSON.stringify(url)}: give a directory, file://dir or s3://bucket[/prefix]`);
  }
  return new FilesystemDriver(nodePath.resolve(url));
}
