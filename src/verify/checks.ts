// The audit's rules, as a pure function of what was read: the inventory (links with their
// content, blobs with their sizes), the parsed revisions and the hash results. No I/O here.
import { algorithmOf, isDigest, type AliasDigest, type AnyDigest, type Digest } from '../image/digest.js';
import { aliasKey, type AliasLink } from './aliases.js';
import { requiredBlobs, type BlobDescriptor, type Descriptor, type ParsedManifest } from '../image/manifest.js';
import { isRegistryRepoName } from '../image/reference.js';
import { REPOSITORIES, blobDataPath, blobDir, layerLinkPath, revisionLinkPath, tagDir, tagIndexLinkPath } from '../store/paths.js';
import { adviceFor } from './advice.js';
import { finding, type Finding, type FindingInit } from './findings.js';
import type { HashResult } from './hashing/thread-pool.js';
import type { Inventory, LinkFile, RepoInventory } from './inventory.js';
import { judgeLink, linkTarget } from './link-check.js';
import { UsageIndex } from './usage.js';

/** Uploads older than this are stale: the registry's own purge age (168 h). */
export const STALE_UPLOAD_MS = 7 * 24 * 3600 * 1000;

export type ManifestState =
  | { state: 'ok'; manifest: ParsedManifest }
  /** Blob data missing, or bytes that hash to another digest (reported as a blob finding). */
  | { state: 'missing' }
  | { state: 'mismatch' }
  | { state: 'bad'; reason: string };

export interface AuditData {
  inv: Inventory;
  /** Every revision digest of the audited repositories. */
  manifests: Map<Digest, ManifestState>;
  /** Every blob hashed (manifests always; all blobs unless --no-hash); undefined: data missing. */
  hashed: Map<Digest, HashResult | undefined>;
  /** The alias links (`_layers/sha512/<hex>/link`) the audited manifests need, by aliasKey(repo, digest). */
  aliases: Map<string, AliasLink>;
  /** What each stored blob hashes to with an alias's algorithm, by aliasKey(stored digest, alias). */
  aliasHashes: Map<string, AnyDigest>;
  now: Date;
}

type Existing = LinkFile & { content: string };

function existing(links: LinkFile[]): Existing[] {
  return links.filter((l): l is Existing => l.content !== undefined);
}

const ROLE_NAME = { config: 'config', layer: 'layer', child: 'child manifest' } as const;

class Checker {
  readonly findings: Finding[] = [];
  readonly usage = new UsageIndex();
  /** Digests something links or references: the rest are orphans. */
  readonly referenced = new Set<Digest>();

  constructor(private readonly a: AuditData) {}

  private add(init: FindingInit): void {
    this.findings.push(finding(init));
  }

  private manifest(d: Digest): ParsedManifest | undefined {
    const s = this.a.manifests.get(d);
    return s?.state === 'ok' ? s.manifest : undefined;
  }

  /** Builds the usage index first, so every finding can name the images it affects. */
  index(): void {
    for (const r of this.a.inv.repos) {
      for (const l of existing(r.revisions)) {
        const m = this.manifest(l.named!);
        if (m) this.usage.addManifest(r.name, l.named!, m);
      }
      for (const t of r.tags.values()) {
        if (t.current?.content === undefined) continue;
        const target = linkTarget(t.current as Existing);
        if (target) this.usage.addTag(r.name, t.name, target);
      }
    }
  }

  private links(r: RepoInventory, links: Existing[]): void {
    for (const l of links) {
      const v = judgeLink(l);
      if (v.ok) continue;
      const shown = JSON.stringify(l.content.length > 80 ? `${l.content.slice(0, 80)}...` : l.content);
      this.add({
        kind: v.kind,
        path: l.path,
        repo: r.name,
        tag: l.tag,
        digest: v.intended,
        link: l.role,
        detail:
          v.kind === 'link-mismatch'
            ? `${l.role} link holds ${shown} but its directory names ${l.named}`
            : `${l.role} link holds ${shown}, not exactly sha256:<64 lowercase hex>: the registry cannot read it`,
      });
    }
  }

