// Differential property test: generated store trees go to regbucket's gc and registry 2.8.2's
// garbage-collect (without and with --delete-untagged) on copies; regbucket's deleted set must
// be a subset of the registry's, per mode. Where the registry's gc aborts (a manifest it cannot
// decode, a name its parser refuses), regbucket may delete only what is garbage under every
// reading: nothing a revision's Go or JSON.parse reading references (every digest written in
// one Go cannot read), nothing a repository it cannot read links (and, with --delete-untagged,
// nothing written in such a repository).
// Generated: repository names in and outside the grammar, manifests with key-case variants
// (ASCII and Unicode folding), duplicate keys, wrong types, OCI/Docker/absent media types,
// indexes, referrers with a subject, tags (some outside the tag grammar), untagged revisions,
// orphan blobs, stray files. Cases are batched several to a store (one registry run per mode),
// except those expected to abort the registry's gc, which run alone.
// REGBUCKET_PROPERTY_RUNS sets the number of batches (default 12, of 16 cases each, plus up to 3 aborting cases run alone);
// REGBUCKET_PROPERTY_SEED replays a failure (fast-check prints the seed).
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MediaType } from '../../src/image/mediatypes.js';
import { jsReading } from '../../src/image/js-reading.js';
import { registryReading } from '../../src/image/registry-reading.js';
import { isRegistryRepoName } from '../../src/image/reference.js';
import { tempDir } from '../lab/tools.js';
import { blobsIn, copyStore, linkLayer, linkRevision, regbucketGc, registryGc, strayFile, tag, V2, writeBlob } from './raw-store.js';

const RUNS = Number(process.env.REGBUCKET_PROPERTY_RUNS ?? 12);
const SEED = process.env.REGBUCKET_PROPERTY_SEED ? Number(process.env.REGBUCKET_PROPERTY_SEED) : undefined;
const PER_BATCH = 16;

const LONG_S = '\u017f';
const KELVIN = '\u212a';

const imageArb = fc.record({
  tag: fc.option(fc.constantFrom('v1', 'latest', '.hidden', '-dash'), { nil: undefined }),
  mediaType: fc.constantFrom<string | undefined>(MediaType.ociManifest, MediaType.dockerManifest, undefined),
  layersKey: fc.constantFrom('layers', 'layers', 'Layers', 'LAYERS', `layer${LONG_S}`, `${KELVIN}ayers`),
  configKey: fc.constantFrom('config', 'config', 'Config', 'CONFIG'),
  digestKey: fc.constantFrom('digest', 'digest', 'Digest', `dige${LONG_S}t`),
  duplicate: fc.constantFrom('none', 'none', 'other-layers-key', 'merge', 'null-digest'),
  // Rare: a wrong type aborts the registry's gc on the whole store, so such a case runs alone.
  wrongType: fc.oneof({ arbitrary: fc.constant('none'), weight: 24 }, { arbitrary: fc.constantFrom('size-float', 'annotation-number', 'schemaVersion-float'), weight: 1 }),
  sharedLayer: fc.boolean(),
  layers: fc.integer({ min: 1, max: 2 }),
});

const repoArb = fc.record({
  name: fc.oneof({ arbitrary: fc.constantFrom('app', 'team/api', 'a/b', 'x-y__z', 'MyOrg/app', 'Org.Example/x'), weight: 24 }, { arbitrary: fc.constant('Bad..Name'), weight: 1 }),
  images: fc.array(imageArb, { minLength: 1, maxLength: 3 }),
  index: fc.option(fc.record({ key: fc.constantFrom('manifests', 'Manifests', `manife${LONG_S}ts`), tagged: fc.boolean(), declared: fc.boolean() }), { nil: undefined }),
  referrer: fc.boolean(),
});

const caseArb = fc.record({
  repos: fc.array(repoArb, { minLength: 1, maxLength: 3 }),
  orphans: fc.integer({ min: 0, max: 2 }),
  stray: fc.boolean(),
});

type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;
type Image = Case['repos'][number]['images'][number];

