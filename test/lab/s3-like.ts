// The memory driver with S3's listing facts, for unit tests of flat-listing code: each listed key
// carries its ETag (the MD5 of its bytes, as for single-PUT objects); walks and reads are counted.
import { createHash } from 'node:crypto';
import type { FileInfo } from '../../src/drivers/driver.js';
import { MemoryDriver } from '../../src/drivers/memory.js';

export class S3LikeDriver extends MemoryDriver {
  walks: string[] = [];
  reads: string[] = [];
  override async *walk(path: string): AsyncIterable<FileInfo> {
    this.walks.push(path);
    for await (const f of super.walk(path)) {
      yield {
        ...f,
        etag: createHash('md5')
          .update(await super.getContent(f.path))
          .digest('hex'),
      };
    }
  }
  override getContent(path: string): Promise<Buffer> {
    this.reads.push(path);
    return super.getContent(path);
  }
}
