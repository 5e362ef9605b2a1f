// Mirroring 20 images from a live registry into a store: `regbucket sync` writing the store
// directly, against `skopeo copy` loops into a registry serving a store (what users do today).
// Both sources and destinations are the real registry on 127.0.0.1, on the same disk.
// Run: npx tsx bench/mirror.ts [images] [MiB per own layer] [--no-s3]
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../test/lab/cli.js';
import { LayoutWriter, makeLayerTar } from '../test/lab/images.js';
import { startRegistry, type RunningRegistry } from '../test/lab/registry.js';
import { bucketName, startSwift } from '../test/lab/swift.js';
import { runOk } from '../test/lab/exec.js';
import { fmt, machine, median, sh } from './util.js';

// Async: the registries' stderr pipes are read by this process's event loop; a synchronous
// child (execFileSync) would block it, the pipes would fill and the registries would stall.
const bash = (cmd: string, env: NodeJS.ProcessEnv = {}): Promise<string> => runOk('bash', ['-c', cmd], { timeoutMs: 900_000, env: { ...process.env, ...env } });

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const count = Number(args[0] ?? 20);
const layerMb = Number(args[1] ?? 1);
const withS3 = !process.argv.includes('--no-s3');
const root = join(process.env.BENCH_DIR ?? '/tmp', `regbucket-bench-mirror-${process.pid}`);
rmSync(root, { recursive: true, force: true });
mkdirSync(root, { recursive: true });

// 20 images on one shared 4 MiB base layer, each with 2 own layers; every 5th is a 2-platform index.
const layout = join(root, 'layout');
const w = new LayoutWriter(layout);
const base = [await makeLayerTar(4 * 1024 * 1024)];
const names: string[] = [];
for (let i = 0; i < count; i++) {
  const platforms = i % 5 === 0 ? ['linux/amd64', 'linux/arm64'] : undefined;
  await w.image({ ref: `img${i}`, layers: 2, layerSize: layerMb * 1024 * 1024, sharedLayers: base, platforms });
  names.push(`mirror/img${i}:v1`);
}
w.write();
const bytes = Number(sh(`du -sb ${layout}/blobs | cut -f1`));

// The source registry serves a store regbucket filled from the layout (quicker than 20 skopeo pushes).
const sourceDir = join(root, 'source');
for (let i = 0; i < count; i++) await bash(`node ${BIN} --store ${sourceDir} -q push oci:${layout}:img${i} ${names[i]}`);
const source = await startRegistry({ storage: { filesystem: sourceDir } });
const skopeo = 'skopeo --insecure-policy copy --all --src-tls-verify=false --dest-tls-verify=false';
const list = join(root, 'images.txt');
writeFileSync(list, names.map((n) => `docker://${source.host}/${n} ${n}`).join('\n'));
let seq = 0;

/**
 * One table: skopeo loops into a fresh registry (one by one, and 4 at once), then a second loop
 * with nothing to do; regbucket sync into a fresh store, then again. Fresh destinations are made
 * outside the timed part.
 */
async function compare(title: string, runs: number, freshRegistry: () => Promise<RunningRegistry>, freshStore: () => Promise<string>, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  let reg: RunningRegistry | undefined;
  let store = '';
  const loop = () => names.map((n) => `${skopeo} docker://${source.host}/${n} docker://${reg!.host}/${n} >/dev/null`).join('\n');
  const loopP = () => `printf '%s\\n' ${names.join(' ')} | xargs -P 4 -I{} ${skopeo} docker://${source.host}/{} docker://${reg!.host}/{} >/dev/null`;
  const sync = () => `node ${BIN} --store ${store} -q sync --src-tls-verify=false ${list}`;
  const newRegistry = async () => {
    await reg?.stop();
    reg = await freshRegistry();
  };
  try {
    const skopeoCold = await median(runs, () => bash(loop()), newRegistry);
    const skopeoWarm = await median(runs, () => bash(loop()));
    const skopeoPar = await median(runs, () => bash(loopP()), newRegistry);
    const rbCold = await median(
      runs,
      () => bash(sync(), env),
      async () => {
        store = await freshStore();
      },
    );
    const rbWarm = await median(runs, () => bash(sync(), env));
    return [
      `${title}; ${runs === 1 ? 'one run each' : `median of ${runs} runs`}; load after: ${sh('cat /proc/loadavg').trim()}`,
      '',
      '| mirror run | skopeo copy loop into a registry (s) | regbucket sync into the store (s) | ratio |',
      '| --- | --- | --- | --- |',
      `| first (empty destination), skopeo one by one | ${fmt(skopeoCold)} | ${fmt(rbCold)} | ${fmt(skopeoCold / rbCold, 1)}x |`,
      `| first (empty destination), skopeo 4 at once (xargs -P 4) | ${fmt(skopeoPar)} | ${fmt(rbCold)} | ${fmt(skopeoPar / rbCold, 1)}x |`,
      `| second (nothing changed), skopeo one by one | ${fmt(skopeoWarm)} | ${fmt(rbWarm)} | ${fmt(skopeoWarm / rbWarm, 1)}x |`,
      '',
    ];
  } finally {
    await reg?.stop();
  }
}

const stops: (() => Promise<void>)[] = [() => source.stop()];
try {
  console.log(`${count} images (every 5th a 2-platform index; a shared 4 MiB base layer, 2 own layers of ${layerMb} MiB), ${fmt(bytes / 1024 / 1024, 0)} MiB of blobs; ${machine()}\n`);
  const fsRows = await compare(
    'filesystem destination',
    3,
    () => startRegistry({ storage: { filesystem: join(root, `registry-${++seq}`) } }),
    async () => join(root, `store-${++seq}`),
  );
  console.log(fsRows.join('\n'));
  if (withS3) {
    const swift = await startSwift();
    stops.push(() => swift.stop());
    const bucket = async (): Promise<string> => {
      const b = bucketName('benchmirror');
      await swift.createBucket(b);
      return b;
    };
    const s3Rows = await compare(
      'S3 destination (Swift on 127.0.0.1, no added latency)',
      1,
      async () => startRegistry({ storage: { s3: { endpoint: swift.endpoint, bucket: await bucket(), ...swift.credentials } } }),
      async () => `s3://${await bucket()}`,
      swift.env,
    );
    console.log(s3Rows.join('\n'));
  }
} finally {
  for (const s of stops.reverse()) await s();
  rmSync(root, { recursive: true, force: true });
}
