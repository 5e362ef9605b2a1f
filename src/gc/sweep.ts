// Carrying a plan out, in an order that keeps the store servable if the run is killed at any
// point: tags and revisions first (only untagged, unreferenced ones), then blobs, then `_layers`
// links to deleted or missing blobs, then stale uploads, then repositories left empty. A kept
// tag's manifests and blobs are never in the plan, so no tag breaks; whatever is left half-done
// is unreferenced and the next run finishes it.
//
// Each step re-checks against storage just before it deletes, so pushes that land while the gc
// runs are not broken:
// - revisions: the repository is listed again (revisions, tags, their times); new revisions are
//   read and the repository is marked afresh; only what is still unkept and old goes;
// - blobs: every repository is listed again and everything any revision now references is kept
//   (repeated every `recheckMs` while the sweep runs), and so is a blob linked into a repository
//   less than --min-age ago; each blob's age is read again just before it goes (filesystem: after
//   moving it aside; S3: a HEAD right before the DeleteObjects of its small group);
// - links: the blob must still be absent and the link old; uploads: still stale; repositories:
//   still without revisions and without recent files.
import { randomUUID } from 'node:crypto';
import { dirname, type StorageDriver } from '../drivers/driver.js';
import { ChangedDuringDeleteError, isNotFound, UnsafePathError } from '../errors.js';
import { statBlob } from '../store/blobs.js';
import { postNotice, removeExpiredNotices } from '../store/deletion-notices.js';
import {
  blobDataPath,
  blobDir,
  layerLinkPath,
  layersDir,
  manifestsDir,
  revisionDir,
  revisionLinkPath,
  tagDir,
  tagIndexEntryDir,
  tagIndexLinkPath,
  uploadsDir,
  parseStorePath,
} from '../store/paths.js';
import { uploadAges } from '../store/enumerate.js';
import { listOrEmpty } from '../store/walk.js';
import { eachLimit } from '../util/each-limit.js';
import { orIfNotFound } from '../util/not-found.js';
import { fetchLinkTimes, newestFile } from './facts.js';
import { readManifests, type ManifestGraph } from './manifest-graph.js';
import { isYoung, markRepo } from './mark.js';
import type { GcPlan, PlanOptions, RepoPlan } from './plan.js';
import { fileTime, listTagHistory, scanBlobs, scanRepositories, scanRepository, type ScanOptions } from './scan.js';
import { BlobTable, DELETE, DELETED, LISTED, MARKED, type MultipartUpload, type RepoScan, type UploadScan, type WriteDebrisEntry } from './store-scan.js';

/** DeleteObjects takes 1,000 keys a request. */
const BATCH = 1000;
/** S3: blobs whose times are read (HEAD, all at once) right before one DeleteObjects. */
const CHECK_GROUP = 64;

export type SweepPhase = 'manifests' | 'blobs' | 'links' | 'uploads' | 'repositories';

export interface SweepOptions extends PlanOptions {
  concurrency: number;
  /** How long a blob sweep goes on before every repository is listed again (default 30 s). */
  recheckMs?: number;
  onProgress?: (phase: SweepPhase, done: number, total: number) => void;
  /** S3: abort an in-flight multipart upload. */
  abortMultipart?: (u: MultipartUpload) => Promise<void>;
  /** A path not deleted because it turned out unsafe (a symlink, a special file) or changed meanwhile. */
  onLeft?: (path: string, why: string) => void;
}

export interface SweepResult {
  revisions: { repo: string; digest: number }[];
  historyEntries: number;
  tags: { repo: string; tag: string }[];
  blobs: number[];
  bytes: number;
  /** Per repository (a million links as objects would cost tens of MB). */
  layerLinks: { repo: string; digests: number[] }[];
  uploads: { repo: string; upload: UploadScan }[];
  multipart: MultipartUpload[];
  writeDebris: WriteDebrisEntry[];
  repositories: string[];
}

interface Entry {
  /** The directory (filesystem: removed whole). */
  dir: string;
  /** Its one file (flat backends: removed in batches). */
  file: string;
}

/** Deletes a path; false when it is not deleted because it is unsafe or was written to meanwhile. */
function unsafeWhy(err: UnsafePathError): string {
  return `${err.path} is unsafe (${err.kind})`;
}