/** Writes one case into the store; its repository names carry the case number. */
function writeCase(root: string, c: Case, n: number): void {
  const shared = `shared layer of case ${n}`;
  c.repos.forEach((r, ri) => {
    const repo = `${r.name}${n}r${ri}`;
    const desc = (data: string, mt: string, key = 'digest'): string => {
      const d = writeBlob(root, data);
      linkLayer(root, repo, d);
      return `{"mediaType":"${mt}","size":${data.length},"${key}":"${d}"}`;
    };
    const manifests: Array<{ digest: string; bytes: Buffer }> = [];
    r.images.forEach((img: Image, ii) => {
      const id = `${n}/${ri}/${ii}`;
      const config = desc(`{"config":"${id}"}`, MediaType.ociConfig);
      const layers = Array.from({ length: img.layers }, (_, li) => desc(img.sharedLayer && li === 0 ? shared : `layer ${id}/${li}`, MediaType.ociLayerGzip, img.digestKey));
      const extra = desc(`extra layer ${id}`, MediaType.ociLayerGzip);
      let sv = '2';
      if (img.wrongType === 'schemaVersion-float') sv = '2.0';
      const parts = [`"schemaVersion":${sv}`];
      if (img.mediaType) parts.push(`"mediaType":"${img.mediaType}"`);
      parts.push(`"${img.configKey}":${config}`);
      let layerList = layers.join(',');
      if (img.wrongType === 'size-float') layerList = layerList.replace(/"size":(\d+)/, '"size":$1.0');
      parts.push(`"${img.layersKey}":[${layerList}]`);
      if (img.duplicate === 'other-layers-key') parts.push(`"Layers":[${extra}]`);
      if (img.duplicate === 'merge') parts.push(`"layers":[{"size":1}]`);
      if (img.duplicate === 'null-digest') parts.push(`"config":{"digest":null}`);
      if (img.wrongType === 'annotation-number') parts.push(`"annotations":{"a":1}`);
      const bytes = Buffer.from(`{${parts.join(',')}}`);
      const digest = writeBlob(root, bytes);
      linkRevision(root, repo, digest);
      if (img.tag) tag(root, repo, img.tag, digest);
      manifests.push({ digest, bytes });
    });
    const first = manifests[0]!;
    if (r.referrer) {
      const config = desc('{}', MediaType.ociEmpty);
      const sig = desc(`signature ${n}/${ri}`, 'application/vnd.dev.cosign.simplesigning.v1+json');
      const d = writeBlob(
        root,
        `{"schemaVersion":2,"mediaType":"${MediaType.ociManifest}","artifactType":"application/x-sig","config":${config},"layers":[${sig}],"subject":{"mediaType":"${MediaType.ociManifest}","size":${first.bytes.length},"digest":"${first.digest}"}}`,
      );
      linkRevision(root, repo, d);
    }
    if (r.index) {
      const children = manifests.map((m) => `{"mediaType":"${MediaType.ociManifest}","size":${m.bytes.length},"digest":"${m.digest}","platform":{"os":"linux","architecture":"amd64"}}`);
      const d = writeBlob(root, `{"schemaVersion":2,${r.index.declared ? `"mediaType":"${MediaType.ociIndex}",` : ''}"${r.index.key}":[${children.join(',')}]}`);
      linkRevision(root, repo, d);
      if (r.index.tagged) tag(root, repo, 'multi', d);
    }
    if (c.stray) strayFile(root, `repositories/${repo}/notes.txt`);
  });
  for (let i = 0; i < c.orphans; i++) writeBlob(root, `orphan ${n}/${i}`);
}

/** Whether the registry's gc is expected to abort on the case (it runs alone then). */
function mayAbort(c: Case): boolean {
  return c.repos.some((r) => !isRegistryRepoName(`${r.name}0r0`) || r.images.some((i) => i.wrongType !== 'none'));
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string): void => {
    if (statSync(p).isDirectory()) for (const c of readdirSync(p)) walk(join(p, c));
    else out.push(p);
  };
  walk(dir);
  return out;
}

/** Digests (hex) written anywhere in the store but in their own blob's path: in paths, links, manifests. */
function writtenElsewhere(store: string): Map<string, Set<string>> {
  const seen = new Map<string, Set<string>>();
  for (const f of filesUnder(join(store, V2))) {
    const text = `${f}\n${statSync(f).size < 1 << 20 ? readFileSync(f, 'latin1') : ''}`;
    for (const m of text.matchAll(/[a-f0-9]{64}/g)) {
      if (f.includes(`/blobs/sha256/${m[0].slice(0, 2)}/${m[0]}/`)) continue;
      const s = seen.get(m[0]) ?? new Set<string>();
      s.add(f);
      seen.set(m[0], s);
    }
  }
  return seen;
}

/** Repository directories holding a revision the registry cannot read. */
function unreadableRepos(store: string): string[] {
  const repos = join(store, V2, 'repositories');
  const out: string[] = [];
  for (const f of filesUnder(repos)) {
    const m = /^(.*)\/_manifests\/revisions\/sha256\/([a-f0-9]{64})\/link$/.exec(f);
    if (!m) continue;
    const blob = join(store, V2, 'blobs', 'sha256', m[2]!.slice(0, 2), m[2]!, 'data');
    if (!registryReading(readFileSync(blob)).ok) out.push(m[1]!);
  }
  return out;
}

