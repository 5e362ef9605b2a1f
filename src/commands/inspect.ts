import type { Context } from '../cli/context.js';
import type { FormatFlags } from '../cli/format.js';
import type { Output } from '../cli/output.js';
import type { StorageDriver } from '../drivers/driver.js';
import { isDigest, type Digest } from '../image/digest.js';
import { platformString, type BlobDescriptor } from '../image/manifest.js';
import { MediaType } from '../image/mediatypes.js';
import { formatStoreRef, parseStoreRef } from '../image/reference.js';
import { linkedBlob, readBlob } from '../store/blobs.js';
import { resolveStoreRef, StoreSource } from '../store/source-sink.js';
import { getManifest } from '../store/manifests.js';
import { ManifestReader } from '../store/summary.js';
import { escapeText as esc } from '../util/escape.js';

interface InspectOptions extends FormatFlags {
  raw?: boolean;
}

type Brief = Pick<BlobDescriptor, 'digest' | 'size' | 'mediaType'> & { platform?: string; artifactType?: string; annotations?: Record<string, string> };

const CONFIG_TYPES = new Set<string>([MediaType.ociConfig, MediaType.dockerConfig]);
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

function brief(d: BlobDescriptor): Brief {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.platform ? { platform: platformString(d.platform) } : {}),
    ...(d.artifactType ? { artifactType: d.artifactType } : {}),
    ...(d.annotations ? { annotations: d.annotations } : {}),
  };
}

/** Platform an image's config declares; null when it has none or cannot be read. */
async function configPlatform(d: StorageDriver, repo: string, config: BlobDescriptor | undefined): Promise<string | null> {
  if (!config || !CONFIG_TYPES.has(config.mediaType) || config.size > MAX_CONFIG_BYTES) return null;
  try {
    // A sha512 config is stored under the sha256 digest its repository's alias link names.
    const stored = isDigest(config.digest) ? config.digest : await linkedBlob(d, repo, config.digest);
    if (!stored) return null;
    const c = JSON.parse((await readBlob(d, stored)).toString('utf8')) as { os?: string; architecture?: string; variant?: string };
    return typeof c.os === 'string' && typeof c.architecture === 'string' ? platformString({ os: c.os, architecture: c.architecture, variant: c.variant }) : null;
  } catch {
    return null;
  }
}

