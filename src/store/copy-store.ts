// A whole store into another store (copy --all-repositories): every repository the enumerator
// finds (through ls's listing), every tag (referrers fallback tags and cosign attachments are
// tags, so they come along), one repository at a time so a blob shared by several is uploaded
// once and only linked after. Resumable by construction: the copier skips a manifest the
// destination has intact, uploadBlob links a blob it has, writeLink leaves a correct tag alone.
import type { StorageDriver } from '../drivers/driver.js';
import { ImageCopier, type CopyPlan, type CopyProgress, type CopyStats } from '../image/image-copier.js';
import type { Descriptor } from '../image/manifest.js';
import { listAllTags } from './listing.js';
import { StoreSink, StoreSource, storeDescriptor } from './source-sink.js';

export type TagStatus = 'copied' | 'present' | 'failed';

export interface CopiedTag {
  tag: string;
  digest?: string;
  status: TagStatus;
  error?: string;
}

export interface RepoCopy {
  name: string;
  tags: CopiedTag[];
  stats: CopyStats;
  /** Why the repository's copy stopped (its remaining tags are failed). */
  error?: string;
}

export interface StoreCopyProgress extends CopyProgress {
  /** Called as each repository starts (index from 0) and once more when all are done (index = total). */
  onRepository?(index: number, total: number, name: string | undefined): void;
  onTag?(repo: string, tag: CopiedTag): void;
}

export interface StoreCopyOptions {
  concurrency: number;
  /** Which repositories (all when absent): the caller's glob test. */
  select?: (repo: string) => boolean;
  progress?: StoreCopyProgress;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Copies every selected repository of `from` into `to`, each with all its tags; a failing one does not stop the others. */
export async function copyStore(from: StorageDriver, to: StorageDriver, opts: StoreCopyOptions): Promise<RepoCopy[]> {
  const repos = (await listAllTags(from, opts.concurrency)).filter((r) => !opts.select || opts.select(r.name));
  const out: RepoCopy[] = [];
  for (const [i, r] of repos.entries()) {
    opts.progress?.onRepository?.(i, repos.length, r.name);
    out.push(await copyRepository(from, to, r.name, r.tags, opts));
  }
  opts.progress?.onRepository?.(repos.length, repos.length, undefined);
  return out;
}

/**
 * One repository: each tag planned on its own (a broken source image fails its tag, not its
 * neighbours), the plans merged so blobs move in parallel and each once, then the tags written.
 */
async function copyRepository(from: StorageDriver, to: StorageDriver, repo: string, listed: { tag: string; digest?: string; problem?: string }[], opts: StoreCopyOptions): Promise<RepoCopy> {
  const source = new StoreSource(from, { repo });
  const sink = new StoreSink(to, repo);
  // Referrers are not followed: their fallback tags and attachments are tags, copied as such.
  const copier = new ImageCopier(source, sink, { concurrency: opts.concurrency, referrers: false, progress: opts.progress });
  const result: RepoCopy = { name: repo, tags: [], stats: copier.stats };
  const done = (t: CopiedTag): void => {
    result.tags.push(t);
    opts.progress?.onTag?.(repo, t);
  };
  const merged: CopyPlan = { roots: [], blobs: new Map(), manifests: [] };
  const planned: { tag: string; root: Descriptor }[] = [];
  for (const t of listed) {
    if (!t.digest) {
      done({ tag: t.tag, status: 'failed', error: t.problem ?? `tag ${repo}:${t.tag} has no current link` });
      continue;
    }
    try {
      const { desc } = await storeDescriptor(from, repo, t.digest as Descriptor['digest']);
      const plan = await copier.plan([desc]);
      for (const [k, b] of plan.blobs) merged.blobs.set(k, b);
      merged.manifests.push(...plan.manifests);
      planned.push({ tag: t.tag, root: plan.roots[0]! });
    } catch (err) {
      done({ tag: t.tag, digest: t.digest, status: 'failed', error: message(err) });
    }
  }
  try {
    await copier.execute(merged);
  } catch (err) {
    result.error = message(err);
    for (const p of planned) done({ tag: p.tag, digest: p.root.digest, status: 'failed', error: result.error });
    return result;
  }
  for (const p of planned) {
    try {
      const writes = await sink.tag(p.tag, p.root);
      done({ tag: p.tag, digest: p.root.digest, status: writes > 0 ? 'copied' : 'present' });
    } catch (err) {
      done({ tag: p.tag, digest: p.root.digest, status: 'failed', error: message(err) });
    }
  }
  return result;
}
