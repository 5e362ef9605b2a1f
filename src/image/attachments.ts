// cosign's tag-scheme attachments: a signature, attestation or SBOM of the image `sha256:<hex>`
// is stored in the same repository under the tag `sha256-<hex>.sig`, `.att` or `.sbom` (not as an
// OCI referrer). regbucket treats them as belonging to their subject, as OCI referrers do.
import { hexOf, SHA256_HEX, type Digest } from './digest.js';

export const ATTACHMENT_SUFFIXES = ['sig', 'att', 'sbom'] as const;

const ATTACHMENT_RE = new RegExp(`^sha256-(${SHA256_HEX})(?:\\.(?:sig|att|sbom))?$`);

/** The attachment tags an image may have. */
export function attachmentTags(subject: Digest): string[] {
  const hex = hexOf(subject);
  return ATTACHMENT_SUFFIXES.map((s) => `sha256-${hex}.${s}`);
}

/** The subject of a cosign attachment tag, or of an OCI referrers fallback tag (`sha256-<hex>`). */
export function attachmentSubject(tag: string): Digest | undefined {
  const m = ATTACHMENT_RE.exec(tag);
  return m ? `sha256:${m[1]}` : undefined;
}
