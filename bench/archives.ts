// Archives into and out of a filesystem store: regbucket against skopeo through the real registry
// on the same disk. Image: 8 layers of random bytes (~200 MiB). Rows: push of a docker-archive
// (uncompressed layers, as docker save writes them) and of an oci-archive (gzip layers), pull into
// a docker-archive. Run: npx tsx bench/archives.ts [MB]
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../test/lab/cli.js';
import { makeLayout } from '../test/lab/images.js';
import { startRegistry } from '../test/lab/registry.js';
import { fmt, machine, median, sh } from './util.js';

const totalMb = Number(process.argv[2] ?? 200);
const layers = 8;
const root = join(process.env.BENCH_DIR ?? '/tmp', `regbucket-bench-archives-${process.pid}`);
rmSync(root, { recursive: true, force: true });
mkdirSync(root, { recursive: true });
const layout = join(root, 'layout');
await makeLayout(layout, [{ ref: 'big', layers, layerSize: Math.floor((totalMb * 1024 * 1024) / layers) }]);
const skopeo = `skopeo --insecure-policy copy --dest-tls-verify=false --src-tls-verify=false`;
const dockerArchive = join(root, 'docker.tar');
const ociArchive = join(root, 'oci.tar');
sh(`${skopeo} oci:${layout}:big docker-archive:${dockerArchive}:bench/img:1`);
sh(`${skopeo} oci:${layout}:big oci-archive:${ociArchive}:big`);

// A fresh registry for every skopeo run, not a store wiped under a running one: that registry logs
// an error per request into its stderr pipe, which nobody drains while execFileSync blocks this
// process, and it stalls on the full pipe (skopeo then waits forever).
const registryStore = join(root, 'registry-store');
let registry = await startRegistry({ storage: { filesystem: registryStore } });
const freshRegistry = async (): Promise<void> => {
  await registry.stop();
  rmSync(registryStore, { recursive: true, force: true });
  registry = await startRegistry({ storage: { filesystem: registryStore } });
};
const rbStore = join(root, 'regbucket-store');
const runs = 3;
const wipe = (d: string) => () => rmSync(d, { recursive: true, force: true });
try {
  const rows: [string, number, number][] = [];
  for (const [what, src] of [
    ['push docker-archive (uncompressed layers) -> store', `docker-archive:${dockerArchive}`],
    ['push oci-archive (gzip layers) -> store', `oci-archive:${ociArchive}`],
  ] as const) {
    console.error(`running: ${what}`);
    const s = await median(runs, () => sh(`${skopeo} ${src} docker://${registry.host}/bench/img:1`), freshRegistry);
    const r = await median(runs, () => sh(`node ${BIN} --store ${rbStore} push ${src} bench/img:1`), wipe(rbStore));
    rows.push([what, s, r]);
  }
  // The same image from an OCI layout directory: what reading through an archive costs on top.
  const fromLayout = await median(runs, () => sh(`node ${BIN} --store ${rbStore} push oci:${layout}:big bench/img:1`), wipe(rbStore));
  // Both stores hold the oci-archive's image for the pull rows.
  sh(`${skopeo} oci-archive:${ociArchive} docker://${registry.host}/bench/img:1`);
  sh(`node ${BIN} --store ${rbStore} push oci-archive:${ociArchive} bench/img:1`);
  const out = join(root, 'out.tar');
  const sp = await median(runs, () => sh(`${skopeo} docker://${registry.host}/bench/img:1 docker-archive:${out}:bench/img:1`), wipe(out));
  const rp = await median(runs, () => sh(`node ${BIN} --store ${rbStore} pull bench/img:1 docker-archive:${out}`), wipe(out));
  rows.push(['pull store -> docker-archive', sp, rp]);
  const mb = statSync(dockerArchive).size / 1024 / 1024;
  const lines = [
    `image: ${layers} layers, docker-archive ${fmt(mb, 0)} MiB, oci-archive ${fmt(statSync(ociArchive).size / 1024 / 1024, 0)} MiB; ${machine()}; load ${sh('cut -d" " -f1-3 /proc/loadavg').trim()}; median of ${runs} runs`,
    '| operation | skopeo via registry (s) | regbucket (s) | ratio |',
    '| --- | --- | --- | --- |',
    ...rows.map(([w, s, r]) => `| ${w} | ${fmt(s)} | ${fmt(r)} | ${fmt(s / r, 1)}x |`),
    '',
    `regbucket push of the same image from an OCI layout directory: ${fmt(fromLayout)} s`,
  ];
  console.log(lines.join('\n'));
} finally {
  await registry.stop();
  rmSync(root, { recursive: true, force: true });
}
