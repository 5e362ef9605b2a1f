// --format, --no-headers and --bytes of the listing commands (ls, inspect, du): a table for people,
// tab-separated exact values for scripts (`cut`, `awk`, `sort -n`), or the --json document.
import { Option, type Command } from 'commander';

export const FORMATS = ['table', 'tsv', 'json'] as const;
export type Format = (typeof FORMATS)[number];

export interface FormatFlags {
  format?: Format;
  /** false with --no-headers. */
  headers?: boolean;
  bytes?: boolean;
}

export function addFormatOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--format <format>',
        'table (sizes and ages for people; the default on a terminal), tsv (tab-separated exact values: bytes, ISO 8601 times, full media types; the default when stdout is not a terminal) or json (the --json document)',
      ).choices(FORMATS),
    )
    .option('--no-headers', 'table and tsv: leave out the header row')
    .option('--bytes', 'table: sizes as exact byte counts');
}

/** How a listing renders once --json is out of the way. */
export interface Tabular {
  format: 'table' | 'tsv';
  headers: boolean;
  /** Sizes in bytes and times in ISO 8601 (tsv always; table with --bytes for sizes). */
  exactSizes: boolean;
  exactTimes: boolean;
}

export function tabular(flags: FormatFlags, stdoutIsTTY: boolean): Tabular {
  const format = flags.format === 'table' || flags.format === 'tsv' ? flags.format : stdoutIsTTY ? 'table' : 'tsv';
  return { format, headers: flags.headers !== false, exactSizes: format === 'tsv' || Boolean(flags.bytes), exactTimes: format === 'tsv' };
}
