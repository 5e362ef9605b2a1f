import { readSourceFile } from '../image/local-files.js';
import pLimit from 'p-limit';
import { parse as parseYaml } from 'yaml';
import type { Context } from '../cli/context.js';
import { formatBytes } from '../cli/output.js';
import { ExitCode, InvalidInputError, NotFoundError } from '../errors.js';
import { parseStoreRef, type StoreRef } from '../image/reference.js';
import { redact } from '../image/registry-auth.js';
import type { ImageSource, PushTarget } from '../image/transfer.js';
import { openSource, SOURCE_TRANSPORTS } from '../image/transports.js';
import type { DockerSinkOptions } from '../image/registry-sink.js';
import { StoreSource } from '../store/source-sink.js';
import { preparePush, storeTarget, type PreparedPush } from '../store/import.js';
import { RegistryTarget, parseRegistryDest, type RegistryDest } from '../image/registry-target.js';
import { destOptions, sourceOptions, type DestFlags, type SourceFlags } from './source-options.js';
import { checkKeys, expandEntries, wholeEntry, type WholeEntry } from './sync-repos.js';

/** One line of the list: where from, where to, which platforms. */
export interface SyncEntry {
  source: string;
  /** In the store; or, for a `docker://` destination, the one repository (and tag) there, if it names one. */
  destination?: StoreRef;
  /** A live registry (docker://). */
  registry?: RegistryDest;
  platforms?: string[];
  /** For messages: `file:line` or `images[i]`. */
  where: string;
}

interface SyncOptions extends SourceFlags, DestFlags {
  destChunkSize?: number;
  /** The old --jobs (hidden): images at once; else half of --concurrency. */
  jobs?: number;
  referrers: boolean;
  repair?: boolean;
}

export interface SyncResult {
  source: string;
  destination: string;
  status: 'copied' | 'unchanged' | 'failed';
  digest?: string;
  bytesMoved: number;
  blobsMoved: number;
  error?: string;
}

function checkPlatforms(platforms: unknown, where: string): string[] | undefined {
  if (platforms !== undefined && (!Array.isArray(platforms) || !platforms.every((p) => typeof p === 'string' && /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(p)))) {
    throw new InvalidInputError(`${where}: platforms is a list of os/arch[/variant]`);
  }
  return platforms as string[] | undefined;
}

function entry(source: unknown, destination: unknown, platforms: unknown, where: string): SyncEntry {
  if (typeof source !== 'string' || !source) throw new InvalidInputError(`${where}: no source (docker://..., oci:...)`);
  if (typeof destination !== 'string' || !destination) throw new InvalidInputError(`${where}: no destination (repo[:tag] in the store, or docker://host/repo[:tag])`);
  const plats = { platforms: checkPlatforms(platforms, where) };
  let dest: StoreRef;
  try {
    if (destination.startsWith('docker://')) {
      const registry = parseRegistryDest(destination);
      if (storeSource(source, registry)) parseStoreRef(source);
      return { ...plats, source, registry, destination: registry.repo ? { repo: registry.repo, tag: registry.tag } : undefined, where };
    }
    dest = parseStoreRef(destination);
  } catch (err) {
    throw new InvalidInputError(`${where}: ${(err as Error).message}`);
  }
  if (dest.digest) throw new InvalidInputError(`${where}: destination ${destination} names a digest: give repo[:tag]`);
  return { ...plats, source, destination: dest, where };
}

const ENTRY_KEYS = ['source', 'destination', 'platforms', 'tags', 'repos'];

/** A YAML entry: one image, or with `tags`/`repos` a whole repository or catalog. */
function yamlEntry(e: unknown, where: string): SyncEntry | WholeEntry {
  const o = checkKeys(e, ENTRY_KEYS, where, 'an entry');
  if (o.tags !== undefined || o.repos !== undefined) return wholeEntry(o, checkPlatforms(o.platforms, where), where);
  return entry(o.source, o.destination, o.platforms, where);
}

/**
 * The list: YAML (`images: [{source, destination, platforms?, tags?, repos?}]`), or lines `source
 * destination` with `#` comments. Every entry is checked before anything is copied.
 */
