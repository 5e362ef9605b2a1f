// On S3 (flat storage, no atomic rename) gc reads an old blob's time and then deletes it; a push
// that refreshes the blob's time in between to reuse it must not be told the blob is there. The
// interleaving is forced: the push starts right after gc's time check, before its delete.
// (gc-race-s3.test.ts lost the manifest blobs of two pushes this way, seed 928241066.)
import { describe, expect, it } from 'vitest';
import { MemoryDriver } from '../../src/drivers/memory.js';
import { runGc } from '../../src/gc/run.js';
import { blobExists, checkExisting, type ExistingBlob } from '../../src/store/blobs.js';
import { NOTICES_DIR } from '../../src/store/deletion-notices.js';
import { blobDataPath } from '../../src/store/paths.js';
import { image, orphan } from './store-builder.js';

const HOUR = 3_600_000;

describe('a push reusing an old blob while gc deletes it (flat storage)', () => {
  it('waits for the gc notice and then finds the blob absent (so it writes it again)', async () => {
    const d = new MemoryDriver();
    await image(d, 'app', { tag: 'v1' });
    const bytes = Buffer.from(`reused ${Math.random()}`);
    const o = await orphan(d, bytes);
    d.setModTime(blobDataPath(o), new Date(Date.now() - 2 * HOUR));

    let push: Promise<ExistingBlob> | undefined;
    let settled = false;
    let noticesAtDelete = 0;
    const hooked: MemoryDriver = Object.create(d);
    hooked.deleteFiles = async (paths: string[]) => {
      if (!push && paths.includes(blobDataPath(o))) {
        // gc has read the old time; a push refreshes it now and asks whether the blob is there.
        push = checkExisting(d, o, bytes.length).finally(() => (settled = true));
        await new Promise((r) => setTimeout(r, 100));
        for await (const _ of d.walk(NOTICES_DIR)) noticesAtDelete++;
      }
      return d.deleteFiles(paths);
    };
    await runGc(hooked, { dryRun: false, deleteUntagged: true, minAgeMs: HOUR, uploadsOlderThanMs: 7 * 24 * HOUR, concurrency: 4 });
    expect(push, 'the gc never deleted the orphan').toBeDefined();
    expect(noticesAtDelete).toBe(1);
    expect(settled, 'the push decided before the gc had deleted the blob').toBe(false);
    expect(await blobExists(d, o)).toBe(false);
    expect(await push).toBe('absent');
    const left: string[] = [];
    for await (const f of d.walk(NOTICES_DIR)) left.push(f.path);
    expect(left).toEqual([]);
  });
});
