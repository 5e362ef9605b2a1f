// The pull-through cache's schedule: `/scheduler-state.json` at the storage root (beside
// `docker/`, not under it), written by registry 2.8.2's proxy mode (registry/proxy/scheduler):
// a JSON object keyed by entry key, each value {"Key":"<repo>@sha256:<hex>","ExpiryData":
// "<RFC3339>","EntryType":0|1} (0 a blob, 1 a manifest), expiring 168 h after the cache fetched it.
// The file is untrusted input, read the way the registry reads it (Go's encoding/json into
// map[string]*schedulerEntry): bounded, keys last-wins, field names case-insensitive. Entries
// the registry could not act on are kept verbatim and reported, never dropped.
import type { StorageDriver } from '../drivers/driver.js';
import { IntegrityError, PathNotFoundError, UnsafePathError } from '../errors.js';
import { isDigest, type Digest } from '../image/digest.js';
import { goUnmarshal, GoJsonSyntaxError, parseGoJson, T, type GoValue } from '../image/go-json.js';
import { isRegistryRepoName } from '../image/reference.js';

export const STATE_PATH = '/scheduler-state.json';
/** 64 MiB: about 400,000 entries; a cache's schedule past that is not one the registry wrote. */
export const MAX_STATE_BYTES = 64 * 1024 * 1024;
/** registry/proxy: repositoryTTL, a constant in 2.8.2 (`24 * 7 * time.Hour`). */
export const REGISTRY_TTL_MS = 168 * 3_600_000;

export type EntryType = 'blob' | 'manifest';

export interface CacheEntry {
  /** The key of the state file's object (the registry's `entries` map key). */
  mapKey: string;
  repo: string;
  digest: Digest;
  type: EntryType;
  /** ExpiryData, ms. */
  expiry: number;
  /** When the cache fetched it: ExpiryData - 168 h. */
  cached: number;
}

export interface UnknownEntry {
  mapKey: string;
  why: string;
}

export interface CacheState {
  entries: CacheEntry[];
  unknown: UnknownEntry[];
  /** Every key with the value Go keeps for it (the last one), in file order. */
  values: Map<string, GoValue>;
  /** Keys that appeared more than once (the registry keeps the last value). */
  duplicates: string[];
  bytes: Buffer;
}

const ENTRY = T.ptr(
  T.struct('schedulerEntry', [
    ['Key', T.string],
    ['ExpiryData', T.any],
    ['EntryType', T.int],
  ]),
);

// time.Time.UnmarshalJSON in Go 1.19: a JSON string in RFC 3339 (fraction optional, Z or ±hh:mm).
const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** ms since the epoch, or why Go's time.Time would refuse it. */
export function parseGoTime(v: GoValue): number | string {
  if (v.t === 'null') return 'ExpiryData is null (the zero time)';
  if (v.t !== 'str') return 'ExpiryData is not a string';
  const m = RFC3339_RE.exec(v.v);
  if (!m) return `ExpiryData ${JSON.stringify(v.v)} is not an RFC 3339 time`;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const [Y, M, D, H, Mi, S] = [y, mo, d, h, mi, s].map(Number) as [number, number, number, number, number, number];
  const days = new Date(Date.UTC(Y, M, 0)).getUTCDate();
  if (M < 1 || M > 12 || D < 1 || D > days || H > 23 || Mi > 59 || S > 59) return `ExpiryData ${JSON.stringify(v.v)} is out of range`;
  let off = 0;
  if (zone !== 'Z') {
    const [zh, zm] = zone!.slice(1).split(':').map(Number) as [number, number];
    if (zh > 23 || zm > 59) return `ExpiryData ${JSON.stringify(v.v)} has an invalid zone`;
    off = (zone!.startsWith('-') ? -1 : 1) * (zh * 60 + zm) * 60_000;
  }
  const ms = frac ? Math.floor(Number(`0${frac}`) * 1000) : 0;
  return Date.UTC(Y, M - 1, D, H, Mi, S, ms) - off;
}

