// One case per way Go's encoding/json (the registry's reading) differs from JSON.parse, each
// checked against the real registry 2.8.2:
// - served: GET of the tag answers 200 exactly when regbucket's registry reading succeeds, and
//   regbucket's push path (parseManifest) refuses what is not served;
// - marked: the blobs the registry's gc marks for the manifest are the references regbucket's
//   registry reading returns (or its gc aborts where the reading fails);
// - kept: regbucket's gc deletes a subset of what the registry's gc deletes (nothing of the case
//   when the registry's gc aborts), and keeps every blob the registry served.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, MANIFEST_ACCEPT } from '../../src/image/mediatypes.js';
import { parseManifest } from '../../src/image/manifest.js';
import { registryReading } from '../../src/image/registry-reading.js';
import { startRegistry, type RunningRegistry } from '../lab/registry.js';
import { tempDir } from '../lab/tools.js';
import { copyStore, linkLayer, linkRevision, markedBy, regbucketGc, registryGc, tag, writeBlob } from './raw-store.js';

interface Case {
  name: string;
  /** Manifest text; CONFIG, L1, L2, C1 are replaced by descriptors of the case's blobs. */
  manifest: string | Buffer;
  /** The child manifests an index case needs (pushed as revisions first). */
  children?: boolean;
}

const OCI = MediaType.ociManifest;
const DOCKER = MediaType.dockerManifest;
const LIST = MediaType.dockerManifestList;
const LONG_S = '\u017f';
const KELVIN = '\u212a';

