// The plan, narrowed by the store's unsafe paths (symlinks, special files, oversized links and
// manifests: store/hazards.ts): whatever such a path might protect is kept, and each is named.
import { describeHazard, hazardScope, type Hazard } from '../store/hazards.js';
import type { GcPlan, GcWarning, RepoPlan } from './plan.js';
import { DELETE, type BlobTable } from './store-scan.js';

function keepRepo(rp: RepoPlan, why: string, uploadsToo: boolean): RepoPlan {
  return { ...rp, pinned: rp.pinned ?? why, revisions: [], history: new Map(), tags: [], layerLinks: [], uploads: uploadsToo ? [] : rp.uploads, remove: false };
}

/** Warnings naming each hazard and what it keeps. */
export function hazardWarnings(hazards: Hazard[]): GcWarning[] {
  return hazards.map((h) => {
    const s = hazardScope(h);
    const keeps =
      s.kind === 'store'
        ? 'nothing in the store is deleted'
        : s.kind === 'repo'
          ? `the manifests of ${s.repo} and every blob are kept`
          : s.kind === 'upload'
            ? `${s.id ? `upload ${s.id}` : 'the uploads'} of ${s.repo} kept`
            : s.kind === 'blobs'
              ? s.prefix === ''
                ? 'every blob is kept'
                : `blob${s.prefix.length === 64 ? '' : 's'} ${s.prefix}${s.prefix.length === 64 ? '' : '*'} kept`
              : 'not part of what the registry reads';
    return { kind: 'unsafe-path', repo: s.kind === 'repo' || s.kind === 'upload' ? s.repo : '', path: h.path, detail: `${describeHazard(h)}: ${keeps}` };
  });
}

/** `plan` without anything a hazard might protect; DELETE flags of kept blobs are cleared. */
export function containPlan(plan: GcPlan, table: BlobTable, hazards: Hazard[]): GcPlan {
  if (hazards.length === 0) return plan;
  const scopes = hazards.map(hazardScope);
  const store = scopes.some((s) => s.kind === 'store');
  const pinned = new Set(scopes.flatMap((s) => (s.kind === 'repo' ? [s.repo] : [])));
  const allBlobs = store || pinned.size > 0 || scopes.some((s) => s.kind === 'blobs' && s.prefix === '');
  const prefixes = scopes.flatMap((s) => (s.kind === 'blobs' ? [s.prefix] : []));
  const uploads = scopes.flatMap((s) => (s.kind === 'upload' ? [s] : []));
  const why = 'an unsafe path (see the unsafe-path warnings) may protect it';

  const repos = plan.repos.map((rp) => {
    const name = rp.repo.name;
    if (store || pinned.has(name)) return keepRepo(rp, why, store);
    const held = uploads.filter((u) => u.repo === name);
    if (held.length === 0) return rp;
    return { ...rp, uploads: rp.uploads.filter((u) => !held.some((h) => h.id === undefined || h.id === u.id)), remove: false };
  });
  const flags = table.flags.data;
  const blobs = plan.blobs.filter((i) => {
    const hex = table.set.hex(i);
    const keep = allBlobs || prefixes.some((p) => hex.startsWith(p));
    if (keep) flags[i]! &= ~DELETE;
    return !keep;
  });
  let bytes = 0;
  for (const i of blobs) bytes += table.size.data[i]! || 0;
  return { ...plan, repos, blobs, bytes, multipart: store ? [] : plan.multipart, warnings: [...plan.warnings, ...hazardWarnings(hazards)] };
}