  /**
   * A config or layer named by a sha384/sha512 digest: resolved as the registry resolves it,
   * through the repository's alias link to a blob stored under its sha256 digest, whose bytes
   * must also hash to the alias.
   */
  private aliasReference(r: RepoInventory, m: Digest, ref: Descriptor<AliasDigest>, role: 'config' | 'layer'): void {
    const link = this.a.aliases.get(aliasKey(r.name, ref.digest));
    const base = { repo: r.name, tag: this.usage.firstTag(r.name, m), digest: ref.digest, manifest: m };
    const name = ROLE_NAME[role];
    if (!link?.target) {
      const held = link?.content === undefined ? 'has no link' : `has a link holding ${JSON.stringify(link.content.slice(0, 140))}, not the sha256 digest of a stored blob,`;
      this.add({
        ...base,
        kind: 'unlinked-blob',
        path: link?.path ?? `${REPOSITORIES}/${r.name}/_layers/${algorithmOf(ref.digest)}`,
        detail: `manifest ${m} needs ${name} ${ref.digest}, for which ${r.name} ${held} in _layers/${algorithmOf(ref.digest)}: the registry answers "blob unknown"`,
      });
      return;
    }
    const stored = link.target;
    this.referenced.add(stored);
    const blob = this.a.inv.blobs.get(stored);
    if (!blob?.exists) {
      this.add({ ...base, kind: 'missing-blob', path: blobDataPath(stored), detail: `manifest ${m} needs ${name} ${ref.digest}, stored as ${stored} (${link.path}), which is not in the store` });
      return;
    }
    if (ref.size >= 0 && blob.size !== undefined && blob.size !== ref.size) {
      this.add({
        ...base,
        kind: 'size-mismatch',
        path: blobDataPath(stored),
        detail: `manifest ${m} says ${name} ${ref.digest} has ${ref.size} bytes; the blob it is stored as, ${stored}, has ${blob.size}`,
      });
    }
    const actual = this.a.aliasHashes.get(aliasKey(stored, ref.digest));
    if (actual && actual !== ref.digest) {
      this.add({
        ...base,
        kind: 'digest-mismatch',
        path: blobDataPath(stored),
        detail: `${name} ${ref.digest} of manifest ${m} is stored as ${stored} (${link.path}), whose bytes hash to ${actual}: the blob or the link is wrong`,
      });
    }
  }

  private reference(r: RepoInventory, m: Digest, ref: BlobDescriptor, role: 'config' | 'layer' | 'child', layerLinks: Set<Digest>, revisions: Set<Digest>): void {
    if (!isDigest(ref.digest)) return this.aliasReference(r, m, ref as Descriptor<AliasDigest>, role === 'child' ? 'layer' : role);
    this.referenced.add(ref.digest);
    const blob = this.a.inv.blobs.get(ref.digest);
    const base = { repo: r.name, tag: this.usage.firstTag(r.name, m), digest: ref.digest, manifest: m };
    const name = ROLE_NAME[role];
    if (!blob?.exists) {
      this.add({ ...base, kind: 'missing-blob', path: blobDataPath(ref.digest), detail: `manifest ${m} needs ${name} ${ref.digest}, which is not in the store` });
      return;
    }
    if (ref.size >= 0 && blob.size !== ref.size) {
      this.add({ ...base, kind: 'size-mismatch', path: blobDataPath(ref.digest), detail: `manifest ${m} says ${name} ${ref.digest} has ${ref.size} bytes; the blob has ${blob.size}` });
    }
    if (role === 'child') {
      if (!revisions.has(ref.digest)) {
        this.add({ ...base, kind: 'missing-child', path: revisionLinkPath(r.name, ref.digest), detail: `index ${m} lists manifest ${ref.digest}, which is not a revision of ${r.name}` });
      }
    } else if (!layerLinks.has(ref.digest)) {
      this.add({
        ...base,
        kind: 'unlinked-blob',
        path: layerLinkPath(r.name, ref.digest),
        detail: `manifest ${m} needs ${name} ${ref.digest}, which ${r.name} has no _layers link for: the registry answers "blob unknown"`,
      });
    }
  }

