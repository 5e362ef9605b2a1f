// Writes docs/schemas/<document>.schema.json (JSON Schema draft 2020-12), one per --json document
// (docs/json.md), from the compact definitions below: `npm run schemas`. test/cli/schemas.test.ts
// checks the files match this script, and validates real outputs against them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
const dir = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'schemas');
mkdirSync(dir, { recursive: true });
const int = { type: 'integer', minimum: 0 };
const num = { type: 'number' };
const str = { type: 'string' };
const bool = { type: 'boolean' };
const nul = (s) => ({ anyOf: [s, { type: 'null' }] });
const digest = { $ref: '#/$defs/digest' };
const time = { $ref: '#/$defs/time' };
const arr = (items) => ({ type: 'array', items });
/** An object whose `props` are required and `opt` optional; other fields may appear (readers ignore them). */
const obj = (props, opt = {}) => ({ type: 'object', required: Object.keys(props), properties: { ...props, ...opt } });
const defs = {
  digest: { type: 'string', pattern: '^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$', description: 'A content digest, algorithm:encoded (sha256:<64 hex>).' },
  time: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(?:\\.\\d+)?Z$', description: 'ISO 8601 UTC time.' },
  stats: obj({ blobsUploaded: int, blobsReplaced: int, blobsSkipped: int, bytesUploaded: int, manifestsWritten: int, manifests: int }),
  brief: obj({ mediaType: str, digest, size: int }, { platform: str, artifactType: str, annotations: { type: 'object', additionalProperties: str } }),
};
const usedDefs = (s) => {
  const d = {};
  let n = -1;
  while (n !== Object.keys(d).length) {
    n = Object.keys(d).length;
    const j = JSON.stringify([s, d]);
    for (const k of Object.keys(defs)) if (j.includes(`#/$defs/${k}`)) d[k] = defs[k];
  }
  return d;
};
function doc(name, title, description, body) {
  const s = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: `https://regbucket.dev/schemas/${name}.schema.json`,
    title,
    description,
    ...body,
  };
  if (s.type === 'object') {
    s.required = ['schemaVersion', ...(s.required ?? [])];
    s.properties = { schemaVersion: { const: 1 }, ...s.properties };
  }
  const d = usedDefs(s);
  if (Object.keys(d).length) s.$defs = d;
  writeFileSync(`${dir}/${name}.schema.json`, JSON.stringify(s, null, 2) + '\n');
}
const stats = { $ref: '#/$defs/stats' };
const brief = { $ref: '#/$defs/brief' };
doc(
  'error',
  'regbucket --json error',
  'What any command writes on stdout when it fails with --json (the one-line message also goes to stderr).',
  obj({ error: obj({ message: str, exitCode: { type: 'integer', minimum: 1 }, kind: { type: 'string', pattern: '^[a-z0-9]+(?:-[a-z0-9]+)*$' } }) }),
);
const tagStatus = { enum: ['copied', 'unchanged', 'failed'] };
doc(
  'push',
  'regbucket push --json',
  'The images written into the store and what moved. With --all-tags from docker://, or a catalog (docker://host --include-repo): also the source, the tags that failed, a summary, and each image its status and source reference; a catalog adds what each repository listed. Into a docker:// destination: the destination as given, each image its repository there, and blobsMounted.',
  obj(
    { images: arr(obj({ repo: str, tag: str, digest, mediaType: str }, { status: tagStatus, source: str, bytesMoved: int, blobsMoved: int })), stats },
    {
      destination: str,
      blobsMounted: int,
      source: str,
      failed: arr(obj({ repo: str, tag: str, error: str }, { status: tagStatus, source: str })),
      summary: obj({ tagsListed: int, tagsSelected: int, copied: int, unchanged: int, failed: int, bytesMoved: int }, { repositoriesListed: int, repositoriesSelected: int, repositoriesFailed: int }),
      repositories: arr(obj({ name: str, destination: str, tagsListed: int, tagsSelected: int }, { error: str })),
    },
  ),
);
doc(
  'pull',
  'regbucket pull --json',
  'The images exported, one entry per image whatever their number (name: the name given in the destination, null when none). blobsMounted: into a docker:// destination, the blobs the registry took by a cross-repository mount (counted in blobsSkipped).',
  obj({ destination: str, images: { ...arr(obj({ source: str, name: nul(str), digest, mediaType: str })), minItems: 1 }, stats }, { blobsMounted: int }),
);
doc(
  'copy',
  'regbucket copy --json',
  'The images copied into another store; with --all-repositories also what each repository got, and with --verify what was re-hashed.',
  obj(
    { to: str, images: arr(obj({ source: str, destination: str, digest })), stats },
    {
      repositories: arr(
        obj(
          { name: str, tagsCopied: int, tagsPresent: int, tagsFailed: int, stats, tags: arr(obj({ tag: str, status: { enum: ['copied', 'present', 'failed'] } }, { digest, error: str })) },
          { error: str },
        ),
      ),
      verified: obj({ blobs: int, bytes: int, bad: arr(obj({ digest }, { found: digest })) }),
    },
  ),
);
doc(
  'sync',
  'regbucket sync --json',
  'One entry per image of the list, in its order (an entry with tags or repos gives one per tag it selects); a failed image carries its error.',
  obj({
    images: arr({
      ...obj({ source: str, destination: str, status: { enum: ['copied', 'unchanged', 'failed'] }, bytesMoved: int, blobsMoved: int }, { digest, error: str }),
      if: { properties: { status: { const: 'failed' } } },
      then: { required: ['error'] },
    }),
    summary: obj({ images: int, copied: int, unchanged: int, failed: int, bytesMoved: int }),
  }),
);
doc(
  'tag',
  'regbucket tag --json',
  'The tags written: previous is the digest the tag named before (null: a new tag).',
  obj({ tagged: arr(obj({ repo: str, tag: str, digest, previous: nul(digest), changed: bool })) }),
);
doc('delete', 'regbucket delete --json', 'The plan (dryRun: true) or what was deleted: by reference, manifests and tags; with --repository, one entry per repository.', {
  type: 'object',
  required: ['dryRun'],
  properties: {
    dryRun: bool,
    manifests: arr(obj({ repo: str, digest, mediaType: nul(str), untag: arr(str), referencedBy: arr(obj({ digest, tags: arr(str) })) })),
    tags: arr(obj({ repo: str, tag: str, digest: nul(digest), reason: { enum: ['tag', 'manifest'] } })),
    repositories: arr(obj({ repository: str, manifests: arr(digest), tags: arr(str) })),
  },
  oneOf: [{ required: ['manifests', 'tags'] }, { required: ['repositories'] }],
});
const tagRow = obj({ tag: str, digest: nul(digest), pushed: nul(time) }, { mediaType: nul(str), platforms: nul(arr(str)), size: nul(int), created: nul(time), problem: str });
doc(
  'ls',
  'regbucket ls --json',
  'Without repositories: each repository with its number of tags. With repositories (or --all): their tags.',
  obj({ repositories: { type: 'array', items: { anyOf: [obj({ name: str, tagCount: int }, { unaddressable: bool }), obj({ name: str, tags: arr(tagRow) })] } } }),
);
doc(
  'inspect',
  'regbucket inspect --json',
  'A manifest: an image (config and layers) or an index (manifests), with its referrers.',
  obj(
    {
      repository: str,
      reference: str,
      digest,
      mediaType: str,
      kind: { enum: ['image', 'index', 'schema1'] },
      size: int,
      artifactType: nul(str),
      config: nul(brief),
      layers: arr(brief),
      manifests: arr(brief),
      platform: nul(str),
      platforms: nul(arr(str)),
      totalSize: nul(int),
      annotations: nul({ type: 'object', additionalProperties: str }),
      subject: nul(brief),
      referrers: arr({ allOf: [brief, obj({ tag: nul(str) })] }),
    },
    { problem: str },
  ),
);
const kindCount = obj({ kind: str, severity: { enum: ['problem', 'warning'] }, count: int, repaired: int });
doc(
  'verify',
  'regbucket verify --json',
  'The audit: counts, findings (problems and warnings) and, with --fix, the repairs made.',
  obj(
    {
      clean: bool,
      hashed: bool,
      repositories: int,
      blobs: int,
      links: int,
      manifests: int,
      blobsHashed: int,
      bytesHashed: int,
      problems: int,
      warnings: int,
      repaired: int,
      summary: arr(kindCount),
      findings: arr(
        obj(
          { kind: str, severity: { enum: ['problem', 'warning'] }, path: str, detail: str },
          { repo: str, tag: str, digest: str, link: { enum: ['layer', 'revision', 'tag-current', 'tag-index'] }, manifest: str, usedBy: arr(str), fix: str, repaired: str },
        ),
      ),
      seconds: { type: 'number', minimum: 0 },
    },
    {
      repairs: arr(obj({ action: { enum: ['write-link', 'remove-link', 'remove-upload'] }, path: str, kinds: arr(str) }, { digest })),
      store: { ...str, description: 'With --shard or --merge: the store audited (file:///dir or s3://bucket/prefix); --merge refuses shards of different stores.' },
      shard: {
        ...obj({ index: int, count: int, assignment: { const: 'sha256-hex-mod-n' }, blobs: int }),
        description: 'With --shard: shard index of count (from 0); blobs: how many of the blobs seen are its share, hashed by it alone.',
      },
      repos: { ...arr(str), description: 'With --shard and repositories named: the repositories audited.' },
      checkpoint: {
        ...obj({ file: str, resumed: bool, blobsSkipped: int, bytesSkipped: int, ignoredLines: int }),
        description:
          'With --checkpoint: resumed true when the file held results of an earlier run; blobsSkipped (counted in blobsHashed) and bytesSkipped: blobs unchanged since, whose earlier result was taken instead of hashing them; ignoredLines: unreadable lines (a torn last line), whose blobs were hashed.',
      },
      merged: {
        ...obj({ shards: int, consistent: bool }),
        description: 'With --merge: how many shard reports; consistent false when the shards saw different counts (the store changed between runs).',
      },
    },
  ),
);
const totals = obj({ manifests: int, tagHistoryEntries: int, tags: int, blobs: int, bytes: int, layerLinks: int, uploads: int, multipartUploads: int, writeDebris: int, repositories: int });
const gcBody = obj(
  {
    dryRun: bool,
    deleteUntagged: bool,
    minAge: str,
    uploadsOlderThan: str,
    scanned: obj({ repositories: int, blobs: int, manifests: int, tags: int }),
    kept: obj({ marked: int, youngBlobs: int, recentlyLinked: int, youngRevisions: int, pinnedRepositories: int }),
    planned: totals,
    repositories: arr(obj({ repository: str, blobs: int, bytes: int, manifests: int, layerLinks: int, uploads: int, removed: bool })),
    lists: obj({
      blobs: arr(obj({ digest, size: int })),
      manifests: arr(obj({ repository: str, digest })),
      tags: arr(obj({ repository: str, tag: str })),
      layerLinks: arr(obj({ repository: str, digest })),
      uploads: arr(obj({ repository: str, id: str, startedAt: nul(time) })),
      multipartUploads: arr(obj({ key: str, uploadId: str, initiated: str })),
      writeDebris: arr(obj({ path: str, modified: time })),
      repositories: arr(str),
    }),
    warnings: arr(obj({ kind: str, repo: str, detail: str }, { path: str, digest: str, tag: str })),
    seconds: { type: 'number', minimum: 0 },
    clockOffsetMs: nul(num),
  },
  { deleted: totals, listsTruncated: bool },
);
gcBody.if = { properties: { dryRun: { const: false } } };
gcBody.then = { required: ['deleted'] };
doc('gc', 'regbucket gc --json', 'The plan (dryRun: true) or the run: what it planned and what it deleted (less where a re-check kept something), with every list in full.', gcBody);
const gcRef = JSON.parse(JSON.stringify(gcBody));
gcRef.required = gcRef.required.filter((k) => k !== 'schemaVersion');
const cacheEntry = obj({ key: str, repository: str, digest, type: { enum: ['blob', 'manifest'] }, cached: time, action: { enum: ['expire', 'keep'] }, rule: str, reason: str }, { untag: arr(str) });
doc(
  'prune',
  'regbucket prune --json',
  'Tag rules: the retention plan per repository (every tag and manifest with its action, rule and reason), the totals, what was done. --cache-ttl/--cache-max-size: the pull-through cache entries expired and those due but kept, with why. With --gc, the gc report.',
  {
    type: 'object',
    required: ['dryRun', 'now'],
    properties: { dryRun: bool, now: time, gc: gcRef },
    oneOf: [
      obj(
        {
          repositories: arr(
            obj(
              {
                name: str,
                policy: int,
                tags: arr(obj({ tag: str, digest: nul(digest), pushed: nul(time), action: { enum: ['keep', 'untag'] }, rule: str, reason: str })),
                manifests: arr(obj({ digest, pushed: nul(time), action: { enum: ['keep', 'delete'] }, rule: str, reason: str })),
              },
              { pinned: str },
            ),
          ),
          totals: obj({ repositories: int, tags: obj({ kept: int, untag: int }), manifests: obj({ kept: int, delete: int }) }),
        },
        { done: obj({ untagged: int, deleted: int, skipped: arr(obj({ repo: str, why: str }, { tag: str, digest })) }) },
      ),
      obj(
        {
          stateFile: { const: '/scheduler-state.json' },
          entries: int,
          expired: arr(cacheEntry),
          kept: arr(cacheEntry),
          unrecognized: arr(obj({ key: str, reason: str })),
          duplicateKeys: arr(str),
          evictedRepositories: arr(str),
          bytes: obj({ before: int, afterTtl: int, after: int }, { limit: int }),
        },
        { done: obj({ expired: int, untagged: int, stateWritten: bool }) },
      ),
    ],
  },
);
doc(
  'du',
  'regbucket du --json',
  'Space per repository and for the whole store, in bytes.',
  obj({
    repositories: arr(obj({ name: str, bytes: int, exclusiveBytes: int, sharedBytes: int, reclaimableBytes: int, blobs: int, uploads: int, uploadBytes: int })),
    total: obj({ bytes: int, blobs: int, logicalBytes: int, dedupRatio: { type: 'number', minimum: 0 }, reclaimableBytes: int, unlinkedBytes: int, uploads: int, uploadBytes: int }),
  }),
);
doc('mv', 'regbucket mv --json', 'The rename (dryRun: true: the plan).', obj({ dryRun: bool, from: str, to: str, sections: arr(str), files: int }));
doc('version', 'regbucket version --json', "regbucket's version and Node's.", obj({ version: str, node: str }));
