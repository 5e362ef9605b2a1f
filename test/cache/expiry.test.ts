// Pull-through cache expiry on a memory store: the plan (TTL, size limit, what stays needs),
// carrying it out (links, tags, the state file rewritten), and the state file read as registry
// 2.8.2's Go code reads it.
import { describe, expect, it } from 'vitest';
import type { StorageDriver } from '../../src/drivers/driver.js';
import { IntegrityError } from '../../src/errors.js';
import { sha256, type Digest } from '../../src/image/digest.js';
import { putBlobContent } from '../../src/store/blobs.js';
import { planCacheExpiry } from '../../src/cache/plan.js';
import { executeCacheExpiry, readCacheFacts } from '../../src/cache/run.js';
import { decodeState, readState, REGISTRY_TTL_MS, STATE_PATH, MAX_STATE_BYTES } from '../../src/cache/state.js';
import { layerLinkPath, revisionLinkPath, tagCurrentLinkPath } from '../../src/store/paths.js';
import { parseSize } from '../../src/util/size.js';
import { image, index, memoryStore, STORES, type Img } from '../gc/store-builder.js';

const NOW = Date.parse('2026-12-02T12:00:00Z');
const DAY = 86_400_000;

type Entry = [repo: string, digest: Digest, type: 0 | 1, cachedAgoMs: number];

function stateJson(entries: Entry[], extra = ''): string {
  const parts = entries.map(([repo, digest, type, ago]) => {
    const key = `${repo}@${digest}`;
    const expiry = new Date(NOW - ago + REGISTRY_TTL_MS).toISOString().replace('Z', '123456Z');
    return `${JSON.stringify(key)}:{"Key":${JSON.stringify(key)},"ExpiryData":"${expiry}","EntryType":${type}}`;
  });
  return `{${[...parts, ...(extra ? [extra] : [])].join(',')}}`;
}

/** What the cache writes for one pulled image: the manifest and each blob. */
function imageEntries(repo: string, img: Img, ago: number): Entry[] {
  return [[repo, img.manifest.digest, 1, ago], ...[img.config, ...img.layers].map((b): Entry => [repo, b.digest, 0, ago])];
}

async function exists(d: StorageDriver, path: string): Promise<boolean> {
  return d.stat(path).then(
    () => true,
    () => false,
  );
}

async function prune(d: StorageDriver, opts: { ttlMs?: number; maxBytes?: number }) {
  const state = (await readState(d))!;
  const facts = await readCacheFacts(d, 4);
  const plan = planCacheExpiry(state.entries, facts, { now: NOW, ...opts });
  const outcome = await executeCacheExpiry(d, state, plan, facts, 4);
  return { state, plan, outcome };
}

