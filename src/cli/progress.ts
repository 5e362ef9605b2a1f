// Progress on stderr while a command runs. Three renderers, chosen once per run:
// - spinner: a terminal that can redraw a line (a TTY that reports its width, TERM not "dumb");
// - plain:   one line every few seconds with phase and counts (cron, CI logs, dumb terminals);
// - none:    --progress none, --json, -q, or a non-terminal stderr under --progress auto.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { Ora } from 'ora';

// ora costs ~60 ms to load: only a run that shows a spinner pays for it.
const require = createRequire(import.meta.url);

export type ProgressMode = 'auto' | 'plain' | 'none';
export const PROGRESS_MODES: readonly ProgressMode[] = ['auto', 'plain', 'none'];

export interface Progress {
  update(text: string): void;
  done(): void;
}

export type ProgressKind = 'spinner' | 'plain' | 'none';

interface Env {
  readonly [k: string]: string | undefined;
}

/** Whether colours may be written: NO_COLOR (any value, https://no-color.org) and TERM=dumb turn them off. */
export function colorAllowed(stream: { isTTY?: boolean }, env: Env = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return Boolean(stream.isTTY);
}

/**
 * Which renderer a run gets. A TTY that reports 0 columns (`script` without a terminal,
 * `docker run -t` in its first moments, CI wrappers) cannot host a spinner: ora computes
 * text-width / columns lines to clear and loops forever on Infinity.
 */
export function progressKind(mode: ProgressMode, stream: { isTTY?: boolean; columns?: number }, env: Env = process.env): ProgressKind {
  if (mode === 'none') return 'none';
  if (mode === 'plain') return 'plain';
  if (!stream.isTTY || env.CI) return 'none';
  if (!stream.columns || stream.columns < 1 || env.TERM === 'dumb') return 'plain';
  return 'spinner';
}

const noProgress: Progress = { update() {}, done() {} };

/** Seconds between plain lines: REGBUCKET_PROGRESS_INTERVAL (0 prints every change; tests), else 5. */
function plainIntervalMs(env: Env): number {
  const v = Number(env.REGBUCKET_PROGRESS_INTERVAL);
  return env.REGBUCKET_PROGRESS_INTERVAL !== undefined && Number.isFinite(v) && v >= 0 ? v * 1000 : 5000;
}

function plainProgress(first: string, stream: NodeJS.WritableStream, env: Env): Progress {
  const every = plainIntervalMs(env);
  const started = Date.now();
  let current = first;
  let printed = '';
  let last = 0;
  const print = (): void => {
    if (current === printed) return;
    printed = current;
    last = Date.now();
    const s = Math.floor((last - started) / 1000);
    stream.write(`[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${current}\n`);
  };
  // A timer too, so a phase that stops reporting (a long listing) is still seen every few seconds.
  const timer = every > 0 ? setInterval(print, every) : undefined;
  timer?.unref();
  print();
  return {
    update(t) {
      current = t;
      if (Date.now() - last >= every) print();
    },
    done() {
      if (timer) clearInterval(timer);
      print();
    },
  };
}

function spinnerProgress(text: string, stream: NodeJS.WriteStream, env: Env): Progress {
  // The text is cut to the terminal's width: a wrapped line cannot be redrawn in place.
  const fit = (t: string): string => {
    const room = Math.max(1, (stream.columns || 80) - 3);
    return t.length > room ? `${t.slice(0, room - 1)}…` : t;
  };
  let current = text;
  let spinner: Ora | undefined;
  let stopped = false;
  // A terminal resized to 0 columns mid-run: the spinner stops and plain lines take over.
  let fallback: Progress | undefined;
  const onResize = (): void => {
    if (fallback || stopped || stream.columns > 0) return;
    spinner?.stop();
    fallback = plainProgress(current, stream, env);
  };
  stream.on('resize', onResize);
  // ora is an ES module: imported by URL, so the bundles leave it out and only a terminal loads it.
  void import(pathToFileURL(require.resolve('ora')).href).then(({ default: ora }: typeof import('ora')) => {
    if (stopped || fallback) return;
    spinner = ora({
      text: fit(current),
      stream,
      color: colorAllowed(stream, env) ? 'cyan' : false,
      // Leave stdin alone: a pipe into regbucket is not ours to put into raw mode.
      discardStdin: false,
    }).start();
  });
  return {
    update(t) {
      current = t;
      if (fallback) fallback.update(t);
      else if (spinner) spinner.text = fit(t);
    },
    done() {
      stopped = true;
      stream.off('resize', onResize);
      if (fallback) fallback.done();
      else spinner?.stop();
    },
  };
}

export function startProgress(kind: ProgressKind, text: string, stream: NodeJS.WriteStream, env: Env = process.env): Progress {
  if (kind === 'none') return noProgress;
  if (kind === 'plain') return plainProgress(text, stream, env);
  return spinnerProgress(text, stream, env);
}
