// regbucket sync: 20 images from the real registry into a store; a second run moves nothing; a
// missing source is a bad line (exit 2, nothing copied); an unreachable one fails alone (exit 1).
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regbucket, regbucketOk } from '../lab/cli.js';
import { digestOf } from '../lab/images.js';
import { startRegistry, type RunningRegistry } from '../lab/registry.js';
import { skopeoInspectRaw, tempDir } from '../lab/tools.js';
import { seedRegistry } from './seed.js';

interface SyncJson {
  images: { source: string; destination: string; status: string; digest?: string; bytesMoved: number; error?: string }[];
  summary: { images: number; copied: number; unchanged: number; failed: number; bytesMoved: number };
}

const IMAGES = 20;

describe('regbucket sync', () => {
  let source: RunningRegistry;
  let digests: Map<string, string>;
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    source = await startRegistry({ storage: { filesystem: tempDir() } });
    stops.push(() => source.stop());
    const specs: Record<string, { layers: number; platforms?: string[] }> = {};
    for (let i = 0; i < IMAGES; i++) specs[`lib/img${i}:v1`] = i % 5 === 0 ? { layers: 2, platforms: ['linux/amd64', 'linux/arm64'] } : { layers: 2 };
    ({ digests } = await seedRegistry(source.host, specs));
  }, 600_000);
  afterAll(async () => {
    for (const s of stops) await s();
  });

  function lines(names: string[]): string {
    return ['# mirror list', ...names.map((n) => `docker://${source.host}/${n}   mirror/${n.split(':')[0]}   # ${n}`), ''].join('\n');
  }

  it('mirrors 20 images; a second run moves 0 bytes; a registry serving the store gives the same digests', async () => {
    const store = tempDir();
    const list = join(tempDir(), 'images.txt');
    writeFileSync(list, lines([...digests.keys()]));
    const first = (await regbucketOk(['--store', store, '--json', 'sync', '--src-tls-verify=false', list])).json<SyncJson>();
    expect(first.summary).toMatchObject({ images: IMAGES, copied: IMAGES, failed: 0 });
    expect(first.summary.bytesMoved).toBeGreaterThan(0);

    const second = (await regbucketOk(['--store', store, '--json', 'sync', '--src-tls-verify=false', list])).json<SyncJson>();
    expect(second.summary).toMatchObject({ images: IMAGES, copied: 0, unchanged: IMAGES, failed: 0, bytesMoved: 0 });

    const served = await startRegistry({ storage: { filesystem: store } });
    stops.push(() => served.stop());
    for (const [name, digest] of digests) {
      expect(digestOf(await skopeoInspectRaw(`docker://${served.host}/mirror/${name}`))).toBe(digest);
    }
    // The human summary: a row per image and the totals line.
    const human = await regbucketOk(['--store', store, 'sync', '--src-tls-verify=false', list]);
    expect(human.stdout.trim().split('\n')).toHaveLength(IMAGES + 2);
    expect(human.stdout).toContain(`0 copied, ${IMAGES} unchanged, 0 failed; 0 B moved`);
  }, 600_000);

  it('one missing source: exit 2 naming file:line before anything is copied; an unreachable one fails alone (exit 1)', async () => {
    const store = tempDir();
    const names = [...digests.keys()];
    names[7] = 'lib/missing:v1';
    const list = join(tempDir(), 'images.txt');
    writeFileSync(list, lines(names));
    const r = await regbucket(['--store', store, '--json', 'sync', '--src-tls-verify=false', list]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      `regbucket: error: ${list}:9: docker://${source.host}/lib/missing:v1: tag v1 is not in ${source.host}/lib/missing (or the repository does not exist)`,
    ]);
    expect(existsSync(join(store, 'docker'))).toBe(false);
    // Two lines with one destination: refused naming both, nothing copied.
    const twice = join(tempDir(), 'twice.txt');
    writeFileSync(twice, `docker://${source.host}/lib/img1:v1 mirror/x:v1\ndocker://${source.host}/lib/img2:v1 mirror/x:v1\n`);
    const dup = await regbucket(['--store', store, 'sync', '--src-tls-verify=false', twice]);
    expect(dup.code, dup.stderr).toBe(2);
    expect(dup.stderr.trim()).toBe(`regbucket: error: ${twice}:2: destination mirror/x:v1 is also the destination of ${twice}:1: give each image its own`);
    expect(existsSync(join(store, 'docker'))).toBe(false);
    // A registry that cannot be reached is not a bad line: that image fails, the others are copied.
    names[7] = 'lib/img7:v1';
    writeFileSync(list, `${lines(names.slice(0, 3))}docker://127.0.0.1:1/lib/gone:v1 mirror/gone\n`);
    const down = await regbucket(['--store', store, '--retries', '0', '--json', 'sync', '--src-tls-verify=false', list]);
    expect(down.code, down.stderr).toBe(1);
    expect(down.json<SyncJson>().summary).toMatchObject({ images: 4, copied: 3, failed: 1 });
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
  }, 600_000);

  it('reads YAML with per-image platforms; refuses a bad list before copying anything', async () => {
    const store = tempDir();
    const yaml = join(tempDir(), 'images.yaml');
    writeFileSync(
      yaml,
      [
        'images:',
        `  - source: docker://${source.host}/lib/img0:v1`,
        '    destination: arm/img0:stable',
        '    platforms: [linux/arm64]',
        `  - source: docker://${source.host}/lib/img1:v1`,
        '    destination: whole/img1',
      ].join('\n'),
    );
    const out = (await regbucketOk(['--store', store, '--json', 'sync', '--src-tls-verify=false', yaml])).json<SyncJson>();
    expect(out.images.map((i) => [i.destination, i.status])).toEqual([
      ['arm/img0:stable', 'copied'],
      ['whole/img1:v1', 'copied'],
    ]);
    expect(out.images[0]!.digest).not.toBe(digests.get('lib/img0:v1'));
    expect(out.images[1]!.digest).toBe(digests.get('lib/img1:v1'));

    const bad = join(tempDir(), 'bad.txt');
    writeFileSync(bad, `docker://${source.host}/lib/img2:v1 ok/img2\ndocker://${source.host}/lib/img3:v1 Bad/Name\n`);
    const refused = await regbucket(['--store', store, 'sync', '--src-tls-verify=false', bad]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${bad}:2: invalid repository name "Bad/Name"`);
    const nothing = await regbucket(['--store', store, 'pull', 'ok/img2:v1', `oci:${join(tempDir(), 'o')}`]);
    expect(nothing.code).toBe(1);
  }, 600_000);
});