describe.each(STORES)('pull-through cache expiry on %s', (_, store) => {
  it('expires what was cached longer ago than the TTL: manifests with their tags, layer links; the rest and unknown entries stay', async () => {
    const { d } = store();
    const old = await image(d, 'library/old', { tag: 'latest' });
    const fresh = await image(d, 'library/fresh', { tag: '1.0' });
    const junk = '"weird":{"Key":"not a reference","ExpiryData":"2026-12-01T00:00:00Z","EntryType":0},"bad@time":{"Key":"x@sha256:00","ExpiryData":17}';
    await d.putContent(STATE_PATH, stateJson([...imageEntries('library/old', old, 5 * DAY), ...imageEntries('library/fresh', fresh, 3_600_000)], junk));
    const { state, plan, outcome } = await prune(d, { ttlMs: 2 * DAY });

    const expired = plan.decisions.filter((x) => x.action === 'expire');
    expect(expired.map((x) => x.entry.repo)).toEqual(Array(3).fill('library/old'));
    expect(expired.find((x) => x.entry.type === 'manifest')!.untag).toEqual(['latest']);
    expect(outcome.expired).toHaveLength(3);
    expect(state.unknown.map((u) => u.mapKey).sort()).toEqual(['bad@time', 'weird']);

    expect(await exists(d, revisionLinkPath('library/old', old.manifest.digest))).toBe(false);
    expect(await exists(d, tagCurrentLinkPath('library/old', 'latest'))).toBe(false);
    for (const b of [old.config, ...old.layers]) expect(await exists(d, layerLinkPath('library/old', b.digest))).toBe(false);
    expect(await exists(d, tagCurrentLinkPath('library/fresh', '1.0'))).toBe(true);
    for (const b of [fresh.config, ...fresh.layers]) expect(await exists(d, layerLinkPath('library/fresh', b.digest))).toBe(true);

    const after = decodeState(await d.getContent(STATE_PATH));
    expect(after.entries.map((e) => e.repo)).toEqual(Array(3).fill('library/fresh'));
    expect(after.unknown.map((u) => u.mapKey).sort()).toEqual(['bad@time', 'weird']);
    // Kept entries keep their exact values (nanoseconds included).
    const raw = JSON.parse((await d.getContent(STATE_PATH)).toString()) as Record<string, { ExpiryData: string }>;
    expect(raw[`library/fresh@${fresh.manifest.digest}`]!.ExpiryData).toMatch(/\.\d{3}123456Z$/);
    expect(raw['bad@time']).toEqual({ Key: 'x@sha256:00', ExpiryData: 17 });
  });

  it('changes nothing and leaves the state file as it was when nothing is due', async () => {
    const { d } = store();
    const img = await image(d, 'a', { tag: 't' });
    const text = stateJson(imageEntries('a', img, DAY));
    await d.putContent(STATE_PATH, text);
    const { outcome } = await prune(d, { ttlMs: 2 * DAY });
    expect(outcome.stateWritten).toBe(false);
    expect((await d.getContent(STATE_PATH)).toString()).toBe(text);
  });

  it('keeps a due child of an index a fresh tag names, and the layer links that child needs', async () => {
    const { d } = store();
    const child = await image(d, 'multi');
    const other = await image(d, 'multi');
    const idx = await index(d, 'multi', [child, other], 'latest');
    await d.putContent(STATE_PATH, stateJson([['multi', idx.digest, 1, 3_600_000], ...imageEntries('multi', child, 5 * DAY), ...imageEntries('multi', other, 3_600_000)]));
    const { plan, outcome } = await prune(d, { ttlMs: 2 * DAY });
    const due = plan.decisions.filter((x) => x.entry.digest === child.manifest.digest || child.layers.some((l) => l.digest === x.entry.digest));
    expect(due.map((x) => [x.action, x.rule])).toEqual(due.map(() => ['keep', 'needed']));
    expect(due.find((x) => x.entry.type === 'manifest')!.reason).toContain(`index ${idx.digest}`);
    expect(outcome.expired).toEqual([]);
    expect(outcome.stateWritten).toBe(false);
    expect(await exists(d, revisionLinkPath('multi', child.manifest.digest))).toBe(true);
  });

  it('keeps a due subject a fresh referrer names, and due blobs a fresh manifest references', async () => {
    const { d } = store();
    const subject = await image(d, 'app', { tag: 'v1' });
    const sig = await image(d, 'app', { subject: subject.manifest, artifactType: 'application/example.sig' });
    const img = await image(d, 'app', { tag: 'v2' });
    await d.putContent(
      STATE_PATH,
      stateJson([...imageEntries('app', subject, 5 * DAY), ...imageEntries('app', sig, 3_600_000), ['app', img.manifest.digest, 1, 3_600_000], ...imageEntries('app', img, 5 * DAY).slice(1)]),
    );
    const { plan } = await prune(d, { ttlMs: 2 * DAY });
    const of = (dg: string) => plan.decisions.find((x) => x.entry.digest === dg)!;
    expect([of(subject.manifest.digest).action, of(subject.manifest.digest).rule]).toEqual(['keep', 'needed']);
    expect(of(subject.manifest.digest).reason).toContain(`referrer ${sig.manifest.digest}`);
    for (const b of [img.config, ...img.layers]) {
      expect([of(b.digest).action, of(b.digest).rule]).toEqual(['keep', 'needed']);
      expect(await exists(d, layerLinkPath('app', b.digest))).toBe(true);
    }
    expect(await exists(d, tagCurrentLinkPath('app', 'v1'))).toBe(true);
  });

  it('expires nothing in a repository holding a manifest it cannot parse (pinned)', async () => {
    const { d } = store();
    const img = await image(d, 'app', { tag: 'v1' });
    // Bytes the registry cannot read as a manifest, written as a revision (push refuses them).
    const bytes = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":7}');
    const bad = { digest: sha256(bytes) };
    await putBlobContent(d, bad.digest, bytes);
    await d.putContent(revisionLinkPath('app', bad.digest), bad.digest);
    await d.putContent(STATE_PATH, stateJson([...imageEntries('app', img, 5 * DAY), ['app', bad.digest, 1, 3_600_000]]));
    const { plan, outcome } = await prune(d, { ttlMs: 2 * DAY });
    expect(plan.decisions.filter((x) => x.entry.digest !== bad.digest).map((x) => x.rule)).toEqual(Array(3).fill('pinned'));
    expect(outcome.expired).toEqual([]);
  });

  it('expires an index before its children when all are due', async () => {
    const { d } = store();
    const a = await image(d, 'multi');
    const b = await image(d, 'multi');
    const idx = await index(d, 'multi', [a, b], 'latest');
    await d.putContent(STATE_PATH, stateJson([['multi', idx.digest, 1, 5 * DAY], ...imageEntries('multi', a, 5 * DAY), ...imageEntries('multi', b, 5 * DAY)]));
    const { outcome } = await prune(d, { ttlMs: 0 });
    const manifests = outcome.expired.filter((x) => x.entry.type === 'manifest').map((x) => x.entry.digest);
    expect(manifests[0]).toBe(idx.digest);
    expect(manifests).toHaveLength(3);
    expect((await readState(d))!.entries).toEqual([]);
  });

  it('over the size limit, expires whole repositories oldest first (by their newest entry), the larger first on ties', async () => {
    const { d } = store();
    const big = await image(d, 'big', { tag: 't', layers: [Buffer.alloc(30_000, 1)] });
    const small = await image(d, 'small', { tag: 't', layers: [Buffer.alloc(10_000, 2)] });
    const newest = await image(d, 'newest', { tag: 't', layers: [Buffer.alloc(20_000, 3)] });
    const oldest = await image(d, 'oldest', { tag: 't', layers: [Buffer.alloc(5_000, 4)] });
    await d.putContent(
      STATE_PATH,
      stateJson([
        ...imageEntries('big', big, 3 * DAY),
        ...imageEntries('small', small, 3 * DAY),
        ...imageEntries('newest', newest, DAY),
        // Its newest entry is what counts: one old entry and one older.
        ...imageEntries('oldest', oldest, 6 * DAY).map((e, i): Entry => (i === 0 ? [e[0], e[1], e[2], 4 * DAY] : e)),
      ]),
    );
    const facts = await readCacheFacts(d, 4);
    const state = (await readState(d))!;
    const total = planCacheExpiry(state.entries, facts, { now: NOW }).bytes.before;
    // Room for everything but about 33 KB: the oldest (5 KB) and then big (30 KB, ties with small) go.
    const { plan } = await prune(d, { maxBytes: total - 33_000 });
    expect(plan.evicted).toEqual(['oldest', 'big']);
    expect(plan.bytes.after).toBeLessThanOrEqual(total - 33_000);
    expect(await exists(d, tagCurrentLinkPath('big', 't'))).toBe(false);
    expect(await exists(d, tagCurrentLinkPath('small', 't'))).toBe(true);
    expect(new Set((await readState(d))!.entries.map((e) => e.repo))).toEqual(new Set(['small', 'newest']));
  });

  it('refuses to carry a plan out when the state file changed since it was read (a registry serving the store)', async () => {
    const { d } = store();
    const img = await image(d, 'a', { tag: 't' });
    await d.putContent(STATE_PATH, stateJson(imageEntries('a', img, 5 * DAY)));
    const state = (await readState(d))!;
    const facts = await readCacheFacts(d, 4);
    const plan = planCacheExpiry(state.entries, facts, { now: NOW, ttlMs: DAY });
    await d.putContent(STATE_PATH, stateJson(imageEntries('a', img, 4 * DAY)));
    await expect(executeCacheExpiry(d, state, plan, facts, 4)).rejects.toThrow(/changed since it was read/);
    expect(await exists(d, tagCurrentLinkPath('a', 't'))).toBe(true);
  });
});

