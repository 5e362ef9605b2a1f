// Whole repositories: `mv` renames one, `delete --repository` empties one (every tag and
// manifest, so the next gc frees what only it used). A repository's own data is its three
// sections (`_manifests`, `_layers`, `_uploads`); repositories nested below it (`a/b` under
// `a`) are other repositories and are left where they are.
import { basename, hasLocalPaths, type StorageDriver } from '../drivers/driver.js';
import { NotFoundError, RefusedError } from '../errors.js';
import type { Digest } from '../image/digest.js';
import { parseRepoName } from '../image/reference.js';
import { repoDir } from './paths.js';
import { planDelete, type DeletePlan, type DeleteTarget } from './removal.js';
import { listTags } from './tags.js';
import { listOrEmpty, listRevisions } from './walk.js';

const SECTIONS = ['_uploads', '_layers', '_manifests'] as const;

async function sectionsOf(d: StorageDriver, repo: string): Promise<string[]> {
  const names = new Set((await listOrEmpty(d, repoDir(repo))).map(basename));
  return SECTIONS.filter((s) => names.has(s));
}

export interface RenamePlan {
  from: string;
  to: string;
  /** Sections moved (uploads first, manifests last: the registry sees the repository by the last two). */
  sections: string[];
  /** Files moved one by one (flat-listing backends); 0 where directories are renamed. */
  files: number;
}

/** Checks a rename: both names in the grammar, the source a repository, the destination none. */
export async function planRename(d: StorageDriver, from: string, to: string): Promise<RenamePlan> {
  parseRepoName(from);
  parseRepoName(to);
  if (from === to) throw new RefusedError(`${from} and ${to} are the same repository: nothing to rename`);
  const sections = await sectionsOf(d, from);
  if (!sections.includes('_manifests') && !sections.includes('_layers')) throw new NotFoundError(`repository ${from} is not in the store (regbucket ls lists them)`);
  const there = await sectionsOf(d, to);
  if (there.length > 0)
    throw new RefusedError(`repository ${to} exists already (it has ${there.join(', ')}): refusing to overwrite it; delete it first (regbucket delete --repository ${to}) or choose another name`);
  let files = 0;
  if (!hasLocalPaths(d)) for (const s of sections) for await (const _ of d.walk(`${repoDir(from)}/${s}`)) files++;
  return { from, to, sections, files };
}

/**
 * Carries a rename out. A local store renames each section directory (atomic each; a rename onto
 * a directory created meanwhile fails). Elsewhere every file is copied, then the source's removed:
 * a run cut short leaves both names, never neither.
 */
export async function executeRename(d: StorageDriver, plan: RenamePlan): Promise<void> {
  const src = repoDir(plan.from);
  const dst = repoDir(plan.to);
  if (hasLocalPaths(d)) {
    for (const s of plan.sections) await d.move(`${src}/${s}`, `${dst}/${s}`);
    return;
  }
  const copied: string[] = [];
  for (const s of plan.sections) {
    for await (const f of d.walk(`${src}/${s}`)) {
      const target = dst + f.path.slice(src.length);
      if (f.size <= 4096) await d.putContent(target, await d.getContent(f.path));
      else await d.putStream(target, await d.reader(f.path));
      copied.push(f.path);
    }
  }
  await d.deleteFiles(copied);
}

/** The plan deleting every tag and manifest of a repository (blobs and layer links stay for gc). */
export async function planDeleteRepository(d: StorageDriver, repo: string, concurrency: number): Promise<DeletePlan> {
  parseRepoName(repo);
  const [revisions, tags] = await Promise.all([listRevisions(d, repo), listTags(d, repo)]);
  const targets: DeleteTarget[] = [...revisions.map((digest: Digest) => ({ repo, digest })), ...tags.map((tag) => ({ repo, tag }))];
  if (targets.length === 0) {
    const sections = await sectionsOf(d, repo);
    if (!sections.includes('_manifests') && !sections.includes('_layers')) throw new NotFoundError(`repository ${repo} is not in the store (regbucket ls lists them)`);
    return { manifests: [], tags: [] };
  }
  return planDelete(d, targets, { force: true, concurrency });
}
