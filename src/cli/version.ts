import { readFileSync } from 'node:fs';

/**
 * regbucket's own version, from the package.json shipped beside dist/ (never $npm_package_version,
 * which inside an npm script is the calling project's).
 */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}
