// A whole store into another store (copy --all-repositories): every repository the enumerator
// finds (through ls's listing), every tag (referrers fallback tags and cosign attachments are
// tags, so they come along). Repositories are copied several at once (each step of a small one is
// a round trip, so one at a time left a remote bucket idle), their blob transfers sharing one
// --concurrency limit; a blob shared by several is still uploaded once: the others wait for that
// upload and then only link it. Resumable by construction: the copier skips a manifest the
// destination has intact, uploadBlob links a blob it has, writeLink leaves a correct tag alone.
import pLimit, { type LimitFunction } from 'p-limit';
import type { Readable } from 'node:stream';
import type { StorageDriver } from '../drivers/driver.js';
import type { BlobPutResult } from '../image/transfer.js';
import { ImageCopier, type CopyPlan, type CopyProgress, type CopyStats } from '../image/image-copier.js';
import type { BlobDescriptor, Descriptor } from '../image/manifest.js';
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
  const shared: Shared = { limit: pLimit(Math.max(1, opts.concurrency)), uploads: new Map() };
  const out: RepoCopy[] = new Array<RepoCopy>(repos.length);
  let next = 0;
  // Repositories at once: as many as blob transfers, so a store of small repositories keeps the limit busy.
  const worker = async (): Promise<void> => {
    for (let i = next++; i < repos.length; i = next++) {
      opts.progress?.onRepository?.(i, repos.length, repos[i]!.name);
      out[i] = await copyRepository(from, to, repos[i]!.name, repos[i]!.tags, opts, shared);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency, repos.length)) }, worker));
  opts.progress?.onRepository?.(repos.length, repos.length, undefined);
  return out;
}

/** What the repositories copied at once share: the transfer limit, and each blob's first upload. */
interface Shared {
  limit: LimitFunction;
  uploads: Map<string, Promise<BlobPutResult>>;
}

/** A sink whose blob puts wait for another repository's upload of the same blob, then only link it. */
class SharedBlobSink extends StoreSink {
  constructor(
    d: StorageDriver,
    repo: string,
    private readonly shared: Shared,
  ) {
    super(d, repo);
  }

  override async putBlob(desc: BlobDescriptor, open: () => Promise<Readable>): Promise<BlobPutResult> {
    const first = this.shared.uploads.get(desc.digest);
    if (first) {
      // A failed first upload is this put's to retry; uploadBlob finds a finished one and links it.
      await first.catch(() => undefined);
      return super.putBlob(desc, open);
    }
    const put = super.putBlob(desc, open);
    this.shared.uploads.set(desc.digest, put);
    return put;
  }
}

/**
 * One repository: each tag planned on its own (a broken source image fails its tag, not its
 * neighbours), the plans merged so blobs move in parallel and each once, then the tags written.
 */
async function copyRepository(
  from: StorageDriver,
  to: StorageDriver,
  repo: string,
  listed: { tag: string; digest?: string; problem?: string }[],
  opts: StoreCopyOptions,
  shared: Shared,
): Promise<RepoCopy> {
  const source = new StoreSource(from, { repo });
  const sink = new SharedBlobSink(to, repo, shared);
  // Referrers are not followed: their fallback tags and attachments are tags, copied as such.
  const copier = new ImageCopier(source, sink, { concurrency: opts.concurrency, limit: shared.limit, referrers: false, progress: opts.progress });
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
