// copy --all-repositories: the whole store into another store, a table of what each repository got.
import { availableParallelism } from 'node:os';
import type { Context } from '../cli/context.js';
import { formatBytes } from '../cli/output.js';
import { IntegrityError, UsageError } from '../errors.js';
import { isDigest, type Digest } from '../image/digest.js';
import { sumStats } from '../image/image-copier.js';
import { repoFilter } from '../retention/policy.js';
import { copyStore, type RepoCopy } from '../store/copy-store.js';
import { rehashBlobs, type RehashReport } from '../verify/rehash.js';
import { statsLine } from './transfer-progress.js';

export interface CopyAllOptions {
  includeRepo?: string[];
  excludeRepo?: string[];
  verify?: boolean;
}

const count = (r: RepoCopy, s: string): number => r.tags.filter((t) => t.status === s).length;

/** `toUrl`: the destination store, parsed by copy (a repository in it is refused there). */
export async function runAll(ctx: Context, toUrl: string, opts: CopyAllOptions): Promise<number> {
  if (toUrl === ctx.storeUrl) throw new UsageError(`copy --all-repositories into ${toUrl}, the store itself: give another store`);
  const select = repoFilter(opts.includeRepo, opts.excludeRepo);
  const from = await ctx.registryStore();
  const to = await ctx.open(toUrl);
  const written: Digest[] = [];
  let repos: RepoCopy[];
  let verified: RehashReport | undefined;
  try {
    const prog = ctx.output.progress(`copying to ${toUrl}: listing repositories`);
    const t = { repo: '', index: 0, total: 0, copied: 0, present: 0, failed: 0, blobs: 0, bytes: 0 };
    const show = (): void => {
      if (!ctx.output.showsProgress) return;
      prog.update(
        `copying to ${toUrl}: repository ${Math.min(t.index + 1, t.total)}/${t.total} ${t.repo}, tags ${t.copied} copied, ${t.present} already there, ${t.failed} failed, ${t.blobs} blobs (${formatBytes(t.bytes)}) written`,
      );
    };
    try {
      repos = await copyStore(from, to, {
        concurrency: ctx.globals.concurrency,
        select,
        progress: {
          onRepository(index, total, name) {
            Object.assign(t, { index, total, repo: name ?? '' });
            show();
          },
          onTag(_repo, tag) {
            t[tag.status]++;
            show();
          },
          onBlob(desc, r) {
            if (!r.uploaded) return;
            t.blobs++;
            t.bytes += r.bytes;
            if (opts.verify && isDigest(desc.digest)) written.push(desc.digest);
            show();
          },
          onManifest(desc) {
            if (opts.verify) written.push(desc.digest);
          },
        },
      });
    } finally {
      prog.done();
    }
    if (opts.verify) {
      const vp = ctx.output.progress(`verifying ${written.length} blobs written to ${toUrl}`);
      try {
        verified = await rehashBlobs(to, new Set(written), {
          threads: Math.max(1, Math.min(ctx.globals.concurrency, availableParallelism())),
          concurrency: ctx.globals.concurrency,
          onBlob: (r) => vp.update(`verifying blobs written to ${toUrl}: ${r.blobs}/${written.length}, ${formatBytes(r.bytes)}`),
        });
      } finally {
        vp.done();
      }
    }
  } finally {
    await to.close();
  }
  render(ctx, toUrl, repos, verified);
  const failed = repos.filter((r) => r.error || count(r, 'failed') > 0);
  for (const r of failed) {
    const first = r.error ?? r.tags.find((x) => x.status === 'failed')?.error ?? '';
    ctx.output.error(`repository ${r.name}: ${count(r, 'failed')} of ${r.tags.length} tags not copied: ${first}`);
  }
  if (verified && verified.bad.length > 0) {
    const b = verified.bad[0]!;
    throw new IntegrityError(
      `--verify: ${verified.bad.length} of ${verified.blobs} blobs written to ${toUrl} do not hash to their digest (${b.digest}: ${b.found ?? 'missing'}): run regbucket --store ${toUrl} verify`,
    );
  }
  return failed.length > 0 ? 1 : 0;
}

function render(ctx: Context, toUrl: string, repos: RepoCopy[], verified: RehashReport | undefined): void {
  const ok = repos.flatMap((r) => r.tags.filter((t) => t.status !== 'failed').map((t) => ({ repo: r.name, tag: t.tag, digest: t.digest! })));
  ctx.output.references(ok.map((t) => `${t.repo}:${t.tag}@${t.digest}`));
  const stats = sumStats(repos.map((r) => r.stats));
  const json = {
    to: toUrl,
    images: ok.map((t) => ({ source: `${t.repo}:${t.tag}`, destination: `${t.repo}:${t.tag}`, digest: t.digest })),
    stats,
    repositories: repos.map((r) => ({
      name: r.name,
      tagsCopied: count(r, 'copied'),
      tagsPresent: count(r, 'present'),
      tagsFailed: count(r, 'failed'),
      stats: r.stats,
      tags: r.tags,
      ...(r.error ? { error: r.error } : {}),
    })),
    ...(verified ? { verified: { blobs: verified.blobs, bytes: verified.bytes, bad: verified.bad } } : {}),
  };
  ctx.output.result(json, () => {
    const rows = repos.map((r) => [r.name, count(r, 'copied'), count(r, 'present'), count(r, 'failed'), r.stats.blobsUploaded, ctx.output.size(r.stats.bytesUploaded)]);
    const lines = [ctx.output.table(['REPOSITORY', 'COPIED', 'ALREADY THERE', 'FAILED', 'BLOBS', 'BYTES'], rows)];
    const tags = repos.reduce((n, r) => n + r.tags.length, 0);
    lines.push(`${repos.length} repositories, ${tags} tags: ${statsLine(stats)}`);
    if (verified) lines.push(`verified ${verified.blobs} blobs written (${formatBytes(verified.bytes)}): ${verified.bad.length === 0 ? 'all match their digests' : `${verified.bad.length} do not`}`);
    return lines.join('\n');
  });
}
