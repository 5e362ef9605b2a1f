// A real S3 endpoint for tests and benchmarks: OpenStack Swift with its S3 API (s3api
// middleware) on 127.0.0.1, everything under one temp dir, on free ports (see
// ../shared/docs/test-lab.md for why Swift and not s3rver).
//
// API
//   startSwift({ wait?, workers? }): Promise<RunningSwift>
//                 starts memcached, the account/container/object servers and the proxy (s3api +
//                 tempauth + slo) on free ports; 2-15 s depending on load. `wait: false` returns
//                 once the processes are spawned (`.ready` resolves when it serves); `workers`
//                 per busy server (default 2, at most one per core).
//     .endpoint     http://127.0.0.1:PORT (path-style S3; sign with the credentials below)
//     .accessKey    'test:tester'   .secretKey 'testing'   .region 'us-east-1'
//     .credentials  { accessKeyId, secretAccessKey, region } (the shape registry.ts S3StorageConfig wants)
//     .env          AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION / AWS_ENDPOINT_URL_S3 for
//                   child processes (the regbucket CLI then needs no --s3-endpoint)
//     .createBucket(name)   CreateBucket, resolves when it exists
//     .stop()       kills every process and removes the temp dir (idempotent)
//   Teardown is reliable: the processes run in their own process groups, are killed on the
//   starting process's exit, and a watchdog shell kills them and removes the dir if the starting
//   process dies without running any handler (SIGKILL, a crashed worker).
//
// In vitest: test/lab/swift-setup.ts (a globalSetup in vitest.config.ts) starts ONE Swift for the
// whole run, in the background; its endpoint reaches the workers as REGBUCKET_TEST_S3_ENDPOINT.
//   const s3 = await freshS3Store({ prefix: 'store' });   // waits for Swift, makes a new bucket
//   s3.url        's3://<bucket>/store'
//   s3.args       ['--store', s3.url, '--s3-endpoint', endpoint]   for regbucket(...) in test/lab/cli.ts
//   s3.env        AWS_* credentials/region/endpoint                 the CLI's env argument
//   s3.driver({ partSize, multipartCopyThreshold, ... })            an S3Driver on it (close() it)
//   s3.bucket / s3.prefix / s3.endpoint / s3.credentials           e.g. startRegistry({ storage: { s3: {
//       endpoint: s3.endpoint, bucket: s3.bucket, rootdirectory: '/store', ...s3.credentials } } })
//   swiftLab()    { endpoint, credentials, env } without a bucket (does not wait).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { silenceSdkNodeVersionWarning } from '../../src/cli/sdk-warnings.js';
import { S3Driver, type S3DriverOptions } from '../../src/drivers/s3.js';
import { requireTool, runOk } from './exec.js';
import { freePort } from './ports.js';

// Test output stays free of the SDK's Node-version notice too (filtered as the CLI filters it).
silenceSdkNodeVersionWarning();

export const SWIFT_CREDENTIALS = { accessKeyId: 'test:tester', secretAccessKey: 'testing', region: 'us-east-1' } as const;

export interface RunningSwift {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; region: string };
  env: Record<string, string>;
  dir: string;
  createBucket(name: string): Promise<void>;
  /** Resolves when it serves (already resolved unless started with { wait: false }). */
  ready: Promise<void>;
  stop(): Promise<void>;
}

const TOOLS = ['memcached', 'swift-ring-builder', 'swift-account-server', 'swift-container-server', 'swift-object-server', 'swift-proxy-server'];

/** The [DEFAULT] section every server shares. */
function defaults(dir: string, port: number, name: string, workers: number, extra: string[] = []): string[] {
  return ['[DEFAULT]', ...extra, 'bind_ip = 127.0.0.1', `bind_port = ${port}`, `swift_dir = ${dir}/etc`, 'user = root', `workers = ${workers}`, 'log_level = WARNING', `log_name = ${name}`, ''];
}

function serverConf(dir: string, port: number, kind: 'account' | 'container' | 'object', workers: number): string {
  return [
    ...defaults(dir, port, kind, workers, [`devices = ${dir}/srv/node`, 'mount_check = false']),
    '[pipeline:main]',
    `pipeline = ${kind}-server`,
    '',
    `[app:${kind}-server]`,
    `use = egg:swift#${kind}`,
    '',
  ].join('\n');
}

function proxyConf(dir: string, port: number, memcachedPort: number, workers: number): string {
  return [
    ...defaults(dir, port, 'proxy', workers),
    '[pipeline:main]',
    'pipeline = catch_errors gatekeeper proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server',
    '',
    '[app:proxy-server]',
    'use = egg:swift#proxy',
    'account_autocreate = true',
    '',
    '[filter:tempauth]',
    'use = egg:swift#tempauth',
    'user_test_tester = testing .admin',
    '',
    '[filter:s3api]',
    'use = egg:swift#s3api',
    'location = us-east-1',
    '',
    '[filter:cache]',
    'use = egg:swift#memcache',
    `memcache_servers = 127.0.0.1:${memcachedPort}`,
    '',
    ...['slo', 'catch_errors', 'gatekeeper', 'proxy-logging', 'listing_formats', 'copy', 'dlo'].flatMap((f) => [`[filter:${f}]`, `use = egg:swift#${f.replace('-', '_')}`, '']),
  ].join('\n');
}

