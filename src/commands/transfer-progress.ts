import { formatBytes, type Output } from '../cli/output.js';
import type { CopyProgress, CopyStats } from '../image/image-copier.js';

/** A spinner line that follows a copy: blobs done, bytes moved. */
export function copyProgress(out: Output, verb: string): { progress: CopyProgress; done(): void } {
  const p = out.progress(`${verb}...`);
  let blobs = 0;
  let bytes = 0;
  return {
    progress: {
      onBlob(_d, r) {
        blobs++;
        bytes += r.bytes;
        p.update(`${verb}: ${blobs} blobs, ${formatBytes(bytes)} written`);
      },
    },
    done: () => p.done(),
  };
}

export function statsLine(s: CopyStats): string {
  const n = (k: number, one: string) => `${k} ${one}${k === 1 ? '' : 's'}`;
  const replaced = s.blobsReplaced ? ` (${s.blobsReplaced} of them replacing a damaged copy)` : '';
  return `${n(s.blobsUploaded, 'blob')} written (${formatBytes(s.bytesUploaded)})${replaced}, ${s.blobsSkipped} already present, ${n(s.manifestsWritten, 'manifest')} written`;
}
