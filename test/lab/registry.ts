// The real distribution registry (Debian's docker-registry 2.8.2) on 127.0.0.1, on a directory
// or an S3 bucket, for interop tests and benchmarks.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import { dirname, join } from 'node:path';
import { requireTool, run, type ExecResult } from './exec.js';
import { tempDir } from './tools.js';
import { freePort, waitFor } from './ports.js';

export interface S3StorageConfig {
  endpoint: string;
  bucket: string;
  rootdirectory?: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

export type RegistryStorage = { filesystem: string } | { s3: S3StorageConfig };

export interface RegistryOptions {
  storage: RegistryStorage;
  /** htpasswd file content (bcrypt): turns on basic auth. */
  htpasswd?: string;
  /** PEM files: serve https instead of http. */
  tls?: { certificate: string; key: string };
  /** Pull-through cache mode: the upstream registry's URL (`proxy: remoteurl:`). */
  proxy?: string;
}

function storageYaml(s: RegistryStorage): string {
  if ('filesystem' in s) return `  filesystem:\n    rootdirectory: ${s.filesystem}\n`;
  const c = s.s3;
  return [
    '  s3:',
    `    accesskey: "${c.accessKeyId}"`,
    `    secretkey: "${c.secretAccessKey}"`,
    `    region: ${c.region}`,
    `    regionendpoint: ${c.endpoint}`,
    `    bucket: ${c.bucket}`,
    c.rootdirectory ? `    rootdirectory: ${c.rootdirectory}` : '',
    '    secure: false',
    '    v4auth: true',
    '    forcepathstyle: true',
    '',
  ]
    .filter((l) => l !== '')
    .join('\n')
    .concat('\n');
}

/** Writes a registry config file; the port is chosen by the caller. */
export function registryConfig(opts: RegistryOptions, port: number): string {
  const dir = tempDir('regbucket-registry-');
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    storageYaml(opts.storage).trimEnd(),
    '  delete:',
    '    enabled: true',
    '  cache:',
    '    blobdescriptor: ""',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    ...(opts.tls ? ['  tls:', `    certificate: ${opts.tls.certificate}`, `    key: ${opts.tls.key}`] : []),
    ...(opts.proxy ? ['proxy:', `  remoteurl: ${opts.proxy}`] : []),
  ];
  if (opts.htpasswd) {
    const hp = join(dir, 'htpasswd');
    writeFileSync(hp, opts.htpasswd);
    lines.push('auth:', '  htpasswd:', '    realm: regbucket-test', `    path: ${hp}`);
  }
  const path = join(dir, 'config.yml');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

export interface RunningRegistry {
  host: string;
  configPath: string;
  stop(): Promise<void>;
}

function registryEnv(): NodeJS.ProcessEnv {
  // The registry's S3 driver panics at start when AWS_CA_BUNDLE is set (test-lab.md).
  const env = { ...process.env };
  delete env.AWS_CA_BUNDLE;
  return env;
}

/** Status of a GET over https without certificate checks (a test registry's self-signed certificate). */
function httpsStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

export async function startRegistry(opts: RegistryOptions): Promise<RunningRegistry> {
  requireTool('docker-registry');
  const port = await freePort();
  const configPath = registryConfig(opts, port);
  // stderr goes to a file, not a pipe: a caller blocked in execFileSync (benchmarks) would stop
  // draining a pipe, and a registry that logs a lot would then stall on its next write.
  const logPath = join(dirname(configPath), 'registry.log');
  const logFd = openSync(logPath, 'a');
  const child: ChildProcess = spawn('docker-registry', ['serve', configPath], { env: registryEnv(), stdio: ['ignore', 'ignore', logFd] });
  closeSync(logFd);
  const tail = (): string => {
    try {
      return readFileSync(logPath, 'utf8').slice(-4000);
    } catch {
      return '';
    }
  };
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const host = `127.0.0.1:${port}`;
  try {
    await waitFor(`docker-registry on ${host}`, async () => {
      if (exited) throw new Error(`docker-registry exited: ${tail()}`);
      const status = opts.tls ? await httpsStatus(`https://${host}/v2/`) : (await fetch(`http://${host}/v2/`)).status;
      return status === 200 || status === 401;
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${tail()}`, { cause: err });
  }
  return {
    host,
    configPath,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}

/** The registry's offline garbage collector on a config (the store must not be served meanwhile). */
export function registryGarbageCollect(configPath: string, flags: string[] = [], timeoutMs = 1_800_000): Promise<ExecResult> {
  requireTool('docker-registry');
  return run('docker-registry', ['garbage-collect', ...flags, configPath], { env: registryEnv(), timeoutMs });
}
