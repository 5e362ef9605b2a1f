// An image source into the store: push's core; copy and sync call it too.
import type { StorageDriver } from '../drivers/driver.js';
import { InvalidReferenceError, UsageError } from '../errors.js';
import { ImageCopier, sumStats, type CopyPlan, type CopyProgress, type CopyStats } from '../image/image-copier.js';
import { isTag, parseStoreRef, type StoreRef } from '../image/reference.js';
import type { ImageSink, ImageSource, PushTarget, SourceImage } from '../image/transfer.js';
import { StoreSink } from './source-sink.js';

export interface PushedImage {
  repo: string;
  tag: string;
  digest: string;
  mediaType: string;
}

/** The tag part of an image's name: the name itself, or the tag of a `repo:tag` name (docker-archive RepoTags). */
function tagOfName(name: string): string | undefined {
  if (isTag(name)) return name;
  try {
    return parseStoreRef(name.replace(/^docker\.io\//, '')).tag;
  } catch {
    return undefined;
  }
}

type PlannedTag = { image: SourceImage; repo: string; tag: string };

/** Each image at the `repo:tag` it is named by (an air-gap bundle). */
function ownNames(images: SourceImage[], source: string): PlannedTag[] {
  return images.map((image) => {
    const name = image.name?.replace(/^docker\.io\//, '');
    let ref;
    try {
      ref = name ? parseStoreRef(name) : undefined;
    } catch {
      ref = undefined;
    }
    if (!ref?.tag || ref.digest) {
      throw new UsageError(
        `image ${image.descriptor.digest} in ${source} is named ${JSON.stringify(image.name ?? '')}, not <repo>:<tag>: give a destination, as in regbucket push ${source} <repo>[:<tag>]`,
      );
    }
    return { image, repo: ref.repo, tag: ref.tag };
  });
}

/** Two images of one source never go to one tag: refused naming both, before anything is written. */
function unique(out: PlannedTag[], source: string): PlannedTag[] {
  const seen = new Map<string, string>();
  for (const o of out) {
    const name = `${o.repo}:${o.tag}`;
    const prior = seen.get(name);
    if (prior !== undefined && prior !== o.image.descriptor.digest) {
      throw new UsageError(`two images in ${source} would both become ${name} (${prior} and ${o.image.descriptor.digest}): push them one by one (${source}:<ref>) to tags of your choice`);
    }
    seen.set(name, o.image.descriptor.digest);
  }
  return out;
}

/**
 * Where each source image goes: the destination's tag; else each image's own name (a tag, or
 * the tag of a `repo:tag` name); with no destination at all, the repository and tag of each
 * image's `repo:tag` name (an air-gap bundle pulled from several repositories).
 */
export function planTags(images: SourceImage[], repo: string | undefined, tag: string | undefined, source: string): PlannedTag[] {
  if (repo === undefined) return unique(ownNames(images, source), source);
  if (tag !== undefined) {
    if (new Set(images.map((i) => i.descriptor.digest)).size > 1) {
      const names = images.map((i) => i.name ?? i.descriptor.digest).join(', ');
      throw new UsageError(`${source} holds ${images.length} images (${names}): name one (${source}:<ref>) or push to ${repo} without a tag to push them all under their own names`);
    }
    return [{ image: images[0]!, repo, tag }];
  }
  const out = images.map((image) => {
    const name = images.length === 1 && !image.name ? 'latest' : image.name;
    const t = name ? tagOfName(name) : undefined;
    if (!t) {
      throw new InvalidReferenceError(
        `image ${image.descriptor.digest} in ${source} is named ${JSON.stringify(name ?? '')}, which is not a valid tag: give one, as in regbucket push ${source} ${repo}:<tag>`,
      );
    }
    return { image, repo, tag: t };
  });
  const seen = new Map<string, string>();
  for (const o of out) {
    const prior = seen.get(o.tag);
    if (prior !== undefined && prior !== o.image.descriptor.digest) {
      throw new UsageError(
        `two images in ${source} would both become ${repo}:${o.tag}: push them one by one (${source}:<ref>) to tags of your choice, or without a destination to their own repositories`,
      );
    }
    seen.set(o.tag, o.image.descriptor.digest);
  }
  return out;
}

/**
 * A registry without the referrers API lists referrers in a `sha256-<hex>` tag; the store gets
 * that tag too, so a registry serving it (2.8 has no referrers API either) shows them to clients.
 */
export async function copyFallbackTags(source: ImageSource, sink: ImageSink, main: ImageCopier, wanted?: (tag: string) => boolean): Promise<number> {
  let writes = 0;
  for (const [tag, desc] of source.fallbackTags ?? []) {
    wanted ??= (await sink.fallbackTagFilter?.()) ?? (() => true);
    if (!wanted(tag)) continue;
    const copier = new ImageCopier(source, sink, { concurrency: 1, referrers: false });
    await copier.copy(desc);
    main.stats.manifestsWritten += copier.stats.manifestsWritten;
    writes += await sink.tag(tag, desc);
  }
  return writes;
}

export interface PushInto {
  platforms?: string[];
  referrers: boolean;
  concurrency: number;
  progress?: CopyProgress;
  /** Re-hash what the store has of the image and replace corrupt copies (push --repair). */
  repair?: boolean;
}

export interface PushIntoResult {
  pushed: PushedImage[];
  stats: CopyStats;
  /** Tag files written: 0 when every tag already pointed where it does now. */
  tagWrites: number;
}

/** A push whose sources were all read and checked: `run` writes. */
export interface PreparedPush {
  /** Where each image goes (the target's name for `repo:tag`) and which image it is, known before anything is written. */
  readonly destinations: { name: string; digest: string }[];
  run(): Promise<PushIntoResult>;
}

/** Copies what `source` offers into the store at `dest` (or each image's own name): push's core, sync's too. */
export async function pushInto(d: StorageDriver, source: ImageSource, sourceRef: string, dest: StoreRef | undefined, opts: PushInto): Promise<PushIntoResult> {
  return (await preparePush(storeTarget(d, opts.repair), source, sourceRef, dest, opts)).run();
}

/** The store's repositories as a push target. */
export function storeTarget(d: StorageDriver, repair?: boolean): PushTarget {
  return { sink: (repo) => new StoreSink(d, repo, { repair }), name: (repo, tag) => `${repo}:${tag}` };
}

/**
 * Everything a push decides before its first write: the images and their destinations, every
 * manifest fetched and checked, every blob asked about (present, with its size) where the source
 * can tell. A source that is not whole fails here with nothing written.
 */
export async function preparePush(target: PushTarget, source: ImageSource, sourceRef: string, dest: StoreRef | undefined, opts: PushInto): Promise<PreparedPush> {
  const plan = planTags(await source.images(), dest?.repo, dest?.tag, sourceRef);
  const sinks = new Map<string, ImageSink>();
  const sinkFor = (repo: string): ImageSink => {
    if (!sinks.has(repo)) sinks.set(repo, target.sink(repo));
    return sinks.get(repo)!;
  };
  const copiers = new Map<string, ImageCopier>();
  const copierFor = (repo: string): ImageCopier => {
    if (!copiers.has(repo)) {
      copiers.set(repo, new ImageCopier(source, sinkFor(repo), { concurrency: opts.concurrency, platforms: opts.platforms, referrers: opts.referrers, progress: opts.progress }));
    }
    return copiers.get(repo)!;
  };
  const planned: { repo: string; tag: string; copy: CopyPlan }[] = [];
  for (const { image, repo, tag } of plan) planned.push({ repo, tag, copy: await copierFor(repo).plan([image.descriptor]) });
  return {
    destinations: planned.map((p) => ({ name: target.name(p.repo, p.tag), digest: p.copy.roots[0]!.digest })),
    run: async () => {
      const pushed: PushedImage[] = [];
      let tagWrites = 0;
      for (const { repo, tag, copy } of planned) {
        await copierFor(repo).execute(copy);
        const desc = copy.roots[0]!;
        tagWrites += await sinkFor(repo).tag(tag, desc);
        pushed.push({ repo, tag, digest: desc.digest, mediaType: desc.mediaType });
      }
      if (opts.referrers && plan.length) tagWrites += await copyFallbackTags(source, sinkFor(plan[0]!.repo), copierFor(plan[0]!.repo));
      for (const sink of sinks.values()) await sink.commit?.();
      return { pushed, stats: sumStats([...copiers.values()].map((c) => c.stats)), tagWrites };
    },
  };
}
