// `delete`: one planner for the dry run and the real run, then the I/O that carries the plan out.
// Semantics are the registry's: deleting a tag removes its whole directory (history included);
// deleting a manifest by digest removes its revision link, then every tag of the repository whose
// current link names it. Blobs, layer links and other tags' history entries stay until gc.
// One rule the registry lacks: a manifest that an index kept in the same repository references
// is not deleted unless forced (the index would break: pulls of it fail).
import type { StorageDriver } from '../drivers/driver.js';
import { NotFoundError, RefusedError } from '../errors.js';
import { tagNotFound } from './suggest.js';
import type { Digest } from '../image/digest.js';
import { eachLimit } from '../util/each-limit.js';
import { MalformedLinkError, readLink } from './links.js';
import { revisionLinkPath, tagCurrentLinkPath } from './paths.js';
import { ManifestReader } from './summary.js';
import { listRepoTags } from './listing.js';
import { untag } from './tags.js';
import { listRevisions } from './walk.js';
import { compareStrings } from '../util/compare.js';

export type DeleteTarget = { repo: string; tag: string } | { repo: string; digest: Digest };

export interface IndexReference {
  /** The index that references the manifest. */
  digest: Digest;
  /** Tags pointing at that index. */
  tags: string[];
}

export interface ManifestRemoval {
  repo: string;
  digest: Digest;
  mediaType: string | null;
  /** Tags whose current link names this manifest: untagged with it. */
  untag: string[];
  /** Indexes kept in the repository that reference this manifest (deleting it breaks them). */
  referencedBy: IndexReference[];
}

export interface TagRemoval {
  repo: string;
  tag: string;
  /** What the tag pointed at; null for a tag directory without a current link. */
  digest: Digest | null;
  /** `tag`: asked for; `manifest`: the manifest it points at is deleted. */
  reason: 'tag' | 'manifest';
}

export interface DeletePlan {
  manifests: ManifestRemoval[];
  tags: TagRemoval[];
}

async function currentOf(d: StorageDriver, repo: string, tag: string): Promise<Digest | undefined> {
  try {
    return await readLink(d, tagCurrentLinkPath(repo, tag));
  } catch (err) {
    if (err instanceof MalformedLinkError) return undefined; // names nothing; the registry skips it too
    throw err;
  }
}

/** Indexes among the repository's revisions (not being deleted) that reference a doomed manifest. */
async function findReferences(d: StorageDriver, repo: string, doomed: Set<Digest>, currents: Map<string, Digest | undefined>, concurrency: number): Promise<Map<Digest, IndexReference[]>> {
  const reader = new ManifestReader(d, concurrency);
  const out = new Map<Digest, IndexReference[]>();
  const revisions = (await listRevisions(d, repo)).filter((r) => !doomed.has(r));
  await eachLimit(revisions, concurrency, async (rev) => {
    let children: Digest[];
    try {
      children = (await reader.read(rev)).manifest.manifests.map((c) => c.digest);
    } catch {
      return; // unreadable revisions are verify's business; they reference nothing we can see
    }
    for (const c of children) {
      if (!doomed.has(c)) continue;
      const tags = [...currents].filter(([, g]) => g === rev).map(([t]) => t);
      const list = out.get(c) ?? [];
      if (!list.some((x) => x.digest === rev)) list.push({ digest: rev, tags });
      out.set(c, list);
    }
  });
  for (const list of out.values()) list.sort((a, b) => compareStrings(a.digest, b.digest));
  return out;
}

/**
 * Plans the deletion of tags and manifests. Throws NotFoundError for a tag or manifest that is not
 * in its repository, RefusedError (unless `force`) for a manifest a kept index references.
 */
export async function planDelete(d: StorageDriver, targets: DeleteTarget[], opts: { force: boolean; concurrency: number }): Promise<DeletePlan> {
  const plan: DeletePlan = { manifests: [], tags: [] };
  const repos = [...new Set(targets.map((t) => t.repo))];
  for (const repo of repos) {
    const mine = targets.filter((t) => t.repo === repo);
    // One flat walk on S3 (current links named by their ETags), a read per tag on a filesystem.
    const listed = (await listRepoTags(d, repo, opts.concurrency)).tags;
    const tags = listed.map((t) => t.tag);
    const currents = new Map<string, Digest | undefined>(listed.map((t) => [t.tag, t.digest]));
    const doomed = new Set<Digest>();
    for (const t of mine) {
      if ('digest' in t) {
        if ((await readLink(d, revisionLinkPath(repo, t.digest))) !== t.digest)
          throw new NotFoundError(`manifest ${repo}@${t.digest} does not exist: nothing to delete (regbucket ls ${repo} lists its tags)`);
        doomed.add(t.digest);
      } else if (!currents.has(t.tag)) {
        const e = await tagNotFound(d, repo, t.tag);
        throw new NotFoundError(`${e.message.replace(/ \(regbucket ls .*\)$/, '')}: nothing to delete`);
      }
    }
    const refs = doomed.size > 0 ? await findReferences(d, repo, doomed, currents, opts.concurrency) : new Map<Digest, IndexReference[]>();
    const reader = new ManifestReader(d, opts.concurrency);
    const removedTags = new Set<string>();
    for (const digest of doomed) {
      const untagged = tags.filter((t) => currents.get(t) === digest);
      const mediaType = await reader.read(digest).then(
        (r) => r.manifest.mediaType,
        () => null,
      );
      plan.manifests.push({ repo, digest, mediaType, untag: untagged, referencedBy: refs.get(digest) ?? [] });
      for (const tag of untagged) {
        removedTags.add(tag);
        plan.tags.push({ repo, tag, digest, reason: 'manifest' });
      }
    }
    for (const t of mine) {
      if ('tag' in t && !removedTags.has(t.tag)) {
        removedTags.add(t.tag);
        plan.tags.push({ repo, tag: t.tag, digest: currents.get(t.tag) ?? null, reason: 'tag' });
      }
    }
  }
  const blocked = plan.manifests.filter((m) => m.referencedBy.length > 0);
  if (blocked.length > 0 && !opts.force) {
    const m = blocked[0]!;
    const by = m.referencedBy.map((r) => `${r.digest}${r.tags.length ? ` (tag ${r.tags.join(', ')})` : ' (untagged)'}`).join(', ');
    const more = blocked.length > 1 ? ` (and ${blocked.length - 1} more manifest${blocked.length > 2 ? 's' : ''})` : '';
    throw new RefusedError(`refusing to delete ${m.repo}@${m.digest}${more}: index ${by} in ${m.repo} references it and would break; delete the index too, or pass --force`);
  }
  return plan;
}

/**
 * Carries a plan out: per manifest its revision link, then its tags (each re-read first: a tag
 * moved elsewhere since planning is left alone), then the tags asked for.
 */
export async function executeDelete(d: StorageDriver, plan: DeletePlan): Promise<void> {
  for (const m of plan.manifests) {
    // The link file only (2.8 leaves the empty directory); one DeleteObjects on S3.
    await d.deleteFiles([revisionLinkPath(m.repo, m.digest)]);
    for (const tag of m.untag) {
      if ((await currentOf(d, m.repo, tag)) === m.digest) await untagIfPresent(d, m.repo, tag);
    }
  }
  for (const t of plan.tags) if (t.reason === 'tag') await untagIfPresent(d, t.repo, t.tag);
}

async function untagIfPresent(d: StorageDriver, repo: string, tag: string): Promise<void> {
  try {
    await untag(d, repo, tag);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
}
