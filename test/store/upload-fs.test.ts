import { readdirSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';
import { DigestMismatchError, SizeMismatchError } from '../../src/errors.js';
import { sha256 } from '../../src/image/digest.js';
import { uploadBlob } from '../../src/store/blobs.js';
import { tempDir } from '../lab/tools.js';

function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name);
}

describe('blob upload on a filesystem store, streaming sources that lie', () => {
  it.each([
    ['longer than declared', Buffer.alloc(3 << 20, 7), 1 << 20, SizeMismatchError],
    ['shorter than declared', Buffer.alloc(1 << 20, 7), 3 << 20, SizeMismatchError],
    ['same size, other bytes', Buffer.alloc(1 << 20, 7), 1 << 20, DigestMismatchError],
  ])('%s: typed error, no file anywhere in the store', async (_name, bytes, size, type) => {
    const root = tempDir();
    const d = new FilesystemDriver(root);
    const claimed = sha256(Buffer.alloc(size, 1));
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 64 * 1024) chunks.push(bytes.subarray(i, i + 64 * 1024));
    await expect(uploadBlob(d, 'r', { digest: claimed, size }, async () => Readable.from(chunks))).rejects.toBeInstanceOf(type);
    expect(allFiles(root)).toEqual([]);
  });

  it('a source stream that fails midway leaves no file', async () => {
    const root = tempDir();
    const d = new FilesystemDriver(root);
    async function* failing() {
      yield Buffer.alloc(1 << 20);
      throw new Error('connection reset');
    }
    await expect(uploadBlob(d, 'r', { digest: sha256('x'), size: 2 << 20 }, async () => Readable.from(failing()))).rejects.toThrow(/connection reset/);
    expect(allFiles(root)).toEqual([]);
  });
});
