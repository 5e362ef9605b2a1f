// The command that repairs each finding: every piece of advice verify prints is one that was
// run in a test and left verify clean (test/verify/advice.test.ts). `<source>` stands for where
// the image can be had again: oci:<dir>, docker://<registry>/<repo>:<tag>, an archive.
import { isAliasDigest } from '../image/digest.js';
import type { Finding } from './findings.js';

/** The image a finding is about, as push takes it: `repo:tag`, or the repo alone (untagged). */
function pushTarget(f: Finding): string | undefined {
  if (!f.repo) return undefined;
  return f.tag ? `${f.repo}:${f.tag}` : undefined;
}

/** `repo:tag` of the first tagged image among those a blob finding names. */
function firstTagged(users: string[] | undefined): string | undefined {
  return users?.find((u) => !u.includes('@'));
}

/** The repair command for a finding, or undefined for warnings that need none. */
export function adviceFor(f: Finding): string | undefined {
  const image = pushTarget(f);
  const orDelete = (digest: string | undefined) => (f.repo && digest ? `regbucket delete ${f.repo}@${digest}` : undefined);
  const either = (...cmds: (string | undefined)[]) => cmds.filter(Boolean).join('; or: ') || undefined;
  switch (f.kind) {
    case 'digest-mismatch': {
      const user = firstTagged(f.usedBy) ?? image;
      // Same size, other bytes: only a re-hash finds it, so a plain push would keep it.
      return user ? `regbucket push --repair <source> ${user}` : 'regbucket gc --min-age 0 (nothing uses the blob)';
    }
    case 'missing-blob':
    case 'size-mismatch':
    case 'missing-child':
      // A push re-writes a blob that is missing or has the wrong size, and a missing manifest.
      return image ? `regbucket push <source> ${image}` : orDelete(f.manifest ?? f.digest);
    case 'tag-revision-missing':
      return either(image && `regbucket push <source> ${image}`, image && `regbucket delete ${image}`);
    case 'bad-manifest':
      return orDelete(f.digest);
    case 'unlinked-blob':
      // A sha512 reference's alias link holds a digest only a push can tell (the sha256 of the data).
      if (f.digest && isAliasDigest(f.digest)) return image ? `regbucket push <source> ${image}` : orDelete(f.manifest);
      return 'regbucket verify --fix';
    case 'malformed-link':
    case 'link-mismatch':
      return 'regbucket verify --fix';
    case 'tag-without-current':
      return image ? `regbucket delete ${image}` : undefined;
    default:
      return undefined;
  }
}
