// --fix: only repairs that lose nothing. Links are rewritten to what their path already says,
// missing links are re-created where the registry itself would have written them, a _layers
// link whose blob is gone and an upload older than a week are removed. A blob is never deleted,
// and a repository's last _layers link stays (without `_layers` registry 2.8 no longer sees the
// repository and its garbage-collect sweeps the repository's blobs).
import { dirname, type StorageDriver } from '../drivers/driver.js';
import { ChangedDuringDeleteError, UnsafePathError } from '../errors.js';
import { touchesHazard, type Hazard } from '../store/hazards.js';
import type { Digest } from '../image/digest.js';
import { writeLink } from '../store/links.js';
import { REPOSITORIES } from '../store/paths.js';
import type { AuditData } from './checks.js';
import { eachLimit } from '../util/each-limit.js';
import type { Finding, FindingKind } from './findings.js';
import { ignoreNotFound } from '../util/not-found.js';

export interface Repair {
  action: 'write-link' | 'remove-link' | 'remove-upload';
  /** The link written, or the directory removed. */
  path: string;
  /** What a written link holds. */
  digest?: Digest;
  /** The findings it repairs. */
  kinds: FindingKind[];
}

interface Planned {
  repair: Repair;
  findings: Finding[];
}

class Planner {
  readonly planned = new Map<string, Planned>();
  private readonly revisions = new Map<string, Set<Digest>>();
  private readonly layerLinks = new Map<string, number>();

  constructor(
    private readonly a: AuditData,
    private readonly verified: (d: Digest) => Promise<boolean>,
  ) {
    for (const r of a.inv.repos) {
      this.revisions.set(r.name, new Set(r.revisions.filter((l) => l.content !== undefined).map((l) => l.named!)));
      this.layerLinks.set(r.name, r.layers.filter((l) => l.content !== undefined).length);
    }
  }

  private plan(f: Finding, action: Repair['action'], path: string, digest?: Digest): void {
    const p = this.planned.get(path);
    if (p) {
      p.findings.push(f);
      if (!p.repair.kinds.includes(f.kind)) p.repair.kinds.push(f.kind);
      return;
    }
    this.planned.set(path, { repair: { action, path, ...(digest ? { digest } : {}), kinds: [f.kind] }, findings: [f] });
  }

  private isRevision(repo: string, d: Digest): boolean {
    return this.revisions.get(repo)?.has(d) ?? false;
  }

  private removeLayerLink(f: Finding): void {
    const left = this.layerLinks.get(f.repo!) ?? 0;
    const dir = dirname(f.path);
    if (this.planned.has(dir)) return this.plan(f, 'remove-link', dir);
    if (left <= 1) return;
    this.layerLinks.set(f.repo!, left - 1);
    this.plan(f, 'remove-link', dir);
  }

  private blobExists(d: Digest): boolean {
    return this.a.inv.blobs.get(d)?.exists ?? false;
  }

  /** A link rewritten to the digest its directory names, or a tag's current link to its evident digest. */
  private async relink(f: Finding): Promise<void> {
    const d = f.digest as Digest | undefined;
    if (!d || !f.repo) return;
    switch (f.link) {
      case 'layer':
        if (!this.blobExists(d)) return this.removeLayerLink(f); // also a dangling-layer-link
        if (await this.verified(d)) this.plan(f, 'write-link', f.path, d);
        return;
      case 'revision':
        if (this.a.manifests.get(d)?.state === 'ok') this.plan(f, 'write-link', f.path, d);
        return;
      case 'tag-index':
        this.plan(f, 'write-link', f.path, d);
        return;
      case 'tag-current':
        if (this.isRevision(f.repo, d)) this.plan(f, 'write-link', f.path, d);
        return;
    }
  }

  async add(f: Finding): Promise<void> {
    const d = f.digest as Digest | undefined;
    switch (f.kind) {
      case 'malformed-link':
      case 'link-mismatch':
        return this.relink(f);
      case 'dangling-layer-link':
        return this.removeLayerLink(f);
      case 'unlinked-blob':
        if (d && this.blobExists(d) && (await this.verified(d))) this.plan(f, 'write-link', f.path, d);
        return;
      case 'tag-index-missing':
        if (d && f.repo && this.isRevision(f.repo, d)) this.plan(f, 'write-link', f.path, d);
        return;
      case 'stale-upload':
        return this.plan(f, 'remove-upload', f.path);
      default:
        return;
    }
  }
}

/** The repairs for these findings, one per path. `verified` hashes a blob if it was not hashed yet. */
export async function planRepairs(findings: Finding[], a: AuditData, verified: (d: Digest) => Promise<boolean>): Promise<Planned[]> {
  const p = new Planner(a, verified);
  for (const f of findings) await p.add(f);
  return [...p.planned.values()];
}

function describe(r: Repair): string {
  if (r.action === 'write-link') return `wrote ${r.digest} to ${r.path}`;
  return `removed ${r.path}`;
}

/**
 * Carries the repairs out and marks each finding repaired. Touches nothing outside
 * `repositories/`, and nothing at, below or above an unsafe path (a symlink, a special file):
 * those repairs are not made, and one that meets such a path only now is dropped.
 */
export async function applyRepairs(d: StorageDriver, planned: Planned[], concurrency: number, hazards: Hazard[] = []): Promise<Repair[]> {
  for (const { repair } of planned) {
    if (!repair.path.startsWith(`${REPOSITORIES}/`)) throw new Error(`internal error: repair outside repositories/: ${repair.path}`);
  }
  const made: Repair[] = [];
  await eachLimit(
    planned.filter((p) => !touchesHazard(p.repair.path, hazards)),
    concurrency,
    async ({ repair, findings }) => {
      try {
        if (repair.action === 'write-link') await writeLink(d, repair.path, repair.digest!);
        else await ignoreNotFound(() => d.delete(repair.path));
      } catch (err) {
        if (err instanceof UnsafePathError || err instanceof ChangedDuringDeleteError) return;
        throw err;
      }
      for (const f of findings) f.repaired = describe(repair);
      made.push(repair);
    },
  );
  return made;
}