  private revisions(r: RepoInventory, revisions: Existing[], layerLinks: Set<Digest>, revisionSet: Set<Digest>): void {
    for (const l of revisions) {
      const d = l.named!;
      this.referenced.add(d);
      const s = this.a.manifests.get(d);
      const base = { repo: r.name, tag: this.usage.firstTag(r.name, d), digest: d, path: blobDataPath(d) };
      if (!s || s.state === 'missing') {
        this.add({ ...base, kind: 'missing-blob', detail: `revision ${d} of ${r.name} has no manifest blob: the manifest blob is gone` });
        continue;
      }
      if (s.state === 'mismatch') continue; // a digest-mismatch finding names the blob
      if (s.state === 'bad') {
        this.add({ ...base, kind: 'bad-manifest', detail: `revision ${d} of ${r.name}: ${s.reason}` });
        continue;
      }
      const m = s.manifest;
      if (m.kind === 'schema1') this.add({ ...base, kind: 'legacy-manifest', detail: `revision ${d} of ${r.name} is a schema 1 manifest (${m.mediaType})` });
      const required = new Set(requiredBlobs(m));
      for (const ref of [m.config, ...m.layers]) {
        if (!ref) continue;
        if (required.has(ref)) this.reference(r, d, ref, ref === m.config ? 'config' : 'layer', layerLinks, revisionSet);
        else if (isDigest(ref.digest)) this.referenced.add(ref.digest);
      }
      for (const c of m.manifests) this.reference(r, d, c, 'child', layerLinks, revisionSet);
      if (m.subject) {
        this.referenced.add(m.subject.digest);
        if (!revisionSet.has(m.subject.digest)) {
          this.add({
            ...base,
            kind: 'dangling-subject',
            path: revisionLinkPath(r.name, m.subject.digest),
            digest: m.subject.digest,
            manifest: d,
            detail: `manifest ${d} refers to subject ${m.subject.digest}, which is not a revision of ${r.name}`,
          });
        }
      }
    }
  }

  private tags(r: RepoInventory, revisionSet: Set<Digest>): void {
    for (const t of r.tags.values()) {
      const index = existing(t.index);
      const current = t.current?.content === undefined ? undefined : linkTarget(t.current as Existing);
      for (const l of index) {
        if (!revisionSet.has(l.named!) && l.named !== current) {
          this.add({
            kind: 'stale-tag-history',
            path: l.path,
            repo: r.name,
            tag: t.name,
            digest: l.named,
            link: 'tag-index',
            detail: `${r.name}:${t.name} once named ${l.named}, which is no longer a revision`,
          });
        }
      }
      if (t.current?.content === undefined) {
        this.add({ kind: 'tag-without-current', path: tagDir(r.name, t.name), repo: r.name, tag: t.name, detail: `tag ${r.name}:${t.name} has no current link: it is listed but does not resolve` });
        continue;
      }
      const target = current;
      if (!target) continue; // a malformed-link finding names it
      const base = { repo: r.name, tag: t.name, digest: target };
      if (!revisionSet.has(target)) {
        this.add({ ...base, kind: 'tag-revision-missing', path: t.current.path, link: 'tag-current', detail: `tag ${r.name}:${t.name} names ${target}, which is not a revision of ${r.name}` });
      }
      if (!index.some((l) => l.named === target)) {
        this.add({
          ...base,
          kind: 'tag-index-missing',
          path: tagIndexLinkPath(r.name, t.name, target),
          link: 'tag-index',
          detail: `tag ${r.name}:${t.name} names ${target} but its index has no entry for it`,
        });
      }
    }
  }

