// The referrers tag schema (OCI distribution spec 1.1) for registries without the referrers API,
// 2.8 among them: a subject's referrers are listed in an index tagged `sha256-<hex>` of the
// subject, which cosign, oras and regbucket read. Sinks that stand for such a registry (a store it
// serves, a live 2.8) write that tag for the referrers a copy carries.
import { hexOf, type AnyDigest } from './digest.js';
import { MediaType } from './mediatypes.js';
import { parseManifest, type Descriptor, type ParsedManifest } from './manifest.js';

/** `sha256-<hex>`: the tag listing the referrers of `subject`. */
export function referrersTagOf(subject: AnyDigest): string {
  return `sha256-${hexOf(subject)}`;
}

/** How a referrers index lists a referrer: its descriptor with artifactType and annotations, as the referrers API answers. */
export function referrerListing(desc: Descriptor, bytes: Buffer, manifest: ParsedManifest): Descriptor {
  const listed: Descriptor = { mediaType: manifest.mediaType, digest: desc.digest, size: bytes.length };
  const artifactType = manifest.artifactType ?? manifest.config?.mediaType;
  if (artifactType) listed.artifactType = artifactType;
  if (manifest.annotations) listed.annotations = manifest.annotations;
  return listed;
}

/** Referrers noted during a copy, by subject, each once. */
export class ReferrerNotes {
  private readonly bySubject = new Map<AnyDigest, Map<string, Descriptor>>();

  add(subject: AnyDigest, listed: Descriptor): void {
    let m = this.bySubject.get(subject);
    if (!m) this.bySubject.set(subject, (m = new Map<string, Descriptor>()));
    m.set(listed.digest, listed);
  }

  get size(): number {
    return this.bySubject.size;
  }

  /** Each subject with its referrers; forgets them (a commit writes them once). */
  take(): [AnyDigest, Descriptor[]][] {
    const out = [...this.bySubject].map(([s, m]): [AnyDigest, Descriptor[]] => [s, [...m.values()]]);
    this.bySubject.clear();
    return out;
  }
}

/**
 * The referrers index to write: `existing` (the tag's current manifest, if any) with the referrers
 * it lacks appended, or undefined when nothing is to be written: it lists them all already, or it
 * is not an index (someone else's tag, left alone).
 */
export function mergedReferrersIndex(existing: Buffer | undefined, added: Descriptor[], where: string): Buffer | undefined {
  let index: { manifests?: Descriptor[] } & Record<string, unknown> = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
  if (existing) {
    if (parseManifest(existing, where).kind !== 'index') return undefined;
    index = JSON.parse(existing.toString('utf8')) as typeof index;
  }
  const listed = index.manifests ?? [];
  const missing = added.filter((d) => !listed.some((l) => l.digest === d.digest));
  if (missing.length === 0) return undefined;
  return Buffer.from(JSON.stringify({ ...index, manifests: [...listed, ...missing] }));
}
