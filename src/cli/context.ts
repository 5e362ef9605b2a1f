import type { Command } from 'commander';
import type { StorageDriver } from '../drivers/driver.js';
import { isNotFound, NotFoundError, UsageError } from '../errors.js';
import { ROOT } from '../store/paths.js';
import { Output, type OutputMode } from './output.js';
import type { ProgressMode } from './progress.js';

export interface GlobalOptions {
  store?: string;
  json?: boolean;
  quiet?: boolean;
  progress?: ProgressMode;
  concurrency: number;
  retries: number;
  /** --timeout, ms. */
  timeout: number;
  s3Endpoint?: string;
  s3Region?: string;
}

/** What a command needs from the CLI: options, the output, and the store (opened on demand). */
export class Context {
  private driver?: StorageDriver;
  readonly output: Output;

  constructor(readonly globals: GlobalOptions) {
    const mode: OutputMode = globals.json ? 'json' : globals.quiet ? 'quiet' : 'human';
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
    if (local) return local;
    const { openDriver } = await import('../drivers/open.js');
    return openDriver(url, { s3Endpoint: this.globals.s3Endpoint, s3Region: this.globals.s3Region, retries: this.globals.retries, timeoutMs: this.globals.timeout });
  }

  async close(): Promise<void> {
    await this.driver?.close();
  }
}
