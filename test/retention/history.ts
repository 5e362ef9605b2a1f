// Random tag histories for retention tests: images sharing layers, indexes, OCI referrers,
// cosign tag-scheme attachments, tags sharing digests, push times spread over a month.
import type { StorageDriver } from '../../src/drivers/driver.js';
import type { Digest } from '../../src/image/digest.js';
import { revisionLinkPath, tagCurrentLinkPath } from '../../src/store/paths.js';
import { tagManifest } from '../../src/store/tags.js';
import { image, index, type Desc, type Img, type TestStore } from '../gc/store-builder.js';

export const DAY = 86_400_000;
const TAG_NAMES = ['v1', 'v2.0', 'latest', 'pr-1', 'pr-2', 'pr-3', 'pr-4', 'main-a', 'main-b', 'main-c', 'dev', 'nightly'];

/** mulberry32: a small seeded PRNG (the seed is printed by fast-check on failure). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface History {
  repo: string;
  /** Manifests by digest: what each references (children), and referrers by subject. */
  children: Map<Digest, Digest[]>;
  blobs: Map<Digest, Digest[]>;
  referrers: Map<Digest, Digest[]>;
  /** Attachment tag -> subject. */
  attachments: Map<string, Digest>;
  tags: Map<string, Digest>;
}

export async function buildHistory(s: TestStore, repo: string, seed: number, now: number): Promise<History> {
  const d: StorageDriver = s.d;
  const r = prng(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: T[]): T => xs[int(0, xs.length - 1)]!;
  const pool = [0, 1, 2, 3].map((i) => Buffer.from(`shared layer ${i}`));
  const h: History = { repo, children: new Map(), blobs: new Map(), referrers: new Map(), attachments: new Map(), tags: new Map() };
  const note = (img: Img): void => {
    h.children.set(img.manifest.digest, []);
    h.blobs.set(img.manifest.digest, [img.config.digest, ...img.layers.map((l) => l.digest)]);
  };
  const images: Img[] = [];
  for (let i = int(2, 6); i > 0; i--) {
    const img = await image(d, repo, { layers: r() < 0.7 ? [pick(pool)] : undefined });
    images.push(img);
    note(img);
  }
  const manifests: Desc[] = images.map((i) => i.manifest);
  for (let i = int(0, 2); i > 0; i--) {
    const kids = [pick(images), pick(images)].filter((x, j, a) => a.indexOf(x) === j);
    const ix = await index(d, repo, kids);
    h.children.set(
      ix.digest,
      kids.map((k) => k.manifest.digest),
    );
    h.blobs.set(ix.digest, []);
    manifests.push(ix);
  }
  for (let i = int(0, 2); i > 0; i--) {
    const subject = pick(manifests);
    const ref = await image(d, repo, { subject, artifactType: 'application/example.sbom' });
    note(ref);
    h.referrers.set(subject.digest, [...(h.referrers.get(subject.digest) ?? []), ref.manifest.digest]);
  }
  const names = TAG_NAMES.filter(() => r() < 0.6);
  for (const name of names) {
    const m = pick(manifests);
    await tagManifest(d, repo, name, m.digest);
    h.tags.set(name, m.digest);
  }
  for (let i = int(0, 2); i > 0; i--) {
    const subject = pick(manifests).digest;
    const name = `sha256-${subject.slice(7)}.${pick(['sig', 'att', 'sbom'])}`;
    if (h.tags.has(name)) continue;
    const sig = await image(d, repo, { artifactType: 'application/vnd.dev.cosign' });
    note(sig);
    await tagManifest(d, repo, name, sig.manifest.digest);
    h.tags.set(name, sig.manifest.digest);
    h.attachments.set(name, subject);
  }
  // Times: tags and revisions pushed up to 30 days ago (whole seconds: S3 lists them so).
  const ago = (): Date => new Date(Math.floor((now - int(0, 30 * 24) * 3_600_000) / 1000) * 1000);
  for (const name of h.tags.keys()) await s.age(tagCurrentLinkPath(repo, name), ago());
  for (const m of h.children.keys()) await s.age(revisionLinkPath(repo, m), ago());
  return h;
}
