// Whole repositories: `mv` renames one, `delete --repository` empties one (every tag and
// manifest, so the next gc frees what only it used). A repository's own data is its three
// sections (`_manifests`, `_layers`, `_uploads`); repositories nested below it (`a/b` under
// `a`) are other repositories and are left where they are.
import { basename, hasLocalPaths, type FileInfo, type StorageDriver } from '../drivers/driver.js';
import { NotFoundError, RefusedError, UnsafePathError } from '../errors.js';
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
  /** Files copied one by one: every file on flat-listing backends, the layer links on a directory store. */
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
  const copied = hasLocalPaths(d) ? sections.filter((s) => s === '_layers') : sections;
  for (const s of copied) for await (const _ of d.walk(`${repoDir(from)}/${s}`)) files++;
  return { from, to, sections, files };
}

/**
 * Carries a rename out so that a run cut short at any point leaves a name the registry serves
 * (both names, never neither). Elsewhere every file is copied, then the source's removed. A local
 * store cannot rename the repository's directory (nested repositories live inside it), and three
 * section renames cut short would leave the layer links under one name and the manifests under the
 * other, served under neither: the layer links are copied, the uploads and then the manifests (tags
 * with them) renamed in one step each (atomic; a rename onto a directory created meanwhile fails),
 * and the source's layer links removed last.
 */
export async function executeRename(d: StorageDriver, plan: RenamePlan): Promise<void> {
  const src = repoDir(plan.from);
  const dst = repoDir(plan.to);
  if (!hasLocalPaths(d)) {
    await d.deleteFiles(await copySections(d, src, dst, plan.sections));
    return;
  }
  const layers = plan.sections.includes('_layers');
  if (layers) await copySections(d, src, dst, ['_layers']);
  for (const s of plan.sections) if (s !== '_layers') await d.move(`${src}/${s}`, `${dst}/${s}`);
  if (layers) await d.delete(`${src}/_layers`);
}

/**
 * Copies every file of the sections from one repository directory to the other; returns the
 * sources. A symlink or special file among them is refused before anything is written.
 */
async function copySections(d: StorageDriver, src: string, dst: string, sections: readonly string[]): Promise<string[]> {
  const files: FileInfo[] = [];
  for (const s of sections) {
    for await (const f of d.walk(`${src}/${s}`)) {
      if (f.type === 'symlink' || f.type === 'other') throw new UnsafePathError(d.name, f.path, f.type === 'symlink' ? 'symlink' : 'special', 'inside a repository being renamed');
      files.push(f);
    }
  }
  for (const f of files) {
    const target = dst + f.path.slice(src.length);
    if (f.size <= 4096) await d.putContent(target, await d.getContent(f.path));
    else await d.putStream(target, await d.reader(f.path));
  }
  return files.map((f) => f.path);
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
