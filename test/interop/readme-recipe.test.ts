// The README's "Clean up a CI registry" recipe, run as written (its command lines are read from
// README.md): on a store with a CI history a month old, the registry 2.8.2 then lists exactly
// the release tags and the 10 newest other tags of each repository, serves each, and the blobs
// only the untagged builds used are gone.
import { readdirSync, readFileSync, statSync, utimesSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, regbucketOk } from '../lab/cli.js';
import { makeLayout } from '../lab/images.js';
import { startRegistry } from '../lab/registry.js';
import { expectServed } from '../lab/served.js';
import { tempDir } from '../lab/tools.js';

/** The recipe's command lines: the first sh block after its title, comments dropped, words split as sh does for these quotes. */
function recipe(): string[][] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf('**Clean up a CI registry.**');
  expect(at).toBeGreaterThan(0);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at))![1]!;
  return block
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l.startsWith('regbucket '))
    .map((l) => [...l.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!).slice(1));
}

function ageTree(dir: string, ms: number): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) ageTree(p, ms);
    utimesSync(p, st.atime, new Date(st.mtimeMs - ms));
  }
}

describe('README recipe: clean up a CI registry', () => {
  it('keeps the releases and the last 10 other tags of every repository, and gc frees the rest', async () => {
    const store = tempDir('regbucket-recipe-');
    const src = join(tempDir(), 'layout');
    const builds = Array.from({ length: 13 }, (_, i) => ({ ref: `b${i + 1}`, layers: 1, layerSize: 300 }));
    const { roots } = await makeLayout(src, [...builds, { ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 1 }, { ref: 'rel', layers: 1 }]);
    const digestOf = new Map(roots.map((r, i) => [i < 13 ? `b${i + 1}` : i === 13 ? 'multi' : 'rel', r.digest]));
    const push = (ref: string, to: string) => regbucketOk(['--store', store, 'push', `oci:${src}:${ref}`, to]);
    // ci/app: a release first (the oldest tag), builds 1-13, a second release among them, a
    // multi-arch build last. ci/tool: five builds (images ci/app keeps too), all kept.
    await push('rel', 'ci/app:v1.0');
    for (let i = 1; i <= 13; i++) {
      await push(`b${i}`, `ci/app:build-${i}`);
      if (i === 3) await push('b3', 'ci/app:v2.0');
    }
    await push('multi', 'ci/app:build-14');
    for (let i = 1; i <= 5; i++) await push(`b${i + 8}`, `ci/tool:build-${i}`);
    ageTree(store, 30 * 86_400_000);

    const lines = recipe();
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const args of lines) await regbucketOk(args, { REGBUCKET_STORE: store });

    const keptApp = ['v1.0', 'v2.0', ...Array.from({ length: 10 }, (_, i) => `build-${i + 5}`)];
    const registry = await startRegistry({ storage: { filesystem: store } });
    try {
      const tags = async (repo: string) => ((await (await fetch(`http://${registry.host}/v2/${repo}/tags/list`)).json()) as { tags: string[] }).tags.sort();
      expect(await tags('ci/app')).toEqual(keptApp.sort());
      expect(await tags('ci/tool')).toEqual(['build-1', 'build-2', 'build-3', 'build-4', 'build-5']);
      for (const t of keptApp) {
        const ref = t === 'v1.0' ? 'rel' : t === 'v2.0' ? 'b3' : t === 'build-14' ? 'multi' : `b${t.slice(6)}`;
        await expectServed(registry.host, `ci/app:${t}`, digestOf.get(ref)!, ref === 'multi' ? ['linux/amd64', 'linux/arm64'] : []);
      }
    } finally {
      await registry.stop();
    }
    // Builds 1, 2 and 4 were only ci/app's: their manifests and blobs are gone; build 3 is v2.0.
    const blob = (d: string) => existsSync(join(store, 'docker/registry/v2/blobs/sha256', d.slice(7, 9), d.slice(7), 'data'));
    expect(['b1', 'b2', 'b3', 'b4', 'b5'].map((b) => blob(digestOf.get(b)!))).toEqual([false, false, true, false, true]);
    await regbucketOk(['--store', store, 'verify']);
  }, 600_000);
});