const CASES: Case[] = [
  // key case (ASCII)
  { name: 'LAYERS upper case', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"LAYERS":[L1,L2]}` },
  { name: 'Config and Layers capitalised, Docker', manifest: `{"schemaVersion":2,"mediaType":"${DOCKER}","Config":CONFIG,"Layers":[L1]}` },
  { name: 'Digest capitalised in a descriptor', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":[{"mediaType":"x","size":1,"Digest":"L1D"}]}` },
  { name: 'MediaType and SchemaVersion capitalised', manifest: `{"SchemaVersion":2,"MediaType":"${OCI}","config":CONFIG,"layers":[L1]}` },
  { name: 'Manifests capitalised in an index', manifest: `{"schemaVersion":2,"mediaType":"${LIST}","Manifests":[C1]}`, children: true },
  { name: 'Manifests capitalised, no mediaType', manifest: `{"schemaVersion":2,"MANIFESTS":[C1]}`, children: true },
  // Unicode simple folding: the long s for s (no manifest field has a k: the Kelvin sign matches nothing)
  { name: 'long s in layers', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layer${LONG_S}":[L1,L2]}` },
  { name: 'long s in manifests', manifest: `{"schemaVersion":2,"mediaType":"${LIST}","manife${LONG_S}t${LONG_S}":[C1]}`, children: true },
  { name: 'long s in digest', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":[{"mediaType":"x","size":1,"dige${LONG_S}t":"L1D"}]}` },
  { name: 'long s in schemaVersion', manifest: `{"${LONG_S}chemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":[L1]}` },
  { name: 'Kelvin sign matches no field', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":[L1],"${KELVIN}ayers":[L2]}` },
  // duplicate keys: the last matching one wins after folding, and merges into the first
  { name: 'layers then Layers', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":[L1],"Layers":[L2]}` },
  { name: 'Layers then layers', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"Layers":[L1],"layers":[L2]}` },
  { name: 'config then CONFIG', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"CONFIG":L2,"layers":[L1]}` },
  { name: 'second layers merges into the first', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":[L1,L2],"layers":[{"size":5}]}` },
  {
    name: 'shorter then longer layers re-expose old elements',
    manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":[L1,L2],"layers":[{"size":1}],"layers":[{"size":3},{"size":4}]}`,
  },
  { name: 'digest then null digest keeps the first', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":[{"mediaType":"x","size":1,"digest":"L1D","digest":null}]}` },
  { name: 'schemaversion 1 after schemaVersion 2', manifest: `{"schemaVersion":2,"schemaversion":1,"mediaType":"${OCI}","config":CONFIG,"layers":[L1]}` },
  { name: 'mediaType folded duplicate picks the kind', manifest: `{"schemaVersion":2,"mediaType":"${LIST}","MEDIATYPE":"${OCI}","config":CONFIG,"layers":[L1],"manifests":[C1]}`, children: true },
  // null
  { name: 'layers null', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":null}` },
  { name: 'config null', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":null,"layers":[L1]}` },
  { name: 'manifests null without mediaType is an image', manifest: `{"schemaVersion":2,"manifests":null,"config":CONFIG,"layers":[L1]}` },
  { name: 'manifests [] without mediaType is an index', manifest: `{"schemaVersion":2,"manifests":[],"config":CONFIG,"layers":[L1]}` },
  // invalid UTF-8, unknown fields, nesting
  { name: 'invalid UTF-8 in an annotation', manifest: Buffer.from(`{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":[L1],"annotations":{"a":"\xff\xfe"}}`, 'latin1') },
  { name: 'invalid UTF-8 in a key', manifest: Buffer.from(`{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":[L1],"layers\xff":[L2]}`, 'latin1') },
  { name: 'unknown fields ignored', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":[L1],"layer":[L2],"x":{"y":[1e999]}}` },
  { name: 'nesting deeper than Go allows', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":[L1],"x":${'['.repeat(10001)}${']'.repeat(10001)}}` },
  // type mismatches
  { name: 'size 10240.0', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":[{"mediaType":"x","size":10240.0,"digest":"L1D"}]}` },
  { name: 'size as a string', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":[{"mediaType":"x","size":"1","digest":"L1D"}]}` },
  { name: 'schemaVersion 2.0', manifest: `{"schemaVersion":2.0,"mediaType":"${OCI}","config":CONFIG,"layers":[L1]}` },
  { name: 'schemaVersion as a string', manifest: `{"schemaVersion":"2","mediaType":"${OCI}","config":CONFIG,"layers":[L1]}` },
  { name: 'non-string annotation', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":[L1],"annotations":{"a":1}}` },
  { name: 'layers an object', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":{"a":L1}}` },
  { name: 'layers of strings', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":["L1D"]}` },
  { name: 'wrong type in an overwritten duplicate', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":5,"layers":[L1]}` },
  { name: 'urls a string', manifest: `{"schemaVersion":2,"mediaType":"${OCI}","config":CONFIG,"layers":[{"mediaType":"x","size":1,"digest":"L1D","urls":"http://x"}]}` },
  { name: 'index platform a string', manifest: `{"schemaVersion":2,"mediaType":"${LIST}","manifests":[{"mediaType":"${OCI}","size":1,"digest":"C1D","platform":"linux"}]}`, children: true },
  { name: 'index entry of the wrong type without mediaType', manifest: `{"schemaVersion":2,"manifests":[{"size":"1"}],"config":CONFIG,"layers":[L1]}` },
  { name: 'mediaType a number', manifest: `{"schemaVersion":2,"mediaType":5,"config":CONFIG,"layers":[L1]}` },
];

let base: string;
let registry: RunningRegistry;
const served = new Map<string, number>();
const fill = new Map<string, Buffer>();

function repoOf(i: number): string {
  return `corpus/case${i}`;
}

/** The case's blobs in its repository, and the manifest's bytes with their descriptors filled in. */
function build(root: string, i: number, c: Case): { manifest: Buffer; blobs: string[] } {
  const repo = repoOf(i);
  const desc = (mt: string, data: string): string => {
    const d = writeBlob(root, data);
    linkLayer(root, repo, d);
    return JSON.stringify({ mediaType: mt, size: data.length, digest: d });
  };
  const config = desc(MediaType.ociConfig, `{"case":${i}}`);
  const l1 = desc(MediaType.ociLayerGzip, `layer one of case ${i}`);
  const l2 = desc(MediaType.ociLayerGzip, `layer two of case ${i}`);
  const blobs = [config, l1, l2].map((x) => (JSON.parse(x) as { digest: string }).digest);
  let c1 = '{}';
  if (c.children) {
    const child = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI, config: JSON.parse(config), layers: [JSON.parse(l1)] }));
    const cd = writeBlob(root, child);
    linkRevision(root, repo, cd);
    blobs.push(cd);
    c1 = JSON.stringify({ mediaType: OCI, size: child.length, digest: cd, platform: { os: 'linux', architecture: 'amd64' } });
  }
  const text = (Buffer.isBuffer(c.manifest) ? c.manifest.toString('latin1') : c.manifest)
    .replaceAll('CONFIG', config)
    .replaceAll('L1D', blobs[1]!)
    .replaceAll('C1D', blobs[3] ?? '')
    .replaceAll('L1', l1)
    .replaceAll('L2', l2)
    .replaceAll('C1', c1);
  const manifest = Buffer.isBuffer(c.manifest) ? Buffer.from(text, 'latin1') : Buffer.from(text, 'utf8');
  const md = writeBlob(root, manifest);
  linkRevision(root, repo, md);
  tag(root, repo, 'v1', md);
  return { manifest, blobs: [md, ...blobs] };
}

beforeAll(async () => {
  base = join(tempDir('regbucket-corpus-'), 'store');
  mkdirSync(base, { recursive: true });
  CASES.forEach((c, i) => fill.set(c.name, build(base, i, c).manifest));
  registry = await startRegistry({ storage: { filesystem: base } });
  for (const [i, c] of CASES.entries()) {
    try {
      const res = await fetch(`http://${registry.host}/v2/${repoOf(i)}/manifests/v1`, { headers: { Accept: `${MANIFEST_ACCEPT}, ${MediaType.dockerSchema1Signed}` } });
      await res.arrayBuffer();
      served.set(c.name, res.status);
    } catch {
      served.set(c.name, 0); // 2.8.2 panics on some (a nil interface conversion) and drops the connection
    }
  }
}, 300_000);

afterAll(async () => {
  await registry?.stop();
});

describe('decoder differences against registry 2.8.2', () => {
  it.each(CASES.map((c, i) => [c.name, i] as const))('%s', async (name, i) => {
    const bytes = fill.get(name)!;
    const reading = registryReading(bytes);
    // Served exactly when the registry reading succeeds.
    expect(served.get(name) === 200, `GET status ${served.get(name)}; reading ${JSON.stringify(reading)}`).toBe(reading.ok);
    if (!reading.ok) expect(() => parseManifest(bytes, `case ${name}`)).toThrow(/cannot read it/);

    // Marked: a store holding this case alone, the registry's gc in dry-run.
    const alone = join(tempDir('regbucket-case-'), 'store');
    const { blobs } = build(alone, i, CASES[i]!);
    const dry = await registryGc(copyStore(alone), ['--dry-run']);
    expect(dry.aborted, dry.output).toBe(!reading.ok);
    if (reading.ok) {
      const refs = [...(reading.config ? [reading.config] : []), ...reading.layers, ...reading.manifests].map((d) => d.digest);
      expect(markedBy(dry.output, blobs[0]!)).toEqual(new Set(refs));
    }

    // Kept: regbucket deletes a subset of what the registry deletes, each with and without -u.
    for (const flags of [[], ['--delete-untagged']]) {
      const reg = await registryGc(copyStore(alone), flags);
      const rb = await regbucketGc(copyStore(alone), flags.length > 0);
      const allowed = reg.aborted ? new Set<string>() : reg.deleted;
      for (const d of rb.deleted)
        expect(allowed.has(d), `${name} ${flags.join(' ')}: regbucket deleted ${d}; registry ${reg.aborted ? 'aborted' : `deleted ${[...reg.deleted].join(', ')}`}`).toBe(true);
    }
  });
});
