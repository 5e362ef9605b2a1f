// Mirroring every tag of one repository from a live registry: `regbucket push --all-tags` writing
// a store directly, against `skopeo sync --src docker --dest docker` into a second registry that
// writes its own storage (the fair equivalent of writing a store). Both registries are the real
// registry 2.8.2 on 127.0.0.1, on the same disk; runs are interleaved.
// Run: npx tsx bench/mirror-tags.ts [tags] [KiB per own layer] [runs]
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../test/lab/cli.js';
import { runOk } from '../test/lab/exec.js';
import { LayoutWriter, makeLayerTar } from '../test/lab/images.js';
import { startRegistry, type RunningRegistry } from '../test/lab/registry.js';
import { fmt, machine, sh, timeIt } from './util.js';

// Async children: the registries' stderr pipes are read by this process's event loop (see bench/mirror.ts).
const bash = (cmd: string): Promise<string> => runOk('bash', ['-c', cmd], { timeoutMs: 900_000 });

const count = Number(process.argv[2] ?? 50);
const ownKib = Number(process.argv[3] ?? 256);
const runs = Number(process.argv[4] ?? 3);
const root = join(process.env.BENCH_DIR ?? '/tmp', `regbucket-bench-mirror-tags-${process.pid}`);
rmSync(root, { recursive: true, force: true });
mkdirSync(root, { recursive: true });

// 50 tags of one repository on a shared 4 MiB base layer, each with 2 own layers; every 10th a 2-platform index.
const layout = join(root, 'layout');
const w = new LayoutWriter(layout);
const base = [await makeLayerTar(4 * 1024 * 1024)];
for (let i = 0; i < count; i++) {
  await w.image({ ref: `1.${i}.0`, layers: 2, layerSize: ownKib * 1024, sharedLayers: base, platforms: i % 10 === 0 ? ['linux/amd64', 'linux/arm64'] : undefined });
}
w.write();
const bytes = Number(sh(`du -sb ${layout}/blobs | cut -f1`));
const sourceDir = join(root, 'source');
await bash(`node ${BIN} --store ${sourceDir} -q push --all-tags oci:${layout} bench/app >/dev/null`);
const source = await startRegistry({ storage: { filesystem: sourceDir } });

let seq = 0;
let dest: RunningRegistry | undefined;
let store = '';
const skopeo = () =>
  `skopeo --insecure-policy sync --all --preserve-digests --src docker --dest docker --src-tls-verify=false --dest-tls-verify=false ${source.host}/bench/app ${dest!.host}/mirror >/dev/null`;
const regbucket = () => `node ${BIN} --store ${store} -q push --src-tls-verify=false --all-tags docker://${source.host}/bench/app mirror/app >/dev/null`;

// CPU seconds (user + system) of a command and its children, beside its wall time: on a machine
// shared with other sessions, wall time is mostly the share of the cores a run gets.
const cpuFile = join(root, 'cpu');
const cpu: Record<string, number[]> = { skopeoFirst: [], skopeoSecond: [], rbFirst: [], rbSecond: [] };
const timed = async (key: keyof typeof cpu, cmd: string): Promise<number> => {
  const wall = await timeIt(() => bash(`/usr/bin/time -f '%U %S' -o ${cpuFile} bash -c ${JSON.stringify(cmd)}`));
  const [u, s] = readFileSync(cpuFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  cpu[key]!.push(u! + s!);
  return wall;
};
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const t = { skopeoFirst: [] as number[], skopeoSecond: [] as number[], rbFirst: [] as number[], rbSecond: [] as number[] };
try {
  const check = async () => {
    // Same tags, same digests on both sides: skopeo's registry and regbucket's store served by a registry.
    const tags = (await bash(`skopeo list-tags --tls-verify=false docker://${dest!.host}/mirror/app | grep -c '"1\\.'`)).trim();
    const served = await startRegistry({ storage: { filesystem: store } });
    try {
      for (const tag of ['1.0.0', `1.${count - 1}.0`]) {
        const a = await bash(`skopeo inspect --raw --tls-verify=false docker://${dest!.host}/mirror/app:${tag} | sha256sum`);
        const b = await bash(`skopeo inspect --raw --tls-verify=false docker://${served.host}/mirror/app:${tag} | sha256sum`);
        if (a !== b) throw new Error(`digest of ${tag} differs: skopeo ${a} regbucket ${b}`);
      }
    } finally {
      await served.stop();
    }
    if (Number(tags) !== count) throw new Error(`skopeo mirrored ${tags} tags, not ${count}`);
  };
  for (let r = 0; r < runs; r++) {
    // Interleaved, fresh destinations made outside the timed part.
    await dest?.stop();
    dest = await startRegistry({ storage: { filesystem: join(root, `registry-${++seq}`) } });
    store = join(root, `store-${++seq}`);
    t.skopeoFirst.push(await timed('skopeoFirst', skopeo()));
    t.rbFirst.push(await timed('rbFirst', regbucket()));
    t.skopeoSecond.push(await timed('skopeoSecond', skopeo()));
    t.rbSecond.push(await timed('rbSecond', regbucket()));
    if (r === 0) await check();
  }
  const [sf, ss, rf, rs] = [med(t.skopeoFirst), med(t.skopeoSecond), med(t.rbFirst), med(t.rbSecond)];
  const all = (xs: number[]) => xs.map((x) => fmt(x, 1)).join(', ');
  console.log(
    [
      `${count} tags of one repository (every 10th a 2-platform index; a shared 4 MiB base layer, 2 own layers of ${ownKib} KiB), ${fmt(bytes / 1024 / 1024, 0)} MiB of blobs; ${machine()}`,
      `median of ${runs} interleaved runs; load after: ${sh('cat /proc/loadavg').trim()}`,
      '',
      '| mirror run | skopeo sync into a registry (s) | regbucket push --all-tags into the store (s) | ratio |',
      '| --- | --- | --- | --- |',
      `| first (empty destination) | ${fmt(sf)} (${all(t.skopeoFirst)}) | ${fmt(rf)} (${all(t.rbFirst)}) | ${fmt(sf / rf, 1)}x |`,
      `| second (nothing changed) | ${fmt(ss)} (${all(t.skopeoSecond)}) | ${fmt(rs)} (${all(t.rbSecond)}) | ${fmt(ss / rs, 1)}x |`,
      '',
      '| CPU seconds (user + system, median) | skopeo | regbucket | ratio |',
      '| --- | --- | --- | --- |',
      `| first | ${fmt(med(cpu.skopeoFirst!))} | ${fmt(med(cpu.rbFirst!))} | ${fmt(med(cpu.skopeoFirst!) / med(cpu.rbFirst!), 1)}x |`,
      `| second | ${fmt(med(cpu.skopeoSecond!))} | ${fmt(med(cpu.rbSecond!))} | ${fmt(med(cpu.skopeoSecond!) / med(cpu.rbSecond!), 1)}x |`,
    ].join('\n'),
  );
} finally {
  await dest?.stop();
  await source.stop();
  rmSync(root, { recursive: true, force: true });
}