function entryOf(mapKey: string, v: GoValue): CacheEntry | UnknownEntry {
  const bad = (why: string): UnknownEntry => ({ mapKey, why });
  if (v.t === 'null') return bad('the entry is null (registry 2.8.2 crashes starting on it)');
  const { value, error } = goUnmarshal(v, ENTRY);
  if (error) return bad(error.message);
  const e = value as { Key: string; ExpiryData: GoValue | null; EntryType: number };
  const at = e.Key.lastIndexOf('@');
  const repo = e.Key.slice(0, Math.max(0, at));
  const digest = e.Key.slice(at + 1);
  if (at < 0 || !isRegistryRepoName(repo) || !isDigest(digest)) return bad(`Key is not <repository>@sha256:<hex>`);
  // The registry deletes by the entry's Key but removes the map entry by Key too: a map key that
  // differs would be scheduled again at every start. Left to a person.
  if (e.Key !== mapKey) return bad("the map key differs from the entry's Key");
  if (e.EntryType !== 0 && e.EntryType !== 1) return bad(`EntryType ${e.EntryType} is neither 0 (blob) nor 1 (manifest)`);
  const expiry = e.ExpiryData === null ? 'ExpiryData is missing' : parseGoTime(e.ExpiryData);
  if (typeof expiry === 'string') return bad(expiry);
  return { mapKey, repo, digest, type: e.EntryType === 0 ? 'blob' : 'manifest', expiry, cached: expiry - REGISTRY_TTL_MS };
}

/** Decodes a state file's bytes; throws IntegrityError when it is not a JSON object at all. */
export function decodeState(bytes: Buffer): CacheState {
  let doc: GoValue;
  try {
    doc = parseGoJson(bytes);
  } catch (err) {
    if (err instanceof GoJsonSyntaxError) throw new IntegrityError(`${STATE_PATH} is not JSON (${err.message}): registry 2.8.2 would not start on it either; move it aside by hand`);
    throw err;
  }
  const values = new Map<string, GoValue>();
  const duplicates = new Set<string>();
  if (doc.t === 'obj') {
    for (const [k, v] of doc.entries) {
      if (values.has(k)) {
        duplicates.add(k);
        values.delete(k); // re-inserted: the order of the last occurrence
      }
      values.set(k, v);
    }
  } else if (doc.t !== 'null') {
    throw new IntegrityError(`${STATE_PATH} is a JSON ${doc.t === 'arr' ? 'array' : 'value'}, not an object: registry 2.8.2 would not start on it either; move it aside by hand`);
  }
  const entries: CacheEntry[] = [];
  const unknown: UnknownEntry[] = [];
  for (const [k, v] of values) {
    const e = entryOf(k, v);
    if ('why' in e) unknown.push(e);
    else entries.push(e);
  }
  return { entries, unknown, values, duplicates: [...duplicates], bytes };
}

/** The state file, or undefined when the store has none (not a pull-through cache). */
export async function readState(d: StorageDriver): Promise<CacheState | undefined> {
  const tooBig = (): IntegrityError => new IntegrityError(`${STATE_PATH} is over ${MAX_STATE_BYTES / 1024 / 1024} MiB, more than a cache's schedule holds: not read; look at it by hand`);
  let bytes: Buffer;
  try {
    // Not every backend bounds getContent (S3 reads the whole object): the size is checked first.
    const st = await d.stat(STATE_PATH);
    if (st.isDir) throw new IntegrityError(`${STATE_PATH} is a directory: not a pull-through cache's schedule; look at it by hand`);
    if (st.size > MAX_STATE_BYTES) throw tooBig();
    bytes = await d.getContent(STATE_PATH, MAX_STATE_BYTES);
  } catch (err) {
    if (err instanceof PathNotFoundError) return undefined;
    if (err instanceof UnsafePathError && err.kind === 'oversized') throw tooBig();
    throw err;
  }
  if (bytes.length > MAX_STATE_BYTES) throw tooBig();
  return decodeState(bytes);
}

/** JSON text of a parsed value (strings re-quoted, numbers as written). */
function toJson(v: GoValue): string {
  switch (v.t) {
    case 'obj':
      return `{${v.entries.map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(',')}}`;
    case 'arr':
      return `[${v.items.map(toJson).join(',')}]`;
    case 'str':
      return JSON.stringify(v.v);
    case 'num':
      return v.raw;
    case 'bool':
      return String(v.v);
    case 'null':
      return 'null';
  }
}

/**
 * The state file without `drop`: every other key with its value as read (Go's json.Marshal of
 * the map sorts keys; so does this).
 */
export function encodeState(state: CacheState, drop: Set<string>): Buffer {
  const keys = [...state.values.keys()].filter((k) => !drop.has(k)).sort();
  return Buffer.from(`{${keys.map((k) => `${JSON.stringify(k)}:${toJson(state.values.get(k)!)}`).join(',')}}`);
}
