// The only place that writes to the terminal. Commands hand results here; the mode decides
// whether a human table, stable JSON, or nothing (quiet) comes out.
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { escapeLines, escapeText } from '../util/escape.js';
import { tabular, type FormatFlags, type Tabular } from './format.js';
import { progressKind, startProgress, type Progress, type ProgressKind, type ProgressMode } from './progress.js';

// cli-table3 costs ~20 ms to load: only a terminal session pays for it.
const require = createRequire(import.meta.url);

/** Carried by every --json document (docs/json.md); raised only when a document changes incompatibly. */
export const SCHEMA_VERSION = 1;

export type OutputMode = 'human' | 'json' | 'quiet';
export type { Progress };

export class Output {
  private readonly progressAs: ProgressKind;
  /** How tables render: a listing command sets it from --format, --no-headers and --bytes. */
  private tab: Tabular;

  constructor(
    readonly mode: OutputMode,
    progress: ProgressMode = 'auto',
    private readonly stdout: NodeJS.WriteStream = process.stdout,
    private readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {
    // --json and -q keep stderr for errors unless plain progress lines were asked for by name.
    this.progressAs = mode === 'human' || progress === 'plain' ? progressKind(progress, stderr) : 'none';
    this.tab = tabular({}, Boolean(stdout.isTTY));
  }

  /** --format, --no-headers and --bytes of a listing command. */
  useFormat(flags: FormatFlags): void {
    this.tab = tabular(flags, Boolean(this.stdout.isTTY));
  }

  get tabular(): Tabular {
    return this.tab;
  }

  /** A size as the format wants it: exact bytes for tsv and --bytes, else KiB/MiB. */
  size(n: number): string {
    return this.tab.exactSizes ? String(n) : formatBytes(n);
  }

  /** A time (ISO 8601) as the format wants it: itself for tsv, else its age (`3d ago`). */
  time(iso: string | null | undefined, now: number): string {
    if (!iso) return '-';
    return this.tab.exactTimes ? iso : formatAge(Date.parse(iso), now);
  }

  /**
   * -q: the references a command read (ls, inspect, du) or wrote (push, copy, sync, tag), one a line
   * (escaped). Nothing in other modes, where result() prints.
   */
  references(refs: Iterable<string>): void {
    if (this.mode !== 'quiet') return;
    let text = '';
    for (const r of refs) text += `${escapeText(r)}\n`;
    this.stdout.write(text);
  }

  /** Whether progress is shown at all: commands skip building progress text otherwise. */
  get showsProgress(): boolean {
    return this.progressAs !== 'none';
  }

  /** Progress text is escaped (escapeText): stored names in it cannot move the cursor. */
  progress(text: string): Progress {
    const p = startProgress(this.progressAs, escapeText(text), this.stderr);
    return { update: (t) => p.update(escapeText(t)), done: () => p.done() };
  }

  /** The command's result: `json` for --json (with its schemaVersion), `human` rendered otherwise. */
  result(json: object, human: () => string | undefined): void {
    if (this.mode === 'json') this.stdout.write(`${JSON.stringify({ schemaVersion: SCHEMA_VERSION, ...json }, null, 2)}\n`);
    else if (this.mode === 'human') {
      const text = human();
      // escapeLines: whatever stored text a renderer forgot to escape, no control character but its
      // line breaks reaches the terminal (renderers escape single values with escapeText).
      if (text) this.stdout.write(escapeLines(text.endsWith('\n') ? text : `${text}\n`));
    }
  }

  /**
   * A --json result too big to build as one string (a million list entries), written piece by
   * piece as stdout drains. Nothing in other modes.
   */
  async jsonStream(pieces: Iterable<string>): Promise<void> {
    if (this.mode !== 'json') return;
    // The document's opening brace comes from here, with the schemaVersion; the pieces' own is dropped.
    let first = true;
    this.stdout.write(`{\n  "schemaVersion": ${SCHEMA_VERSION},`);
    for (const piece of pieces) {
      const p = first ? piece.replace(/^\s*\{/, '') : piece;
      first = false;
      if (!this.stdout.write(p)) await once(this.stdout, 'drain');
    }
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

  /** -v and -vv lines: on stderr in every mode (asked for by name), escaped. */
  diagnostic(line: string): void {
    this.stderr.write(`regbucket: ${escapeText(line)}\n`);
  }

  error(line: string): void {
    this.stderr.write(`regbucket: error: ${escapeText(line)}\n`);
  }

  /** A command's failure: the line on stderr and, with --json, the error document on stdout. */
  failure(message: string, exitCode: number, kind: string): void {
    this.error(message);
    if (this.mode === 'json') this.stdout.write(`${JSON.stringify({ schemaVersion: SCHEMA_VERSION, error: { message, exitCode, kind } }, null, 2)}\n`);
  }

  /** Cells are escaped (escapeText): a tab or newline in stored text cannot forge a column or a row. */
  table(head: string[], cells: (string | number)[][]): string {
    const rows = cells.map((r) => r.map((c) => escapeText(String(c))));
    if (this.tab.format === 'tsv') {
      return [...(this.tab.headers ? [head.join('\t')] : []), ...rows.map((r) => r.join('\t'))].join('\n');
    }
    const Table = require('cli-table3') as typeof import('cli-table3');
    const t = new Table({ ...(this.tab.headers ? { head } : {}), style: { head: [], border: [] } });
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
