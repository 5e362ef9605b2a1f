// Many tags into the store (push --all-tags docker://host/repo, or a registry's catalog): each tag
// is its own push, so a tag that fails is reported and the others go on.
import pLimit from 'p-limit';
import type { StorageDriver } from '../drivers/driver.js';
import { sumStats, type CopyStats } from '../image/image-copier.js';
import { parseRepoName, parseTag } from '../image/reference.js';
import type { ImageSource } from '../image/transfer.js';
import { pushInto, type PushInto } from './import.js';

export interface MirroredTag {
  repo: string;
  tag: string;
  /** The source reference (docker://host/repo:tag). */
  source: string;
  status: 'copied' | 'unchanged' | 'failed';
  digest?: string;
  mediaType?: string;
  bytesMoved: number;
  blobsMoved: number;
  error?: string;
}

export interface MirrorTags extends PushInto {
  /** Tags copied at once. */
  jobs: number;
  /** Called as each tag ends (progress). */
  onTag?(done: number, total: number, r: MirroredTag): void;
  /** One line for a failure (redacted, no newlines). */
  describeError(err: unknown): string;
}

export interface MirrorResult {
  tags: MirroredTag[];
  stats: CopyStats;
  /** Tag files written: 0 on a run that found everything in place. */
  tagWrites: number;
}

/** One image to mirror: the store's `repo:tag` it goes to, and where it comes from. */
export interface MirrorItem {
  repo: string;
  tag: string;
  /** The source repository. */
  from: string;
}

/** Copies each item, opened by `open(item)`, to its `repo:tag` in the store. */
export async function mirrorTags(d: StorageDriver, items: readonly MirrorItem[], open: (item: MirrorItem) => { source: ImageSource; ref: string }, opts: MirrorTags): Promise<MirrorResult> {
  const limit = pLimit(Math.max(1, opts.jobs));
  const stats: CopyStats[] = [];
  let tagWrites = 0;
  let done = 0;
  const results = await Promise.all(
    items.map((item) =>
      limit(async (): Promise<MirroredTag> => {
        let r: MirroredTag;
        const { repo, tag } = item;
        const { source, ref } = open(item);
        try {
          // Names come from the source registry: outside the grammar they never reach a path.
          parseRepoName(repo);
          parseTag(tag);
          const pushed = await pushInto(d, source, ref, { repo, tag }, opts);
          stats.push(pushed.stats);
          tagWrites += pushed.tagWrites;
          const changed = pushed.stats.blobsUploaded > 0 || pushed.stats.manifestsWritten > 0 || pushed.tagWrites > 0;
          const image = pushed.pushed[0]!;
          r = {
            repo,
            tag,
            source: ref,
            status: changed ? 'copied' : 'unchanged',
            digest: image.digest,
            mediaType: image.mediaType,
            bytesMoved: pushed.stats.bytesUploaded,
            blobsMoved: pushed.stats.blobsUploaded,
          };
        } catch (err) {
          r = { repo, tag, source: ref, status: 'failed', bytesMoved: 0, blobsMoved: 0, error: opts.describeError(err) };
        } finally {
          await source.close?.().catch(() => {});
        }
        opts.onTag?.(++done, items.length, r);
        return r;
      }),
    ),
  );
  return { tags: results, stats: sumStats(stats), tagWrites };
}
