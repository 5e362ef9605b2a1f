// Many tags of one source repository into the store (push --all-tags docker://host/repo): each tag
// is its own push, so a tag that fails is reported and the others go on.
import pLimit from 'p-limit';
import type { StorageDriver } from '../drivers/driver.js';
import { sumStats, type CopyStats } from '../image/image-copier.js';
import type { ImageSource } from '../image/transfer.js';
import { pushInto, type PushInto } from './import.js';

export interface MirroredTag {
  repo: string;
  tag: string;
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

/** Copies `tags`, each opened by `open(tag)`, to `repo:<tag>` in the store. */
export async function mirrorTags(d: StorageDriver, repo: string, tags: readonly string[], open: (tag: string) => { source: ImageSource; ref: string }, opts: MirrorTags): Promise<MirrorResult> {
  const limit = pLimit(Math.max(1, opts.jobs));
  const stats: CopyStats[] = [];
  let tagWrites = 0;
  let done = 0;
  const results = await Promise.all(
    tags.map((tag) =>
      limit(async (): Promise<MirroredTag> => {
        let r: MirroredTag;
        const { source, ref } = open(tag);
        try {
          const pushed = await pushInto(d, source, ref, { repo, tag }, opts);
          stats.push(pushed.stats);
          tagWrites += pushed.tagWrites;
          const changed = pushed.stats.blobsUploaded > 0 || pushed.stats.manifestsWritten > 0 || pushed.tagWrites > 0;
          const image = pushed.pushed[0]!;
          r = { repo, tag, status: changed ? 'copied' : 'unchanged', digest: image.digest, mediaType: image.mediaType, bytesMoved: pushed.stats.bytesUploaded, blobsMoved: pushed.stats.blobsUploaded };
        } catch (err) {
          r = { repo, tag, status: 'failed', bytesMoved: 0, blobsMoved: 0, error: opts.describeError(err) };
        } finally {
          await source.close?.().catch(() => {});
        }
        opts.onTag?.(++done, tags.length, r);
        return r;
      }),
    ),
  );
  return { tags: results, stats: sumStats(stats), tagWrites };
}