/**
 * What some reading reaches without --delete-untagged: every revision, what the Go or the
 * JSON.parse reading of each references (every digest written in it where Go cannot read it),
 * and every layer link of a repository the registry cannot read.
 */
function reachable(store: string, pinned: string[]): Set<string> {
  const out = new Set<string>();
  for (const f of filesUnder(join(store, V2, 'repositories'))) {
    const rev = /\/_manifests\/revisions\/sha256\/([a-f0-9]{64})\/link$/.exec(f);
    const layer = /\/_layers\/sha256\/([a-f0-9]{64})\/link$/.exec(f);
    if (layer && pinned.some((p) => f.startsWith(`${p}/`))) out.add(`sha256:${layer[1]}`);
    if (!rev) continue;
    out.add(`sha256:${rev[1]}`);
    const bytes = readFileSync(join(store, V2, 'blobs', 'sha256', rev[1]!.slice(0, 2), rev[1]!, 'data'));
    const go = registryReading(bytes);
    if (go.ok) for (const x of [...(go.config ? [go.config] : []), ...go.layers, ...go.manifests]) out.add(x.digest);
    else for (const m of bytes.toString('latin1').matchAll(/[a-f0-9]{64}/g)) out.add(`sha256:${m[0]}`);
    const js = jsReading(bytes);
    if (!(js instanceof Error)) for (const x of [...js.blobs, ...js.children]) out.add(x);
  }
  return out;
}

async function check(store: string): Promise<void> {
  for (const untagged of [false, true]) {
    const flags = untagged ? ['--delete-untagged'] : [];
    const reg = await registryGc(copyStore(store, 'regbucket-diff-'), flags);
    if (reg.aborted) tally.aborted++;
    const rb = await regbucketGc(copyStore(store, 'regbucket-diff-'), untagged);
    if (!reg.aborted) {
      for (const d of rb.deleted) expect(reg.deleted.has(d), `mode ${flags.join(' ') || 'default'}: regbucket deleted ${d}, the registry kept it (store ${store})`).toBe(true);
      continue;
    }
    // The registry could not decide: only what no reading can reach may go.
    const written = writtenElsewhere(store);
    const pinned = unreadableRepos(store);
    for (const d of rb.deleted) {
      // A `_layers` link protects nothing in the registry's gc; in a repository it cannot read, regbucket keeps them all.
      const where = [...(written.get(d.slice(7)) ?? [])].filter((f) => !f.includes('/_layers/') || pinned.some((p) => f.startsWith(`${p}/`)));
      if (!untagged) expect(reachable(store, pinned).has(d), `registry aborted; regbucket deleted ${d}, which a reading reaches (store ${store})`).toBe(false);
      else
        expect(
          where.filter((f) => pinned.some((p) => f.startsWith(`${p}/`))),
          `registry aborted; regbucket deleted ${d} written in an unreadable repository (store ${store})`,
        ).toEqual([]);
    }
  }
}

const tally = { batched: 0, alone: 0, aborted: 0 };

describe('gc: regbucket deletes a subset of what registry 2.8.2 deletes', () => {
  it(
    `on generated stores (${RUNS} batches of ${PER_BATCH} cases)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(caseArb, { minLength: PER_BATCH, maxLength: PER_BATCH }), async (cases) => {
          const batch = join(tempDir('regbucket-diff-'), 'store');
          mkdirSync(batch, { recursive: true });
          const alone: string[] = [];
          cases.forEach((c, n) => {
            if (!mayAbort(c)) return writeCase(batch, c, n);
            const dir = join(tempDir('regbucket-diff-'), 'store');
            mkdirSync(dir, { recursive: true });
            writeCase(dir, c, n);
            alone.push(dir);
          });
          tally.batched += cases.length - alone.length;
          if (blobsIn(batch).size > 0) await check(batch);
          // A few of the aborting cases per batch (each costs two registry runs).
          for (const dir of alone.slice(0, 3)) {
            tally.alone++;
            await check(dir);
          }
        }),
        { numRuns: RUNS, seed: SEED, endOnFailure: true },
      );
      console.log(`[differential] ${RUNS} batches: ${tally.batched} cases batched, ${tally.alone} run alone, registry gc aborted ${tally.aborted} of ${2 * (RUNS + tally.alone)} runs`);
    },
    Math.max(600_000, RUNS * 120_000),
  );
});
