import type { AnyDigest } from '../image/digest.js';
import type { ParsedManifest } from '../image/manifest.js';

const MAX_USERS = 10;

/**
 * Who uses a blob or manifest, per repository: the manifests that reference it (upwards through
 * indexes) and the tags whose current manifest reaches it. Names the images a finding affects.
 */
export class UsageIndex {
  /** repo -> referenced digest -> manifests referencing it */
  private readonly parents = new Map<string, Map<AnyDigest, AnyDigest[]>>();
  /** repo -> manifest -> tags whose current link names it */
  private readonly tags = new Map<string, Map<AnyDigest, string[]>>();

  addManifest(repo: string, digest: AnyDigest, m: ParsedManifest): void {
    let p = this.parents.get(repo);
    if (!p) this.parents.set(repo, (p = new Map<AnyDigest, AnyDigest[]>()));
    const refs = [m.config, ...m.layers, ...m.manifests, m.subject].filter((x) => x !== undefined);
    for (const r of refs) {
      const list = p.get(r.digest) ?? [];
      if (!list.includes(digest)) list.push(digest);
      p.set(r.digest, list);
    }
  }

  addTag(repo: string, tag: string, digest: AnyDigest): void {
    let t = this.tags.get(repo);
    if (!t) this.tags.set(repo, (t = new Map<AnyDigest, string[]>()));
    t.set(digest, [...(t.get(digest) ?? []), tag].sort());
  }

  /** Manifests in `repo` that reach `digest` (itself included), nearest first. */
  private reaching(repo: string, digest: AnyDigest): AnyDigest[] {
    const parents = this.parents.get(repo);
    const seen = new Set<AnyDigest>([digest]);
    const queue = [digest];
    for (let i = 0; i < queue.length && queue.length < 1000; i++) {
      for (const p of parents?.get(queue[i]!) ?? []) {
        if (!seen.has(p)) {
          seen.add(p);
          queue.push(p);
        }
      }
    }
    return queue;
  }

  /** The first tag (by name) in `repo` whose image includes `digest`. */
  firstTag(repo: string, digest: AnyDigest): string | undefined {
    const tags = this.tags.get(repo);
    const found = this.reaching(repo, digest).flatMap((m) => tags?.get(m) ?? []);
    return found.sort()[0];
  }

  /** `repo:tag` for tagged images using `digest`, `repo@digest` for untagged top manifests; at most 10. */
  usedBy(digest: AnyDigest, repos: Iterable<string>): string[] {
    const out = new Set<string>();
    for (const repo of repos) {
      const parents = this.parents.get(repo);
      const tags = this.tags.get(repo);
      for (const m of this.reaching(repo, digest)) {
        for (const t of tags?.get(m) ?? []) out.add(`${repo}:${t}`);
        if (!tags?.has(m) && !parents?.has(m) && m !== digest) out.add(`${repo}@${m}`);
      }
      if (out.size >= MAX_USERS) break;
    }
    return [...out].sort().slice(0, MAX_USERS);
  }
}