describe('the state file, read as Go reads it', () => {
  const key = `r@sha256:${'a'.repeat(64)}`;
  it('matches field names case-insensitively and keeps the last of duplicate keys', () => {
    const s = decodeState(
      Buffer.from(
        `{"${key}":{"Key":"${key}","ExpiryData":"2026-01-01T00:00:00Z","EntryType":1},"${key}":{"key":"${key}","EXPIRYDATA":"2026-01-02T00:00:00+01:00","entrytype":0,"ExpiryData":"2026-01-03T00:00:00Z"}}`,
      ),
    );
    expect(s.duplicates).toEqual([key]);
    expect(s.entries).toHaveLength(1);
    expect(s.entries[0]!.type).toBe('blob');
    expect(s.entries[0]!.expiry).toBe(Date.parse('2026-01-03T00:00:00Z'));
    expect(s.entries[0]!.cached).toBe(Date.parse('2026-01-03T00:00:00Z') - 168 * 3_600_000);
  });

  it('reports entries the registry could not act on, and keeps them', () => {
    const s = decodeState(
      Buffer.from(
        JSON.stringify({
          a: null,
          b: { Key: key, ExpiryData: '2026-01-01T00:00:00Z', EntryType: 1 },
          [key]: { Key: key, ExpiryData: '2026-13-01T00:00:00Z', EntryType: 1 },
          c: { Key: 'c@sha256:00', ExpiryData: '2026-01-01T00:00:00Z', EntryType: '1' },
          d: 7,
        }),
      ),
    );
    expect(s.entries).toEqual([]);
    expect(Object.fromEntries(s.unknown.map((u) => [u.mapKey, u.why]))).toEqual({
      a: expect.stringContaining('null'),
      b: expect.stringContaining('map key differs'),
      [key]: expect.stringContaining('out of range'),
      c: expect.stringContaining('cannot unmarshal string'),
      d: expect.stringContaining('cannot unmarshal number'),
    });
  });

  it('refuses a state file that is not an object, not JSON, or over the cap, in one line', async () => {
    expect(() => decodeState(Buffer.from('[1]'))).toThrow(IntegrityError);
    expect(() => decodeState(Buffer.from('{"a":'))).toThrow(/is not JSON/);
    expect(decodeState(Buffer.from('null')).entries).toEqual([]);
    const { d } = memoryStore();
    await d.putContent(STATE_PATH, Buffer.alloc(MAX_STATE_BYTES + 1, 0x20));
    await expect(readState(d)).rejects.toThrow(/^\/scheduler-state.json is over 64 MiB[^\n]*$/);
  });
});

describe('sizes', () => {
  it('reads bytes, binary K/M/G/T and decimal KB/MB/GB/TB', () => {
    expect(parseSize('500')).toBe(500);
    expect(parseSize('500B')).toBe(500);
    expect(parseSize('10G')).toBe(10 * 1024 ** 3);
    expect(parseSize('500MiB')).toBe(500 * 1024 ** 2);
    expect(parseSize('1.5k')).toBe(1536);
    expect(parseSize('2GB')).toBe(2e9);
    expect(() => parseSize('10 potatoes', '--cache-max-size')).toThrow(/--cache-max-size "10 potatoes" is not a size/);
    expect(() => parseSize('1.5')).toThrow(/whole number/);
  });
});
