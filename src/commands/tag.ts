import type { Context } from '../cli/context.js';
import { UsageError } from '../errors.js';
import type { Digest } from '../image/digest.js';
import { parseStoreRef, parseTag } from '../image/reference.js';
import { readLink } from '../store/links.js';
import { parseManifest } from '../image/manifest.js';
import { checkReferences, getManifest } from '../store/manifests.js';
import { tagCurrentLinkPath } from '../store/paths.js';
import { resolveStoreRef } from '../store/source-sink.js';
import { tagManifest } from '../store/tags.js';

export interface TagResult {
  repo: string;
  tag: string;
  digest: Digest;
  /** What the tag pointed at before; null for a new tag. */
  previous: Digest | null;
  /** False when the tag already pointed here (nothing written). */
  changed: boolean;
}

export async function run(ctx: Context, sourceRef: string, tags: string[]): Promise<number> {
  // Everything is checked before the store is opened: a bad argument writes nothing.
  const src = parseStoreRef(sourceRef);
  if (!src.tag && !src.digest) throw new UsageError(`source ${sourceRef} names no manifest: give ${src.repo}:<tag> or ${src.repo}@<digest>`);
  const names = tags.map(parseTag);
  const d = await ctx.registryStore();
  const digest = await resolveStoreRef(d, src);
  // The registry's PUT by tag validates the manifest again: a blob or child manifest gone from the
  // repository (a child deleted with --force) makes it refuse, and so does this.
  const manifest = parseManifest(await getManifest(d, src.repo, digest), `manifest ${src.repo}@${digest}`);
  await checkReferences(d, src.repo, digest, manifest);
  const results: TagResult[] = [];
  for (const t of [...new Set(names)]) {
    const previous = (await readLink(d, tagCurrentLinkPath(src.repo, t)).catch(() => undefined)) ?? null;
    const writes = await tagManifest(d, src.repo, t, digest);
    results.push({ repo: src.repo, tag: t, digest, previous, changed: writes > 0 });
  }
  ctx.output.references(results.map((r) => `${r.repo}:${r.tag}@${r.digest}`));
  ctx.output.result({ tagged: results }, () =>
    results.map((r) => `${r.repo}:${r.tag} -> ${r.digest}${r.previous && r.previous !== r.digest ? ` (was ${r.previous})` : ''}${r.changed ? '' : ' (unchanged)'}`).join('\n'),
  );
  return 0;
}
