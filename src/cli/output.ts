// The only place that writes to the terminal. Commands hand results here; the mode decides
// whether a human table, stable JSON, or nothing (quiet) comes out.
import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { Ora } from 'ora';
import { escapeLines, escapeText } from '../util/escape.js';

// ora and cli-table3 cost ~60 ms to load: only a terminal session pays for them.
const require = createRequire(import.meta.url);

export type OutputMode = 'human' | 'json' | 'quiet';

export interface Progress {
  update(text: string): void;
  done(): void;
}

const noProgress: Progress = { update() {}, done() {} };

export class Output {
  constructor(
    readonly mode: OutputMode,
    private readonly stdout: NodeJS.WriteStream = process.stdout,
    private readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {}

  /** Progress spinners only on an interactive terminal, never in CI, JSON or quiet mode. */
  get interactive(): boolean {
    return this.mode === 'human' && Boolean(this.stderr.isTTY) && !process.env.CI;
  }

  progress(text: string): Progress {
    if (!this.interactive) return noProgress;
    let spinner: Ora | undefined;
    let current = text;
    let stopped = false;
    void import('ora').then(({ default: ora }) => {
      if (!stopped) spinner = ora({ text: current, stream: this.stderr }).start();
    });
    return {
      update: (t) => {
        t = escapeText(t);
        current = t;
        if (spinner) spinner.text = t;
      },
      done: () => {
        stopped = true;
        spinner?.stop();
      },
    };
  }

  /**
   * The command's result: `json` for --json, `human` rendered otherwise. Human text passes
   * through escapeLines: whatever stored text a renderer forgot to escape, no control character
   * but its line breaks reaches the terminal (renderers escape single values with escapeText).
   */
  result(json: unknown, human: () => string | undefined): void {
    if (this.mode === 'json') this.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    else if (this.mode === 'human') {
      const text = human();
      if (text) this.stdout.write(escapeLines(text.endsWith('\n') ? text : `${text}\n`));
    }
  }

  /**
   * A --json result too big to build as one string (a million list entries), written piece by
   * piece as stdout drains. Nothing in other modes.
   */
  async jsonStream(pieces: Iterable<string>): Promise<void> {
    if (this.mode !== 'json') return;
    for (const p of pieces) if (!this.stdout.write(p)) await once(this.stdout, 'drain');
    this.stdout.write('\n');
  }

  /** Raw bytes to stdout (inspect --raw), whatever the mode. */
  raw(data: Buffer | string): void {
    this.stdout.write(data);
  }

  info(line: string): void {
    if (this.mode === 'human') this.stderr.write(`${escapeLines(line)}\n`);
  }

  warn(line: string): void {
    if (this.mode !== 'quiet') this.stderr.write(`regbucket: warning: ${escapeText(line)}\n`);
  }

  error(line: string): void {
    this.stderr.write(`regbucket: error: ${escapeText(line)}\n`);
  }

  /** Cells are escaped (escapeText): a tab or newline in stored text cannot forge a column or a row. */
  table(head: string[], cells: (string | number)[][]): string {
    const rows = cells.map((r) => r.map((c) => escapeText(String(c))));
    if (!this.stdout.isTTY) {
      return [head.join('\t'), ...rows.map((r) => r.join('\t'))].join('\n');
    }
    const Table = require('cli-table3') as typeof import('cli-table3');
    const t = new Table({ head, style: { head: [], border: [] } });
    t.push(...rows);
    return t.toString();
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** How long ago `time` was, in the largest whole unit (`3d ago`); `?` when unknown. */
export function formatAge(time: number, now: number): string {
  if (Number.isNaN(time)) return '?';
  const s = Math.max(0, Math.round((now - time) / 1000));
  const units: [number, string][] = [
    [86_400 * 365, 'y'],
    [86_400 * 7, 'w'],
    [86_400, 'd'],
    [3_600, 'h'],
    [60, 'm'],
  ];
  for (const [n, u] of units) if (s >= n) return `${Math.floor(s / n)}${u} ago`;
  return `${s}s ago`;
}
