// Four `regbucket push` processes at once into one store, images sharing layers: every push
// exits 0, verify finds nothing at all (no problem, no debris), every tag is the image pushed.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import { makeLayerTar, makeLayout } from '../lab/images.js';
import { tempDir } from '../lab/tools.js';
import { servedByRegistry, start, tagsComplete, trialCount, uploadsLeft, verifyStore } from './harness.js';

const MB = 1 << 20;

/** Who pushes what in a round: [ref in the layout, destination]. */
type Round = { kind: string; pushes: [string, string][] };

const ROUNDS: Round[] = [
  {
    kind: 'one repository, four tags',
    pushes: [
      ['w0', 'app:w0'],
      ['w1', 'app:w1'],
      ['w2', 'app:w2'],
      ['multi', 'app:multi'],
    ],
  },
  {
    kind: 'four repositories',
    pushes: [
      ['w0', 'r0:v'],
      ['w1', 'r1:v'],
      ['w2', 'r2:v'],
      ['multi', 'r3:v'],
    ],
  },
  {
    kind: 'one image, one tag, four times',
    pushes: [
      ['multi', 'app:same'],
      ['multi', 'app:same'],
      ['multi', 'app:same'],
      ['multi', 'app:same'],
    ],
  },
  {
    kind: 'two tags moving',
    pushes: [
      ['w0', 'app:a'],
      ['w1', 'app:a'],
      ['w2', 'app:b'],
      ['multi', 'app:b'],
    ],
  },
];

describe('concurrent pushes into one store (filesystem)', () => {
  let work: string;
  let layout: string;
  let digests: Map<string, string>;

  beforeAll(async () => {
    work = tempDir('regbucket-concurrent-');
    layout = join(work, 'layout');
    const shared = [await makeLayerTar(2 * MB), await makeLayerTar(2 * MB)];
    const specs = [
      ...['w0', 'w1', 'w2'].map((ref) => ({ ref, layers: 2, layerSize: MB, sharedLayers: shared })),
      { ref: 'multi', platforms: ['linux/amd64', 'linux/arm64'], layers: 1, layerSize: MB, sharedLayers: shared },
    ];
    const { roots } = await makeLayout(layout, specs);
    digests = new Map(specs.map((s, i) => [s.ref, roots[i]!.digest]));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('all exit 0, verify is clean, every tag resolves to an image that was pushed to it', async () => {
    const rounds = trialCount(4); // one of each kind in CI; REGBUCKET_TRIALS=8 for the soak
    const started = Date.now();
    let processes = 0;
    let tagsChecked = 0;
    let lastStore = '';
    for (let r = 0; r < rounds; r++) {
      const round = ROUNDS[r % ROUNDS.length]!;
      const store = join(work, `s${r}`);
      const where = `round ${r} (${round.kind})`;
      const runs = await Promise.all(round.pushes.map(([ref, dest]) => start(['--store', store, 'push', `oci:${layout}:${ref}`, dest])));
      processes += runs.length;
      runs.forEach((x, i) => expect(x.code, `${where}: push ${i}: ${x.stderr}`).toBe(0));
      const v = await verifyStore(['--store', store]);
      expect(v.problems, where).toEqual([]);
      expect(v.warnings, where).toEqual({}); // nothing left behind either: no orphans, no uploads
      expect(uploadsLeft(store), where).toEqual([]);
      const tags = await tagsComplete(new FilesystemDriver(store));
      // Every tag names one of the images pushed to it (the last writer wins a moving tag).
      const want = new Map<string, Set<string>>();
      for (const [ref, dest] of round.pushes) {
        const t = dest.includes(':') ? dest : `${dest}:latest`;
        if (!want.has(t)) want.set(t, new Set());
        want.get(t)!.add(digests.get(ref)!);
      }
      expect([...tags.keys()].sort(), where).toEqual([...want.keys()].sort());
      for (const [t, d] of tags) expect(want.get(t)!.has(d), `${where}: ${t} is ${d}`).toBe(true);
      tagsChecked += tags.size;
      if (lastStore) rmSync(lastStore, { recursive: true, force: true });
      lastStore = store;
    }
    const tags = await tagsComplete(new FilesystemDriver(lastStore));
    const served = await servedByRegistry(lastStore, tags.keys());
    expect(Object.fromEntries(served)).toEqual(Object.fromEntries(tags));
    console.log(
      `[concurrent-push fs] rounds ${rounds} of 4 concurrent pushes (${processes} processes), all exit 0, tags checked ${tagsChecked}, ` +
        `problems 0, warnings 0, objects lost or corrupt 0, registry served ${served.size} tags; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }, 900_000); // generous: the figures come from a shared, loaded machine
});