export function parseSyncFile(text: string, file: string): (SyncEntry | WholeEntry)[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    doc = undefined;
  }
  if (doc && typeof doc === 'object' && !Array.isArray(doc) && 'images' in doc) {
    const images = doc.images;
    if (!Array.isArray(images)) throw new InvalidInputError(`${file}: images is not a list`);
    return images.map((e: unknown, i) => yamlEntry(e, `${file}: images[${i}]`));
  }
  const out: SyncEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) return;
    const parts = line.split(/\s+/);
    if (parts.length !== 2) throw new InvalidInputError(`${file}:${i + 1}: expected "source destination[:tag]", got ${parts.length} words`);
    out.push(entry(parts[0], parts[1], undefined, `${file}:${i + 1}`));
  });
  if (out.length === 0) throw new InvalidInputError(`${file} lists no images`);
  return out;
}

/** A list entry that cannot be copied as written: exit 2, naming where it is. */
class BadEntry extends InvalidInputError {
  constructor(
    readonly where: string,
    detail: string,
  ) {
    super(`${where}: ${detail}`);
  }
}

function oneLine(err: unknown): string {
  return redact((err as Error)?.message ?? String(err)).replace(/\s*\n\s*/g, ' ');
}

function destString(e: SyncEntry): string {
  const d = e.destination;
  const inStore = d ? (d.tag ? `${d.repo}:${d.tag}` : d.repo) : '';
  if (!e.registry) return inStore;
  return `docker://${e.registry.host}/${e.registry.prefix ? `${e.registry.prefix}/` : inStore}`;
}

/** Into a live registry, a source without a transport is an image of the store (`repo[:tag|@digest]`). */
function storeSource(source: string, registry: RegistryDest | undefined): boolean {
  return registry !== undefined && !source.startsWith('docker://') && !SOURCE_TRANSPORTS.some((t) => source.startsWith(`${t}:`));
}

function fromStore(e: SyncEntry): boolean {
  return storeSource(e.source, e.registry);
}

function registryTarget(e: SyncEntry, opts: DockerSinkOptions): RegistryTarget {
  const t = new RegistryTarget(e.registry!, opts);
  // A registry seeded from this store may hold the blobs under the store's repository name.
  if (fromStore(e)) t.mountFrom = parseStoreRef(e.source).repo;
  return t;
}

/** A sync list is a few thousand lines at most: 16 MiB is far past any real one. */
const MAX_SYNC_LIST_BYTES = 16 * 1024 * 1024;