async function deleteIfThere(d: StorageDriver, path: string, onLeft?: SweepOptions['onLeft']): Promise<boolean> {
  try {
    await d.delete(path);
    return true;
  } catch (err) {
    if (isNotFound(err)) return true;
    if (err instanceof UnsafePathError || err instanceof ChangedDuringDeleteError) {
      onLeft?.(path, err instanceof UnsafePathError ? unsafeWhy(err) : 'written to meanwhile');
      return false;
    }
    throw err;
  }
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Revisions to delete, in waves that never leave a kept revision naming a deleted one if the run
 * is killed between two: an index before its children, a referrer before its subject.
 */
export function parentsFirst(revs: number[], graph: ManifestGraph): number[][] {
  const going = new Set(revs);
  const refs = (r: number): number[] => {
    const info = graph.get(r);
    if (info?.state !== 'ok') return [];
    return [...info.children, ...(info.subject >= 0 ? [info.subject] : [])].filter((c) => c !== r && going.has(c));
  };
  const parents = new Map<number, number>();
  for (const r of revs) for (const c of refs(r)) parents.set(c, (parents.get(c) ?? 0) + 1);
  if (parents.size === 0) return revs.length > 0 ? [revs] : [];
  const waves: number[][] = [];
  let left = revs;
  while (left.length > 0) {
    const wave = left.filter((r) => !parents.get(r));
    if (wave.length === 0) {
      waves.push(left); // a cycle, which digests make impossible: no order helps
      break;
    }
    waves.push(wave);
    for (const r of wave) for (const c of refs(r)) parents.set(c, parents.get(c)! - 1);
    const done = new Set(wave);
    left = left.filter((r) => !done.has(r));
  }
  return waves;
}

class Sweeper {
  readonly result: SweepResult = { revisions: [], historyEntries: 0, tags: [], blobs: [], bytes: 0, layerLinks: [], uploads: [], multipart: [], writeDebris: [], repositories: [] };
  private readonly scanOpts: ScanOptions;

  constructor(
    private readonly d: StorageDriver,
    private readonly table: BlobTable,
    private readonly graph: ManifestGraph,
    private readonly opts: SweepOptions,
  ) {
    this.scanOpts = { concurrency: opts.concurrency };
  }

  private progress(phase: SweepPhase, done: number, total: number): void {
    this.opts.onProgress?.(phase, done, total);
  }

  /** Layout entries (a directory holding one file): in batches of keys on flat backends, by directory on a filesystem. */
  private async remove(entries: Entry[]): Promise<void> {
    if (this.d.prefersFlatListing) {
      await eachLimit(chunks(entries, BATCH), this.opts.concurrency, (c) => this.d.deleteFiles(c.map((e) => e.file)));
    } else await eachLimit(entries, this.opts.concurrency, async (e) => void (await deleteIfThere(this.d, e.dir, this.opts.onLeft)));
  }

  private read(digests: number[]): Promise<void> {
    return readManifests(this.d, this.table, this.graph, digests, { concurrency: this.opts.concurrency });
  }

  async revisions(rp: RepoPlan): Promise<void> {
    const { d, table } = this;
    const name = rp.repo.name;
    const fresh = await scanRepository(d, table, name, this.scanOpts);
    await listTagHistory(d, table, fresh);
    await this.read(fresh.revisions);
    const m = markRepo(table, this.graph, fresh, this.opts);
    const still = new Set(m.deleteRevisions);
    const revs = rp.revisions.filter((r) => still.has(r));
    const tagsGoing = new Set(m.deleteTags.map((t) => t.name));
    const tags = rp.tags.filter((t) => tagsGoing.has(t.name));
    for (const t of tags) {
      await deleteIfThere(d, tagDir(name, t.name), this.opts.onLeft);
      this.result.tags.push({ repo: name, tag: t.name });
    }
    const going = new Set(revs);
    const history: Entry[] = [];
    for (const t of fresh.tags) {
      if (tagsGoing.has(t.name)) continue;
      for (const h of t.history ?? []) {
        if (going.has(h)) history.push({ dir: tagIndexEntryDir(name, t.name, table.set.digest(h)), file: tagIndexLinkPath(name, t.name, table.set.digest(h)) });
      }
    }
    await this.remove(history);
    this.result.historyEntries += history.length;
    for (const wave of parentsFirst(revs, this.graph)) {
      await this.remove(wave.map((r) => ({ dir: revisionDir(name, table.set.digest(r)), file: revisionLinkPath(name, table.set.digest(r)) })));
      for (const r of wave) this.result.revisions.push({ repo: name, digest: r });
    }
  }

  /** Lists every repository again and keeps whatever any revision now references or a recent link names. */
  private async recheckAll(): Promise<void> {
    const { d, table } = this;
    const repos = await scanRepositories(d, table, this.scanOpts);
    await this.read(repos.flatMap((r) => r.revisions));
    for (const r of repos) markRepo(table, this.graph, r, { ...this.opts, deleteUntagged: false });
    const flags = table.flags.data;
    const pending = (b: number): boolean => (flags[b]! & (DELETE | DELETED | MARKED)) === DELETE;
    await fetchLinkTimes(d, table, repos, pending, this.opts.concurrency);
    for (const r of repos) {
      r.layers.forEach((b, j) => {
        if (pending(b) && isYoung(r.layerTimes[j]!, this.opts)) flags[b]! |= MARKED;
      });
    }
  }

  /** Still to delete, still there and old (by its time now). */
  private async stillGoing(i: number): Promise<boolean> {
    if ((this.table.flags.data[i]! & (DELETE | MARKED)) !== DELETE) return false;
    return this.stillOld(i);
  }

  /**
   * The blob is there and old by its time now (false marks it kept). On S3 "old" means "not
   * rewritten since it was listed": HEAD gives whole seconds (Swift rounds up, AWS down) where
   * listings may give milliseconds, so a time within the listed time's second is the same object.
   */
  private async stillOld(i: number): Promise<boolean> {
    const st = await statBlob(this.d, this.table.set.digest(i));
    if (st === undefined) return false;
    const t = st.modTime.getTime();
    const listed = this.table.mtime.data[i]!;
    const old = this.d.prefersFlatListing && Number.isFinite(listed) ? t <= Math.ceil(listed / 1000) * 1000 && !isYoung(listed, this.opts) : !isYoung(t, this.opts);
    if (!old) this.table.flags.data[i]! |= MARKED;
    return old;
  }

  /**
   * A planned blob whose directory is there but empty: what a run killed between removing the
   * claimed data and its directory leaves. Removed (only if still empty).
   */
  private async emptyLeftover(i: number): Promise<boolean> {
    if ((this.table.flags.data[i]! & (DELETE | MARKED)) !== DELETE || !this.d.removeEmptyDir) return false;
    return this.d.removeEmptyDir(blobDir(this.table.set.digest(i)));
  }

  /**
   * Filesystem: moves the blob's data aside (atomic), then decides on the time of what it moved.
   * A push that refreshed the blob's time before the move is seen (the blob goes back); one that
   * comes after finds no blob and writes it again. Without the move, a push refreshing the time
   * between this gc's age check and its delete would lose the blob. True when deleted.
   */
  private async claimAndDelete(i: number): Promise<boolean> {
    const { d, table } = this;
    const digest = table.set.digest(i);
    const data = blobDataPath(digest);
    const aside = `${data}.${randomUUID()}.tmp`;
    try {
      await d.move(data, aside);
    } catch (err) {
      if (isNotFound(err)) return false;
      if (err instanceof UnsafePathError) {
        this.opts.onLeft?.(blobDir(digest), `${err.path} is unsafe (${err.kind})`);
        return false;
      }
      throw err;
    }
    if (isYoung((await d.stat(aside)).modTime.getTime(), this.opts)) {
      // Reused meanwhile: back in place, unless a push has written it again already.
      if (await statBlob(d, digest)) await deleteIfThere(d, aside);
      else await d.move(aside, data);
      table.flags.data[i]! |= MARKED;
      return false;
    }
    // Only what was claimed goes: a push may be writing the blob again into its directory now
    // (a recursive delete would take the new data with it, or fail with ENOTEMPTY).
    await d.deleteFiles([aside]);
    if (d.removeEmptyDir) await d.removeEmptyDir(blobDir(digest));
    else await deleteIfThere(d, blobDir(digest), this.opts.onLeft);
    return true;
  }

  async blobs(plan: GcPlan): Promise<void> {
    if (plan.blobs.length === 0) return;
    const { table } = this;
    const recheckMs = this.opts.recheckMs ?? 30_000;
    let checked = -Infinity;
    if (this.d.prefersFlatListing) await removeExpiredNotices(this.d);
    const round = BATCH * Math.max(1, this.opts.concurrency);
    for (let at = 0; at < plan.blobs.length; at += round) {
      if (Date.now() - checked > recheckMs) {
        await this.recheckAll();
        checked = Date.now();
      }
      const todo: number[] = [];
      if (this.d.prefersFlatListing) {
        // S3: each blob's time is read (HEAD) just before the request that deletes it, in small
        // groups, so a push that refreshed an old blob's time to reuse it (store/blobs.ts) keeps it.
        // A refresh landing between a group's HEAD and its DeleteObjects is covered by the
        // group's notice: the push waits for it to go and then finds the blob absent and writes
        // it again (store/deletion-notices.ts).
        const groups = chunks(
          plan.blobs.slice(at, at + round).filter((i) => (table.flags.data[i]! & (DELETE | MARKED)) === DELETE),
          CHECK_GROUP,
        );
        await eachLimit(groups, Math.max(1, Math.ceil(this.opts.concurrency / 4)), async (group) => {
          const notice = await postNotice(
            this.d,
            group.map((i) => table.set.hex(i)),
          );
          try {
            const old: number[] = [];
            await Promise.all(
              group.map(async (i) => {
                if (await this.stillOld(i)) old.push(i);
              }),
            );
            // Too slow (a push may have stopped waiting for the notice): kept for the next run.
            if (!notice.fresh()) return;
            await this.d.deleteFiles(old.map((i) => blobDataPath(table.set.digest(i))));
            todo.push(...old);
          } finally {
            await notice.remove();
          }
        });
      } else {
        // Each blob is claimed, its age checked and only then deleted: a push reusing an old blob
        // refreshes its time first (checkExisting in store/blobs.ts).
        await eachLimit(plan.blobs.slice(at, at + round), this.opts.concurrency, async (i) => {
          if (await this.stillGoing(i)) {
            if (await this.claimAndDelete(i)) todo.push(i);
          } else if (await this.emptyLeftover(i)) todo.push(i);
        });
      }
      for (const i of todo) {
        table.flags.data[i]! |= DELETED;
        this.result.blobs.push(i);
        this.result.bytes += table.size.data[i]! || 0;
      }
      this.progress('blobs', Math.min(at + round, plan.blobs.length), plan.blobs.length);
    }
  }

  /** Digests among `digests` whose blob data exists now. */
  private async existing(digests: number[]): Promise<Set<number>> {
    const { d, table } = this;
    const out = new Set<number>();
    if (d.prefersFlatListing && digests.length > BATCH) {
      const now = new BlobTable(digests.length);
      await scanBlobs(d, now, this.scanOpts);
      for (const i of digests) if (now.set.has(table.set.hex(i))) out.add(i);
      return out;
    }
    await eachLimit(digests, this.opts.concurrency, async (i) => {
      if (await statBlob(d, table.set.digest(i))) out.add(i);
    });
    return out;
  }

  async layerLinks(plan: GcPlan): Promise<void> {
    const { d, table } = this;
    const flags = table.flags.data;
    const gone = (b: number): boolean => (flags[b]! & DELETED) !== 0 || (flags[b]! & (LISTED | DELETE)) === 0;
    const work = plan.repos.filter((rp) => !rp.remove && rp.layerLinks.some(gone));
    const exists = await this.existing([...new Set(work.flatMap((rp) => rp.layerLinks.filter(gone)))]);
    await eachLimit(work, this.opts.concurrency, async (rp) => {
      const name = rp.repo.name;
      // The link's age as it is now: a push may have linked the blob again since the scan.
      const times = new Map<number, number>();
      let total = 0;
      if (d.prefersFlatListing) {
        for await (const f of d.walk(layersDir(name))) {
          const e = parseStorePath(f.path);
          if (e.kind !== 'layer-link' || e.repo !== name) continue;
          total++;
          times.set(table.set.indexOf(e.digest), f.modTime.getTime());
        }
      } else {
        total = (await listOrEmpty(d, layersDir(name))).length;
        for (const b of rp.layerLinks) {
          const t = await fileTime(d, layerLinkPath(name, table.set.digest(b)));
          if (t !== undefined) times.set(b, t);
        }
      }
      let links = rp.layerLinks.filter((b) => gone(b) && !exists.has(b) && times.has(b) && !isYoung(times.get(b)!, this.opts));
      if (links.length > 0 && links.length >= total) links = links.slice(0, -1); // a repository keeps its last link
      await this.remove(links.map((b) => ({ dir: dirname(layerLinkPath(name, table.set.digest(b))), file: layerLinkPath(name, table.set.digest(b)) })));
      if (links.length > 0) this.result.layerLinks.push({ repo: name, digests: links });
    });
  }

  async uploads(plan: GcPlan): Promise<void> {
    await eachLimit(
      plan.repos.filter((rp) => rp.uploads.length > 0),
      this.opts.concurrency,
      async (rp) => {
        const now = new Map((await uploadAges(this.d, rp.repo.name, 1)).map((u) => [u.id, u.startedAt]));
        for (const u of rp.uploads) {
          if (!now.has(u.id) || isYoung(now.get(u.id)!, this.staleAge)) continue;
          if (await deleteIfThere(this.d, u.path, this.opts.onLeft)) this.result.uploads.push({ repo: rp.repo.name, upload: u });
        }
      },
    );
    const abort = this.opts.abortMultipart;
    if (abort) {
      await eachLimit(plan.multipart, this.opts.concurrency, async (u) => {
        await abort(u);
        this.result.multipart.push(u);
      });
    }
  }

  /**
   * Leftovers of killed writes (a filesystem store's root). Re-checked: still there, still as old
   * (a write in progress renames its staging away or touches it, and is then younger).
   */
  async writeDebris(plan: GcPlan): Promise<void> {
    await eachLimit(plan.writeDebris, this.opts.concurrency, async (x) => {
      let info;
      try {
        info = await orIfNotFound(() => this.d.stat(x.path), undefined);
      } catch (err) {
        if (!(err instanceof UnsafePathError)) throw err;
        return this.opts.onLeft?.(x.path, unsafeWhy(err));
      }
      if (!info || isYoung(info.modTime.getTime(), this.staleAge)) return;
      if (await deleteIfThere(this.d, x.path, this.opts.onLeft)) this.result.writeDebris.push(x);
    });
  }

  /** Uploads and leftovers younger than this are kept. */
  private get staleAge(): { now: number; minAgeMs: number } {
    return { now: this.opts.now, minAgeMs: this.opts.uploadsOlderThanMs };
  }

  private async stillEmpty(name: string): Promise<boolean> {
    const fresh: RepoScan = await scanRepository(this.d, this.table, name, this.scanOpts);
    if (fresh.revisions.length > 0) return false;
    if (fresh.uploads.some((u) => isYoung(u.startedAt, this.staleAge))) return false;
    const newest = Number.isNaN(fresh.newest) ? await newestFile(this.d, name) : fresh.newest;
    return !isYoung(newest, this.opts) || Number.isNaN(newest);
  }

  async repositories(plan: GcPlan): Promise<void> {
    await eachLimit(
      plan.repos.filter((rp) => rp.remove),
      this.opts.concurrency,
      async (rp) => {
        const name = rp.repo.name;
        if (!(await this.stillEmpty(name))) return;
        // `_layers` last: registry 2.8 stops seeing the repository when it goes.
        for (const dir of [uploadsDir(name), manifestsDir(name), dirname(layersDir(name))]) {
          if (!(await deleteIfThere(this.d, dir, this.opts.onLeft))) return;
        }
        this.result.repositories.push(name);
      },
    );
  }
}

/** Carries out `plan` (from planGc on the same table and graph) and reports what it deleted. */
export async function sweep(d: StorageDriver, table: BlobTable, graph: ManifestGraph, plan: GcPlan, opts: SweepOptions): Promise<SweepResult> {
  const s = new Sweeper(d, table, graph, opts);
  const withRevisions = plan.repos.filter((rp) => rp.revisions.length > 0 || rp.tags.length > 0);
  let done = 0;
  await eachLimit(withRevisions, opts.concurrency, async (rp) => {
    await s.revisions(rp);
    opts.onProgress?.('manifests', ++done, withRevisions.length);
  });
  await s.blobs(plan);
  opts.onProgress?.('links', 0, 0);
  await s.layerLinks(plan);
  opts.onProgress?.('uploads', 0, 0);
  await s.uploads(plan);
  await s.writeDebris(plan);
  opts.onProgress?.('repositories', 0, 0);
  await s.repositories(plan);
  return s.result;
}