  repo(r: RepoInventory): void {
    const layers = existing(r.layers);
    const revisions = existing(r.revisions);
    const tagLinks = [...r.tags.values()].flatMap((t) => existing([...(t.current ? [t.current] : []), ...t.index]));
    this.links(r, [...layers, ...revisions, ...tagLinks]);
    const layerSet = new Set(layers.map((l) => l.named!));
    const revisionSet = new Set(revisions.map((l) => l.named!));
    for (const l of layers) {
      this.referenced.add(l.named!);
      if (!this.a.inv.blobs.get(l.named!)?.exists) {
        this.add({ kind: 'dangling-layer-link', path: l.path, repo: r.name, digest: l.named, link: 'layer', detail: `${r.name} links blob ${l.named}, which is not in the store` });
      }
    }
    this.revisions(r, revisions, layerSet, revisionSet);
    this.tags(r, revisionSet);
    for (const u of r.uploads) {
      if (u.startedAt && this.a.now.getTime() - u.startedAt.getTime() > STALE_UPLOAD_MS) {
        this.add({ kind: 'stale-upload', path: u.path, repo: r.name, detail: `upload ${u.id} in ${r.name} started ${u.startedAt.toISOString()}` });
      }
    }
    if (revisions.length > 0 && !r.hasLayers) {
      this.add({ kind: 'repo-without-layers', path: r.name, repo: r.name, detail: `${r.name} has manifests but no _layers directory: registry 2.8's garbage-collect skips it and sweeps its blobs` });
    }
  }

  blobs(): void {
    const repos = this.a.inv.repos.map((r) => r.name);
    for (const [digest, h] of this.a.hashed) {
      if (h && h.digest !== digest) {
        this.add({
          kind: 'digest-mismatch',
          path: blobDataPath(digest),
          digest,
          usedBy: this.usage.usedBy(digest, repos),
          detail: `the ${h.size} bytes of blob ${digest} hash to ${h.digest}: the blob is corrupt`,
        });
      }
    }
    for (const b of this.a.inv.blobs.values()) {
      if (!b.exists) {
        if (this.a.inv.allBlobs) this.add({ kind: 'empty-blob-dir', path: blobDir(b.digest), digest: b.digest, detail: `blob directory ${b.digest} has no data` });
      } else if (this.a.inv.allBlobs && !this.referenced.has(b.digest)) {
        this.add({ kind: 'orphan-blob', path: blobDataPath(b.digest), digest: b.digest, detail: `blob ${b.digest} (${b.size ?? '?'} bytes) is not linked or referenced by any repository` });
      }
    }
    for (const p of this.a.inv.strays) this.add({ kind: 'stray-path', path: p, detail: `${p} is not part of the registry storage layout` });
    for (const { name, unaddressable } of this.a.inv.oddNames) {
      const shown = JSON.stringify(name);
      const path = `${REPOSITORIES}/${shown.slice(1, -1)}`;
      if (unaddressable)
        this.add({
          kind: 'unaddressable-repository',
          path,
          detail: `repository directory ${shown} has a name no storage path can hold: nothing in it can be read, and regbucket gc deletes no blob while it is there; rename or remove it by hand`,
        });
      else if (!isRegistryRepoName(name))
        this.add({
          kind: 'repository-name',
          path,
          detail: `repository ${shown} is outside the registry's name grammar: its garbage-collect aborts on it; regbucket gc marks from it and deletes nothing in it; rename it to a valid name`,
        });
      else
        this.add({
          kind: 'repository-outside-grammar',
          path,
          detail: `repository ${shown} is served by the registry but outside regbucket's input grammar (lowercase): regbucket gc marks from it and deletes nothing in it`,
        });
    }
  }
}

/** Every finding the rules produce, unsorted. */
export function checkStore(a: AuditData): Finding[] {
  const c = new Checker(a);
  c.index();
  for (const r of a.inv.repos) c.repo(r);
  c.blobs();
  const users = (f: Finding): string[] | undefined => {
    if (f.usedBy || !f.repo || !f.digest || f.severity !== 'problem') return f.usedBy;
    const u = c.usage.usedBy((f.manifest ?? f.digest) as Digest, [f.repo]).filter((x) => x !== `${f.repo}:${f.tag}`);
    return u.length ? u : undefined;
  };
  return c.findings.map((f) => {
    const usedBy = users(f);
    const out = usedBy ? { ...f, usedBy } : f;
    const fix = adviceFor(out);
    return fix ? { ...out, fix } : out;
  });
}