export async function run(ctx: Context, ref: string, opts: InspectOptions): Promise<number> {
  ctx.output.useFormat(opts);
  const r = parseStoreRef(ref);
  const d = await ctx.registryStore();
  const digest: Digest = await resolveStoreRef(d, r);
  const bytes = await getManifest(d, r.repo, digest);
  if (opts.raw) {
    ctx.output.raw(bytes);
    return 0;
  }
  const reader = new ManifestReader(d, ctx.globals.concurrency);
  const summary = await reader.summarize(digest);
  const m = (await reader.read(digest)).manifest;
  // OCI referrers listed in the `sha256-<hex>` fallback tag, and cosign's tag-scheme attachments.
  const source = new StoreSource(d, { repo: r.repo, digest });
  const found = await source.referrers({ mediaType: m.mediaType, digest, size: bytes.length });
  const tagOf = new Map([...source.fallbackTags].filter(([t]) => t.includes('.')).map(([t, x]) => [x.digest, t]));
  const referrers = found.map((x) => ({ ...brief(x), tag: tagOf.get(x.digest) ?? null }));
  const info = {
    repository: r.repo,
    reference: formatStoreRef(r.digest ? r : { repo: r.repo, tag: r.tag ?? 'latest' }),
    digest,
    mediaType: m.mediaType,
    kind: m.kind,
    size: bytes.length,
    artifactType: m.artifactType ?? null,
    config: m.config ? brief(m.config) : null,
    layers: m.layers.map(brief),
    manifests: m.manifests.map(brief),
    platform: m.kind === 'image' ? await configPlatform(d, r.repo, m.config) : null,
    platforms: summary.platforms,
    totalSize: summary.size,
    annotations: m.annotations ?? null,
    subject: m.subject ? brief(m.subject) : null,
    referrers,
    ...(summary.problem ? { problem: summary.problem } : {}),
  };
  ctx.output.references([`${r.repo}@${digest}`]);
  const formatBytes = (n: number): string => ctx.output.size(n);
  ctx.output.result(info, () => {
    if (ctx.output.tabular.format === 'tsv') return tsv(ctx.output, info);
    const lines = [
      `reference:  ${info.reference}`,
      `digest:     ${digest}`,
      `media type: ${esc(String(m.mediaType))}${m.kind === 'index' ? ' (index)' : ''}`,
      `size:       ${bytes.length} B manifest; ${info.totalSize !== null ? formatBytes(info.totalSize) : 'unknown'} in config and layers${m.kind === 'index' ? ' (distinct, across children)' : ''}`,
    ];
    if (info.artifactType) lines.push(`artifact:   ${esc(info.artifactType)}`);
    if (info.platform) lines.push(`platform:   ${esc(info.platform)}`);
    if (info.config) lines.push(`config:     ${info.config.digest} (${formatBytes(info.config.size)}, ${esc(String(info.config.mediaType))})`);
    if (info.layers.length) {
      lines.push(`layers:     ${info.layers.length}`);
      for (const l of info.layers) lines.push(`  ${l.digest}  ${formatBytes(l.size)}  ${esc(String(l.mediaType))}`);
    }
    if (info.manifests.length) {
      lines.push(`manifests:  ${info.manifests.length}`);
      for (const c of info.manifests) lines.push(`  ${c.digest}  ${esc(c.platform ?? '-')}  ${esc(String(c.mediaType))}`);
    }
    if (info.subject) lines.push(`subject:    ${info.subject.digest} (${esc(String(info.subject.mediaType))})`);
    if (referrers.length) {
      lines.push(`referrers:  ${referrers.length}`);
      for (const x of referrers) lines.push(`  ${x.digest}  ${esc(String(x.tag ?? x.artifactType ?? x.mediaType))}`);
    }
    for (const [k, v] of Object.entries(info.annotations ?? {})) lines.push(`annotation: ${esc(k)}=${esc(String(v))}`);
    if (summary.problem) lines.push(`problem:    ${esc(summary.problem)}`);
    return lines.join('\n');
  });
  return 0;
}

type Info = {
  reference: string;
  digest: string;
  mediaType: string;
  kind: string;
  size: number;
  artifactType: string | null;
  config: Brief | null;
  layers: Brief[];
  manifests: Brief[];
  platform: string | null;
  platforms: string[] | null;
  totalSize: number | null;
  annotations: Record<string, string> | null;
  subject: Brief | null;
  referrers: (Brief & { tag: string | null })[];
  problem?: string;
};

/**
 * `--format tsv`: a line per field, `field<TAB>value...`, exact values; descriptors as
 * `<field> digest size mediaType [platform|tag]`, a line each (layer, manifest, referrer).
 */
function tsv(out: Output, i: Info): string {
  const rows: (string | number)[][] = [
    ['reference', i.reference],
    ['digest', i.digest],
    ['mediaType', i.mediaType],
    ['kind', i.kind],
    ['size', i.size],
    ['totalSize', i.totalSize ?? '-'],
  ];
  if (i.artifactType) rows.push(['artifactType', i.artifactType]);
  if (i.platform) rows.push(['platform', i.platform]);
  const desc = (field: string, b: Brief, extra?: string | null) => rows.push([field, b.digest, b.size, b.mediaType, ...(extra !== undefined ? [extra ?? '-'] : [])]);
  if (i.config) desc('config', i.config);
  for (const l of i.layers) desc('layer', l);
  for (const m of i.manifests) desc('manifest', m, m.platform ?? null);
  if (i.subject) desc('subject', i.subject);
  for (const x of i.referrers) desc('referrer', x, x.tag ?? x.artifactType ?? null);
  for (const [k, v] of Object.entries(i.annotations ?? {})) rows.push(['annotation', k, String(v)]);
  if (i.problem) rows.push(['problem', i.problem]);
  return out.table(['FIELD', 'VALUE'], rows);
}
