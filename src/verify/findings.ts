// What an audit can find. A problem is something a client or the registry trips over (exit 3);
// a warning is debris the registry tolerates (orphans, stale uploads, dangling layer links).
import { compareStrings } from '../util/compare.js';

export type Severity = 'problem' | 'warning';

export const FINDING_KINDS = {
  // problems
  'unsafe-path': { severity: 'problem', text: 'a symlink, special file (FIFO, socket, device) or oversized file in the layout: never followed, opened or fixed through' },
  'digest-mismatch': { severity: 'problem', text: "a blob's bytes do not hash to the digest in its path" },
  'missing-blob': { severity: 'problem', text: 'a revision or a reference names a blob that is not in blobs/' },
  'bad-manifest': { severity: 'problem', text: 'a revision is not a manifest of a known media type' },
  'malformed-link': { severity: 'problem', text: 'a link file is not exactly sha256:<64 lowercase hex>' },
  'link-mismatch': { severity: 'problem', text: 'a link names a digest other than its directory' },
  'tag-without-current': { severity: 'problem', text: 'a tag directory has no current link' },
  'tag-revision-missing': { severity: 'problem', text: "a tag's current manifest is not a revision of the repository" },
  'unlinked-blob': { severity: 'problem', text: 'a config or layer has no _layers link in the repository (blob unknown)' },
  'missing-child': { severity: 'problem', text: "an index's child manifest is not a revision of the repository" },
  'unaddressable-repository': { severity: 'problem', text: 'a directory below repositories/ whose name no storage path can hold (nothing in it can be read; the registry gc aborts on it)' },
  'repository-name': { severity: 'problem', text: "a repository directory whose name the registry's own parser refuses (its gc aborts on it)" },
  'size-mismatch': { severity: 'problem', text: "a descriptor's size differs from the blob's size" },
  // warnings
  'orphan-blob': { severity: 'warning', text: 'a blob nothing links or references (garbage collection removes it)' },
  // A tag write cut short leaves this (a new tag's `current` is written first): the registry
  // serves the tag and reads only `current` for gc; the entry is history. --fix writes it.
  'tag-index-missing': { severity: 'warning', text: "a tag's current manifest has no entry in the tag's index (history only)" },
  'dangling-layer-link': { severity: 'warning', text: 'a _layers link whose blob is missing' },
  'stale-upload': { severity: 'warning', text: 'an upload older than 7 days' },
  'dangling-subject': { severity: 'warning', text: "a manifest's subject is not a revision of the repository (OCI allows it)" },
  'stale-tag-history': { severity: 'warning', text: 'a tag index entry whose manifest is no longer a revision' },
  'empty-blob-dir': { severity: 'warning', text: 'a blob directory without data' },
  'legacy-manifest': { severity: 'warning', text: 'a schema 1 manifest (registry 3.x cannot read it)' },
  'repo-without-layers': { severity: 'warning', text: 'a repository with manifests but no _layers (registry 2.8 gc cannot see it)' },
  'repository-outside-grammar': { severity: 'warning', text: "a repository whose name the registry accepts but regbucket's commands do not (gc marks from it and deletes nothing in it)" },
  'stray-path': { severity: 'warning', text: 'a file that is not part of the storage layout' },
} as const satisfies Record<string, { severity: Severity; text: string }>;

export type FindingKind = keyof typeof FINDING_KINDS;

export interface Finding {
  kind: FindingKind;
  severity: Severity;
  /** The storage path at fault (the link, the blob's data, the tag directory, ...). */
  path: string;
  repo?: string;
  tag?: string;
  /** The digest at fault: the blob, the manifest, or the digest a link should name. */
  digest?: string;
  /** Link findings: which kind of link (layer, revision, tag-current, tag-index). */
  link?: 'layer' | 'revision' | 'tag-current' | 'tag-index';
  /** The manifest whose reference is broken (reference findings). */
  manifest?: string;
  /** Images (`repo:tag`, else `repo@digest`) that use the blob or manifest at fault. */
  usedBy?: string[];
  detail: string;
  /** The command that repairs it (`<source>`: where the image can be had again); none for most warnings. */
  fix?: string;
  /** Set by --fix: what was done about it. */
  repaired?: string;
}

export type FindingInit = Omit<Finding, 'severity'>;

export function finding(init: FindingInit): Finding {
  return { ...init, severity: FINDING_KINDS[init.kind].severity };
}

export interface KindCount {
  kind: FindingKind;
  severity: Severity;
  count: number;
  repaired: number;
}

/** Counts by kind, problems first, in the order of FINDING_KINDS. */
export function summarize(findings: Finding[]): KindCount[] {
  const counts = new Map<FindingKind, KindCount>();
  for (const f of findings) {
    const c = counts.get(f.kind) ?? { kind: f.kind, severity: f.severity, count: 0, repaired: 0 };
    c.count++;
    if (f.repaired) c.repaired++;
    counts.set(f.kind, c);
  }
  const order = Object.keys(FINDING_KINDS) as FindingKind[];
  return order.filter((k) => counts.has(k)).map((k) => counts.get(k)!);
}

/** Problems first, then by kind order, repo, tag, digest, path, manifest: stable output for scripts and tests. */
export function sortFindings(findings: Finding[]): Finding[] {
  const order = new Map((Object.keys(FINDING_KINDS) as FindingKind[]).map((k, i) => [k, i]));
  const keyed = findings.map((f) => ({
    f,
    key: [f.severity === 'problem' ? '0' : '1', String(order.get(f.kind)!).padStart(3, '0'), f.repo ?? '', f.tag ?? '', f.digest ?? '', f.path, f.manifest ?? ''].join('\0'),
  }));
  keyed.sort((a, b) => compareStrings(a.key, b.key));
  return keyed.map((k) => k.f);
}
