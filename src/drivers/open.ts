import { InvalidInputError } from '../errors.js';
import type { StorageDriver } from './driver.js';
import { S3Driver, checkBucketName } from './s3.js';
import { openLocalStore } from './store-url.js';

export interface OpenOptions {
  s3Endpoint?: string;
  s3Region?: string;
  retries?: number;
  /** Idle timeout of storage requests (ms). */
  timeoutMs?: number;
}

const PREFIX_COMPONENT_RE = /^[A-Za-z0-9._-]+$/;

/**
 * A store URL: a directory path or file://dir (the registry's filesystem rootdirectory), or
 * s3://bucket[/prefix] (the prefix is the registry's s3 rootdirectory). The S3 SDK loads only
 * when an S3 store is first used.
 */
export function openDriver(url: string, opts: OpenOptions = {}): StorageDriver {
  return openLocalStore(url) ?? openS3(url, opts);
}

function openS3(url: string, opts: OpenOptions): S3Driver {
  const rest = url.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
  if (!bucket) throw new InvalidInputError(`store URL ${JSON.stringify(url)} names no bucket: give s3://bucket[/prefix]`);
  // Path-style (any endpoint given) puts the name in the path, where older names still work.
  const pathStyle = Boolean(opts.s3Endpoint || process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL);
  const bad = checkBucketName(bucket, { legacy: pathStyle });
  if (bad) throw new InvalidInputError(`invalid bucket name ${JSON.stringify(bucket)} in store URL ${JSON.stringify(url)}: ${bad}`);
  if (prefix && !prefix.split('/').every((c) => PREFIX_COMPONENT_RE.test(c) && c !== '.' && c !== '..')) {
    throw new InvalidInputError(
      `invalid prefix ${JSON.stringify(prefix)} in store URL ${JSON.stringify(url)}: slash-separated names of letters, digits, '.', '_' and '-' (no empty, '.' or '..' parts)`,
    );
  }
  return new S3Driver({ bucket, prefix, endpoint: opts.s3Endpoint, region: opts.s3Region, retries: opts.retries, timeoutMs: opts.timeoutMs });
}
