import type { Command } from 'commander';
import type { StorageDriver } from '../drivers/driver.js';
import { isNotFound, NotFoundError, UsageError } from '../errors.js';
import { ROOT } from '../store/paths.js';
import { countsLine, observeCalls, RequestCounts, type RequestObserver } from '../drivers/request-log.js';
import { Output, type OutputMode } from './output.js';
import type { ProgressMode } from './progress.js';

export interface GlobalOptions {
  store?: string;
  json?: boolean;
  quiet?: boolean;
  /** A listing command's --format (json means --json). */
  format?: string;
  progress?: ProgressMode;
  concurrency: number;
  retries: number;
  /** --timeout, ms. */
  timeout: number;
  s3Endpoint?: string;
  s3Region?: string;
  /** -v: 1 (request counts at the end), -vv: 2 (each request too). */
  verbose?: number;
}

/** A driver that counts its own requests (S3: HTTP requests by S3 operation). */
interface CountsOwnRequests {
  requestCounts(): Record<string, number>;
  observeRequests(fn: RequestObserver): void;
}

function countsOwnRequests(d: StorageDriver): d is StorageDriver & CountsOwnRequests {
  const c = d as Partial<CountsOwnRequests>;
  return typeof c.requestCounts === 'function' && typeof c.observeRequests === 'function';
}

/** What a command needs from the CLI: options, the output, and the store (opened on demand). */
export class Context {
  private driver?: StorageDriver;
  readonly output: Output;
  /** -v: the stores opened, with their request counts. */
  private readonly observed: { url: string; counts: () => Record<string, number> }[] = [];

  constructor(readonly globals: GlobalOptions) {
    const mode: OutputMode = globals.json || globals.format === 'json' ? 'json' : globals.quiet ? 'quiet' : 'human';
    this.output = new Output(mode, globals.progress);
  }

  static from(cmd: Command): Context {
    return new Context(cmd.optsWithGlobals<GlobalOptions>());
  }

  get storeUrl(): string {
    const url = this.globals.store ?? process.env.REGBUCKET_STORE;
    if (!url) {
      throw new UsageError('no store given: pass --store <dir|file://dir|s3://bucket[/prefix]> or set REGBUCKET_STORE');
    }
    return url;
  }

  async store(): Promise<StorageDriver> {
    this.driver ??= await this.open(this.storeUrl);
    return this.driver;
  }

  /** The store, refused when it holds no registry storage: a mistyped --store is not an empty store. */
  async registryStore(): Promise<StorageDriver> {
    const d = await this.store();
    try {
      await d.stat(ROOT);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      throw new NotFoundError(`no registry storage in ${this.storeUrl} (nothing at ${ROOT.slice(1)}): check --store`);
    }
    return d;
  }

  /** Another store (copy --to). */
  async open(url: string): Promise<StorageDriver> {
    // Loaded here, not at start-up: `--help` never touches a driver, a directory never loads S3's.
    const { openLocalStore } = await import('../drivers/store-url.js');
    const local = openLocalStore(url);
    if (local) return this.observe(url, local);
    const { openDriver } = await import('../drivers/open.js');
    return this.observe(url, openDriver(url, { s3Endpoint: this.globals.s3Endpoint, s3Region: this.globals.s3Region, retries: this.globals.retries, timeoutMs: this.globals.timeout }));
  }

  /** -v counts the store's requests; -vv also prints each one (escaped) on stderr. */
  private observe(url: string, d: StorageDriver): StorageDriver {
    const level = this.globals.verbose ?? 0;
    if (level === 0) return d;
    const trace: RequestObserver | undefined = level >= 2 ? (op, target) => this.output.diagnostic(`request: ${d.name} ${op} ${target}`.trimEnd()) : undefined;
    if (countsOwnRequests(d)) {
      if (trace) d.observeRequests(trace);
      this.observed.push({ url, counts: () => d.requestCounts() });
      return d;
    }
    const counts = new RequestCounts();
    this.observed.push({ url, counts: () => counts.snapshot() });
    return observeCalls(d, (op, target) => {
      counts.add(op);
      trace?.(op, target);
    });
  }

  async close(): Promise<void> {
    try {
      await this.driver?.close();
    } finally {
      for (const o of this.observed) this.output.diagnostic(`storage requests (${o.url}): ${countsLine(o.counts())}`);
    }
  }
}
