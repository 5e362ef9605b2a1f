// Pull into an OCI layout that holds the image already: the blobs there are checked, not trusted.
// A blob of the wrong size (or missing) is written again by a plain pull; one with the right size
// but other bytes only a re-hash finds (pull --repair). Either way every blob file of the layout
// hashes to its name afterwards.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { regbucketOk } from '../lab/cli.js';
import { makeLayout } from '../lab/images.js';
import { tempDir } from '../lab/tools.js';

interface PullStats {
  blobsUploaded: number;
  blobsReplaced: number;
  blobsSkipped: number;
}

function badBlobs(layout: string): string[] {
  const dir = join(layout, 'blobs', 'sha256');
  return readdirSync(dir).filter(
    (hex) =>
      createHash('sha256')
        .update(readFileSync(join(dir, hex)))
        .digest('hex') !== hex,
  );
}

describe('pull into an existing layout', () => {
  let store: string;
  let out: string;
  let layers: string[];
  const pull = async (...extra: string[]): Promise<PullStats> => (await regbucketOk(['--store', store, '--json', 'pull', ...extra, 'team/app:v1', `oci:${out}:v1`])).json<{ stats: PullStats }>().stats;

  beforeAll(async () => {
    const src = join(tempDir(), 'layout');
    const { roots } = await makeLayout(src, [{ ref: 'v1', layers: 3, layerSize: 2048 }]);
    layers = (JSON.parse(roots[0]!.bytes.toString()) as { layers: { digest: string }[] }).layers.map((l) => l.digest.slice(7));
    store = tempDir();
    out = join(tempDir(), 'out');
    await regbucketOk(['--store', store, 'push', `oci:${src}:v1`, 'team/app:v1']);
    expect((await pull()).blobsUploaded).toBe(4);
  }, 300_000);

  it('a pull of what the layout has writes nothing', async () => {
    expect(await pull()).toMatchObject({ blobsUploaded: 0, blobsSkipped: 0 });
  }, 300_000);

  it('a truncated and a missing blob are written again by a plain pull', async () => {
    truncateSync(join(out, 'blobs', 'sha256', layers[0]!), 10);
    unlinkSync(join(out, 'blobs', 'sha256', layers[1]!));
    expect(await pull()).toMatchObject({ blobsUploaded: 2, blobsReplaced: 1 });
    expect(badBlobs(out)).toEqual([]);
  }, 300_000);

  it('a corrupted blob of the right size: kept by a plain pull, replaced by pull --repair', async () => {
    const path = join(out, 'blobs', 'sha256', layers[2]!);
    const bytes = readFileSync(path);
    bytes[0]! ^= 0xff;
    writeFileSync(path, bytes);
    expect(await pull()).toMatchObject({ blobsUploaded: 0 });
    expect(badBlobs(out)).toEqual([layers[2]]);
    expect(await pull('--repair')).toMatchObject({ blobsUploaded: 1, blobsReplaced: 1 });
    expect(badBlobs(out)).toEqual([]);
  }, 300_000);
});