export async function run(ctx: Context, file: string, opts: SyncOptions): Promise<number> {
  const text = (await readSourceFile(file, 'the sync list', MAX_SYNC_LIST_BYTES)).toString('utf8');
  const parsed = parseSyncFile(text, file);
  // Sources on one registry share a client: its connection pool serves every job at once.
  const jobs = opts.jobs ?? Math.max(1, Math.ceil(ctx.globals.concurrency / 2));
  const srcOpts = { ...sourceOptions(ctx, opts), concurrency: ctx.globals.concurrency * jobs };
  const limit = pLimit(jobs);
  const whole = parsed.filter((e): e is WholeEntry => 'tags' in e);
  const prog = ctx.output.progress(whole.length ? `listing the tags of ${whole.length} entries...` : `checking ${parsed.length} sources...`);
  // Whole repositories and catalogs become one entry per tag, in the list's order.
  const expansion = await expandEntries(whole, srcOpts, jobs);
  const entries: SyncEntry[] = parsed.flatMap((e): SyncEntry[] => ('tags' in e ? expansion.images.get(e)! : [e]));
  prog.update(`checking ${entries.length} sources...`);
  // Entries into live registries need no store: it is opened only for entries that write into it.
  const d = entries.some((e) => !e.registry || fromStore(e)) ? await ctx.store() : undefined;
  const store = d && storeTarget(d, opts.repair);
  const sinkOpts = { ...destOptions(ctx, opts), chunkSize: opts.destChunkSize };
  const targets: PushTarget[] = entries.map((e) => (e.registry ? registryTarget(e, sinkOpts) : store!));
  let done = 0;
  // First every source is opened, resolved and checked (manifests read, blobs asked about), and
  // every destination named; only then is anything written. A source that does not exist or is
  // not whole is a bad line: exit 2 naming it, nothing copied. A source that cannot be reached
  // just now fails its own entry only.
  const checked = await Promise.all(
    entries.map((e, i) =>
      limit(async (): Promise<{ prepared?: PreparedPush; source?: ImageSource; error?: unknown }> => {
        let source: ImageSource | undefined;
        try {
          source = fromStore(e) ? new StoreSource(d!, parseStoreRef(e.source)) : openSource(e.source, srcOpts);
          const prepared = await preparePush(targets[i]!, source, e.source, e.destination, {
            concurrency: ctx.globals.concurrency,
            platforms: e.platforms,
            referrers: opts.referrers,
            repair: opts.repair,
          });
          return { prepared, source };
        } catch (err) {
          await source?.close?.().catch(() => {});
          if (err instanceof InvalidInputError || err instanceof NotFoundError || (err as { exitCode?: number }).exitCode === ExitCode.usage) {
            return { error: new BadEntry(e.where, `${redact(e.source)}: ${oneLine(err)}`) };
          }
          return { error: err };
        } finally {
          prog.update(`checking sources: ${++done}/${entries.length}`);
        }
      }),
    ),
  );
  const closeAll = () => Promise.all(checked.map((c) => c.source?.close?.().catch(() => {}) ?? Promise.resolve()));
  const closeTargets = () => Promise.all(targets.map((t) => (t instanceof RegistryTarget ? t.close() : Promise.resolve())));
  const bad = checked.map((c) => c.error).filter((err): err is BadEntry => err instanceof BadEntry);
  // One tag, two images: refused before anything is written (the same image twice is harmless).
  const named = new Map<string, { where: string; digest: string }>();
  for (const [i, c] of checked.entries()) {
    for (const dest of c.prepared?.destinations ?? []) {
      const prior = named.get(dest.name);
      if (prior !== undefined && prior.digest !== dest.digest) {
        bad.push(new BadEntry(entries[i]!.where, `destination ${dest.name} is also the destination of ${prior.where}: give each image its own`));
      } else named.set(dest.name, { where: entries[i]!.where, digest: dest.digest });
    }
  }
  if (bad.length > 0) {
    prog.done();
    await closeAll();
    await closeTargets();
    // The first in full; the others by where they are (each is one line when fixed and rerun).
    throw bad.length === 1
      ? bad[0]!
      : new InvalidInputError(
          `${bad[0]!.message} (and ${bad.length - 1} more bad: ${bad
            .slice(1)
            .map((b) => b.where)
            .join(', ')})`,
        );
  }
  done = 0;
  prog.update(`syncing ${entries.length} images...`);
  const results = await Promise.all(
    entries.map((e, i) =>
      limit(async (): Promise<SyncResult> => {
        const base = { source: e.source, destination: destString(e) };
        const { prepared, source, error } = checked[i]!;
        try {
          if (!prepared) throw error;
          try {
            const r = await prepared.run();
            const changed = r.stats.blobsUploaded > 0 || r.stats.manifestsWritten > 0 || r.tagWrites > 0;
            return {
              ...base,
              destination: r.pushed.map((p) => targets[i]!.name(p.repo, p.tag)).join(', '),
              status: changed ? 'copied' : 'unchanged',
              digest: r.pushed[0]?.digest,
              bytesMoved: r.stats.bytesUploaded,
              blobsMoved: r.stats.blobsUploaded,
            };
          } finally {
            await source?.close?.();
          }
        } catch (err) {
          return { ...base, status: 'failed', bytesMoved: 0, blobsMoved: 0, error: redact((err as Error).message ?? String(err)).replace(/\s*\n\s*/g, ' ') };
        } finally {
          prog.update(`syncing: ${++done}/${entries.length} images`);
        }
      }),
    ),
  );
  prog.done();
  results.push(...expansion.failed.map((f): SyncResult => ({ ...f, status: 'failed', bytesMoved: 0, blobsMoved: 0 })));
  await closeTargets();
  const failed = results.filter((r) => r.status === 'failed');
  const summary = {
    images: results.length,
    copied: results.filter((r) => r.status === 'copied').length,
    unchanged: results.filter((r) => r.status === 'unchanged').length,
    failed: failed.length,
    bytesMoved: results.reduce((n, r) => n + r.bytesMoved, 0),
  };
  ctx.output.references(results.flatMap((r) => (r.status !== 'failed' && r.digest ? [`${r.destination}@${r.digest}`] : [])));
  ctx.output.result({ images: results, summary }, () =>
    [
      ctx.output.table(
        ['IMAGE', 'DESTINATION', 'STATUS', 'MOVED'],
        results.map((r) => [r.source, r.destination, r.status, formatBytes(r.bytesMoved)]),
      ),
      `${summary.copied} copied, ${summary.unchanged} unchanged, ${summary.failed} failed; ${formatBytes(summary.bytesMoved)} moved`,
    ].join('\n'),
  );
  for (const f of failed) ctx.output.error(`${f.source}: ${f.error}`);
  return failed.length > 0 ? 1 : 0;
}
