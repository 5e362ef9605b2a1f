// A registry (docker:// source) that stops answering: requests with no answer, and blob bodies
// that stall mid-way, through the lab proxy in front of the real registry. With retries the push
// completes (a stalled blob resumes with a Range request); with --retries 0 it fails in one line
// (exit 1) within --timeout, never hangs, and the store keeps nothing half-written.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket } from '../lab/cli.js';
import { startProxy, type RunningProxy } from '../lab/proxy.js';
import { startRegistry, type RunningRegistry } from '../lab/registry.js';
import { tempDir } from '../lab/tools.js';
import { seedRegistry } from '../mirror/seed.js';
import { tagsComplete, verifyStore } from './harness.js';
import { FilesystemDriver } from '../../src/drivers/filesystem.js';

describe('a registry source that stalls', () => {
  let registry: RunningRegistry;
  let proxy: RunningProxy;
  let digest: string;

  beforeAll(async () => {
    registry = await startRegistry({ storage: { filesystem: tempDir() } });
    const seeded = await seedRegistry(registry.host, { 'lib/app:v1': { layers: 2, layerSize: 64 * 1024 } });
    digest = seeded.digests.get('lib/app:v1')!;
    proxy = await startProxy({ target: `http://${registry.host}` });
  }, 300_000);
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  const blobGet = (_op: string, url: string) => url.includes('/blobs/sha256:');
  const push = (store: string, retries: number) =>
    regbucket(['--store', store, '--timeout', '2s', '--retries', String(retries), 'push', '--src-tls-verify=false', `docker://127.0.0.1:${proxy.port}/lib/app:v1`, 'app:v1']);

  it('blob requests never answered and bodies stalled mid-way are retried and resumed', async () => {
    const store = tempDir();
    proxy.quirks = { stallHeaders: { match: blobGet, count: 1 }, stallBody: { match: blobGet, count: 2, afterBytes: 1000 } };
    proxy.reset();
    const r = await push(store, 3);
    expect(r.code, r.stderr).toBe(0);
    expect(proxy.quirked()).toMatchObject({ headers: 1, body: 2 });
    expect(Object.fromEntries(await tagsComplete(new FilesystemDriver(store)))).toEqual({ 'app:v1': digest });
    expect((await verifyStore(['--store', store])).problems).toEqual([]);
  }, 300_000);

  it('with --retries 0 a stall is one line, exit 1, and no tag is written', async () => {
    for (const quirks of [{ stallHeaders: { match: blobGet, count: 100 } }, { stallBody: { match: blobGet, count: 100, afterBytes: 1000 } }]) {
      const store = tempDir();
      proxy.quirks = quirks;
      const r = await push(store, 0);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(/^regbucket: error: .*(no byte in 2 s|connection lost|ETIMEDOUT)/);
      expect(existsSync(join(store, 'docker/registry/v2/repositories/app/_manifests'))).toBe(false);
    }
    proxy.quirks = {};
  }, 300_000);
});