/** Kills a process group, ignoring one already gone. */
function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone
  }
}

export async function startSwift(opts: { wait?: boolean; workers?: number } = {}): Promise<RunningSwift> {
  for (const t of TOOLS) requireTool(t);
  const dir = mkdtempSync(join(tmpdir(), 'regbucket-swift-'));
  const etc = join(dir, 'etc');
  mkdirSync(etc, { recursive: true });
  mkdirSync(join(dir, 'srv', 'node', 'd1'), { recursive: true });
  const [accountPort, containerPort, objectPort, proxyPort, memcachedPort] = await distinctFreePorts(5);
  writeFileSync(
    join(etc, 'swift.conf'),
    `[swift-hash]\nswift_hash_path_suffix = ${randomBytes(8).toString('hex')}\nswift_hash_path_prefix = ${randomBytes(8).toString('hex')}\n\n[storage-policy:0]\nname = Policy-0\ndefault = yes\n`,
  );
  // The three rings at once (each step is a Python start-up).
  await Promise.all(
    (
      [
        ['account', accountPort],
        ['container', containerPort],
        ['object', objectPort],
      ] as const
    ).map(async ([ring, port]) => {
      const builder = join(etc, `${ring}.builder`);
      await runOk('swift-ring-builder', [builder, 'create', '10', '1', '1']);
      await runOk('swift-ring-builder', [builder, 'add', `r1z1-127.0.0.1:${port}/d1`, '1']);
      // rebalance exits 1 with a warning on a one-device ring that is nonetheless written.
      await runOk('sh', ['-c', `swift-ring-builder "$0" rebalance >/dev/null 2>&1; test -f "${join(etc, `${ring}.ring.gz`)}"`, builder]);
    }),
  );
  const confs = {
    account: join(etc, 'account-server.conf'),
    container: join(etc, 'container-server.conf'),
    object: join(etc, 'object-server.conf'),
    proxy: join(etc, 'proxy-server.conf'),
  };
  // A real S3 serves many requests at once; one Python worker per server would make the lab's
  // CPU the limit of every parallel client. One worker per core (at most `workers`).
  const workers = Math.max(1, Math.min(opts.workers ?? 2, availableParallelism()));
  writeFileSync(confs.account, serverConf(dir, accountPort!, 'account', 1));
  writeFileSync(confs.container, serverConf(dir, containerPort!, 'container', workers));
  writeFileSync(confs.object, serverConf(dir, objectPort!, 'object', workers));
  writeFileSync(confs.proxy, proxyConf(dir, proxyPort!, memcachedPort!, workers));

  const children: ChildProcess[] = [];
  let stderr = '';
  let stopped = false;
  const start = (cmd: string, args: string[]): ChildProcess => {
    // detached: its own process group, so killing the group takes the servers' workers too.
    const c = spawn(cmd, args, { cwd: dir, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr?.on('data', (b: Buffer) => {
      stderr = (stderr + `[${cmd}] ${b.toString()}`).slice(-6000);
    });
    c.on('exit', (code, signal) => {
      if (!stopped) stderr += `\n[${cmd}] exited ${code ?? signal}`;
    });
    c.unref();
    (c.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    children.push(c);
    return c;
  };
  const killAll = (): void => {
    for (const c of children) killGroup(c.pid);
  };
  const onExit = (): void => {
    stopped = true;
    killAll();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  start('memcached', ['-u', 'root', '-l', '127.0.0.1', '-p', String(memcachedPort), '-U', '0']);
  start('swift-account-server', [confs.account]);
  start('swift-container-server', [confs.container]);
  start('swift-object-server', [confs.object]);
  start('swift-proxy-server', [confs.proxy]);
  // Watchdog: when this process dies without running its exit handler, kill the servers and
  // remove the dir. It polls the parent once a second and is itself killed by stop().
  const pgids = children.map((c) => c.pid).filter((p): p is number => !!p);
  const watchdog = spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; for g in ${pgids.join(' ')}; do kill -9 -$g 2>/dev/null; done; rm -rf "$0"`, dir], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();

  const endpoint = `http://127.0.0.1:${proxyPort}`;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', onExit);
    killAll();
    killGroup(watchdog.pid);
    // Poll (a ref'd timer) rather than wait for 'exit' events of unref'd children.
    const deadline = Date.now() + 10_000;
    while (pgids.some(groupAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    rmSync(dir, { recursive: true, force: true });
  };
  const ready = (async () => {
    try {
      await waitUntilServing(endpoint, () => (stopped ? 'stopped before it served' : children.some((c) => c.exitCode !== null) ? 'a server exited' : undefined));
    } catch (err) {
      if (stopped) return; // stopped on purpose (a run that used no S3 store ended first)
      await stop();
      throw new Error(`${(err as Error).message}\n${stderr}`, { cause: err });
    }
  })();
  ready.catch(() => {});
  if (opts.wait !== false) await ready;
  return {
    endpoint,
    accessKey: SWIFT_CREDENTIALS.accessKeyId,
    secretKey: SWIFT_CREDENTIALS.secretAccessKey,
    region: SWIFT_CREDENTIALS.region,
    credentials: { ...SWIFT_CREDENTIALS },
    env: swiftEnv(endpoint),
    dir,
    createBucket: (name) => createBucket(endpoint, name),
    ready,
    stop,
  };
}

/**
 * Resolves once the proxy answers and a bucket can be made (the storage servers start after the
 * proxy's /info answers). `giveUp` returns a reason to stop waiting (stopped, a server exited).
 */
export async function waitUntilServing(endpoint: string, giveUp: () => string | undefined = () => undefined, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const probe = `probe${randomBytes(4).toString('hex')}`;
  let last: string;
  for (;;) {
    const reason = giveUp();
    if (reason) throw new Error(`Swift on ${endpoint}: ${reason}`);
    try {
      const r = await fetch(`${endpoint}/info`);
      if (r.status === 200) {
        await createBucket(endpoint, probe);
        return;
      }
      last = `GET /info answered ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`Swift on ${endpoint} did not serve within ${timeoutMs} ms (${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await freePort());
  return [...out];
}

/** Environment for a child process (the regbucket CLI, the AWS CLI) to reach the endpoint. */
export function swiftEnv(endpoint: string): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: SWIFT_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: SWIFT_CREDENTIALS.secretAccessKey,
    AWS_REGION: SWIFT_CREDENTIALS.region,
    AWS_ENDPOINT_URL_S3: endpoint,
  };
}

/** CreateBucket on the endpoint (an existing bucket of ours is fine). */
export async function createBucket(endpoint: string, name: string): Promise<void> {
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: SWIFT_CREDENTIALS.region,
    credentials: SWIFT_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
  try {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'BucketAlreadyOwnedByYou') throw err;
  } finally {
    client.destroy();
  }
}

// ---- the shared Swift of a vitest run (started by test/lab/swift-setup.ts) ----

export interface SwiftLab {
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string; region: string };
  env: Record<string, string>;
}

/** The run's Swift, from the globalSetup (REGBUCKET_TEST_S3_ENDPOINT, inherited by the workers). */
export function swiftLab(): SwiftLab {
  const endpoint = process.env.REGBUCKET_TEST_S3_ENDPOINT;
  if (!endpoint) {
    throw new Error('no Swift lab: REGBUCKET_TEST_S3_ENDPOINT is unset (test/lab/swift-setup.ts must be a globalSetup in vitest.config.ts)');
  }
  return { endpoint, credentials: { ...SWIFT_CREDENTIALS }, env: swiftEnv(endpoint) };
}

let bucketSeq = 0;
let labReady: Promise<void> | undefined;

/** A new bucket name, unique across workers and runs. */
export function bucketName(tag = 'test'): string {
  return `${tag}-${process.pid}-${++bucketSeq}-${randomBytes(3).toString('hex')}`.toLowerCase();
}

export interface S3TestStore {
  bucket: string;
  prefix: string;
  /** s3://bucket/prefix */
  url: string;
  /** CLI arguments that select this store: --store URL --s3-endpoint ENDPOINT. */
  args: string[];
  /** Environment for the CLI (credentials, region). */
  env: Record<string, string>;
  endpoint: string;
  credentials: SwiftLab['credentials'];
  /** An S3Driver on this store (close it after use); options override the defaults (small thresholds in tests). */
  driver(opts?: Partial<S3DriverOptions>): S3Driver;
}

/** A fresh, empty bucket on the run's Swift, with the store URL and CLI args to reach it. */
export async function freshS3Store(opts: { prefix?: string; tag?: string } = {}): Promise<S3TestStore> {
  const lab = swiftLab();
  labReady ??= waitUntilServing(lab.endpoint);
  await labReady;
  const bucket = bucketName(opts.tag);
  await createBucket(lab.endpoint, bucket);
  const prefix = opts.prefix ?? '';
  const url = prefix ? `s3://${bucket}/${prefix}` : `s3://${bucket}`;
  return {
    bucket,
    prefix,
    url,
    args: ['--store', url, '--s3-endpoint', lab.endpoint],
    env: lab.env,
    endpoint: lab.endpoint,
    credentials: lab.credentials,
    driver: (o = {}) => new S3Driver({ bucket, prefix, endpoint: lab.endpoint, credentials: lab.credentials, region: lab.credentials.region, ...o }),
  };
}
