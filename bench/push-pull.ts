// Push and pull of a multi-layer image (>= 200 MB) between an OCI layout and a filesystem store:
// regbucket against skopeo through the real registry on the same disk, and against the limit
// here (cp + sha256sum of the same bytes). Run: npx tsx bench/push-pull.ts [MB] [layers]
// (default 256 MB in 8 layers; the small-blob case: npx tsx bench/push-pull.ts 2.93 30, 30 x 100 KiB)
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../test/lab/cli.js';
import { makeLayout } from '../test/lab/images.js';
import { startRegistry } from '../test/lab/registry.js';
import { fmt, machine, median, sh } from './util.js';

const totalMb = Number(process.argv[2] ?? 256);
const layers = Number(process.argv[3] ?? 8);
const root = join(process.env.BENCH_DIR ?? '/tmp', `regbucket-bench-pushpull-${process.pid}`);
rmSync(root, { recursive: true, force: true });
mkdirSync(root, { recursive: true });
const layout = join(root, 'layout');
await makeLayout(layout, [{ ref: 'big', layers, layerSize: Math.floor((totalMb * 1024 * 1024) / layers) }]);
const bytes = Number(sh(`du -sb ${layout}/blobs | cut -f1`));

const registryStore = join(root, 'registry-store');
const registry = await startRegistry({ storage: { filesystem: registryStore } });
const rbStore = join(root, 'regbucket-store');
const skopeo = `skopeo --insecure-policy copy --dest-tls-verify=false --src-tls-verify=false`;
const runs = 3;
try {
  const skopeoPush = await median(
    runs,
    () => sh(`${skopeo} oci:${layout}:big docker://${registry.host}/bench/img:1`),
    () => {
      rmSync(registryStore, { recursive: true, force: true });
    },
  );
  const rbPush = await median(
    runs,
    () => sh(`node ${BIN} --store ${rbStore} push oci:${layout}:big bench/img:1`),
    () => {
      rmSync(rbStore, { recursive: true, force: true });
    },
  );
  // The registry must hold the image for the pull runs.
  sh(`${skopeo} oci:${layout}:big docker://${registry.host}/bench/img:1`);
  const out = join(root, 'out');
  const skopeoPull = await median(
    runs,
    () => sh(`${skopeo} docker://${registry.host}/bench/img:1 oci:${out}:1`),
    () => {
      rmSync(out, { recursive: true, force: true });
    },
  );
  const rbPull = await median(
    runs,
    () => sh(`node ${BIN} --store ${rbStore} pull bench/img:1 oci:${out}:1`),
    () => {
      rmSync(out, { recursive: true, force: true });
    },
  );
  const cpSum = await median(
    runs,
    () => sh(`cp -r ${layout}/blobs ${root}/cp && sha256sum ${root}/cp/sha256/* > /dev/null`),
    () => {
      rmSync(join(root, 'cp'), { recursive: true, force: true });
    },
  );
  const mb = bytes / 1024 / 1024;
  const lines = [
    `image: ${layers} layers, ${fmt(mb, 0)} MiB; ${machine()}; median of ${runs} runs`,
    `| operation | skopeo via registry (s) | regbucket (s) | ratio |`,
    `| --- | --- | --- | --- |`,
    `| push oci layout -> store | ${fmt(skopeoPush)} | ${fmt(rbPush)} | ${fmt(skopeoPush / rbPush, 1)}x |`,
    `| pull store -> oci layout | ${fmt(skopeoPull)} | ${fmt(rbPull)} | ${fmt(skopeoPull / rbPull, 1)}x |`,
    '',
    `push throughput: regbucket ${fmt(mb / rbPush, 0)} MiB/s; cp + sha256sum of the same bytes ${fmt(mb / cpSum, 0)} MiB/s (${fmt(cpSum)} s): regbucket runs at ${fmt(cpSum / rbPush)} of that limit`,
  ];
  console.log(lines.join('\n'));
} finally {
  await registry.stop();
  rmSync(root, { recursive: true, force: true });
}
