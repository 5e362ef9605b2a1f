import { readFileSync } from 'node:fs';

/**
 * regbucket's own version, from its package.json (never $npm_package_version, which inside an
 * npm script is the calling project's). The file is found from this module: dist/cli/version.js
 * is two levels below it, the bundle dist/regbucket.cjs one.
 */
export function packageVersion(): string {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'regbucket' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not this one
    }
  }
  return 'unknown';
}
