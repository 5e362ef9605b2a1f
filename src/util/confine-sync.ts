// Opening a file of a local store without following a symlink on any path component, and never
// opening (so never blocking on) a FIFO, socket or device. Node has no openat(): the final
// component is opened with O_NOFOLLOW | O_NONBLOCK, and on Linux the path the kernel reports for
// the opened handle (/proc/self/fd/N) must be the path asked for, which it is not when any
// directory on the way was a symlink. Elsewhere each component is checked with lstat first.
//
// Self-contained (no imports, nothing from outside its body): worker threads are started from
// its source text (see util/threads.ts, drivers/local-reads/thread-pool.ts, verify/hashing/thread-pool.ts), and it runs on the main thread too.

export type EntryType = 'file' | 'dir' | 'symlink' | 'other';

/** Why a path is not opened: missing, or a hazard found at `at` (a local path). */
export type OpenRefusal = { refused: 'missing' } | { refused: 'symlink' | 'special' | 'loop'; at: string };

export interface ConfinedFs {
  /** Whether /proc/self/fd tells where an opened handle is (checked once per root). */
  procWorks(realRoot: string): boolean;
  /** Walks `rel` below `realRoot` with lstat; the first symlink or special component, or missing/undefined. */
  classify(realRoot: string, rel: string): OpenRefusal | undefined;
  /** Opens realRoot + rel; rel is "" or "/a/b". Regular files and directories only. */
  /** O_PATH (0 where there is none): open without reading, for a stat of the entry itself. */
  readonly O_PATH: number;
  open(realRoot: string, rel: string, flags: number, proc: boolean): { fd: number; st: import('node:fs').Stats } | OpenRefusal;
}

export function confinedFs(fs: typeof import('node:fs')): ConfinedFs {
  const c = fs.constants;
  const O_PATH = process.platform === 'linux' ? 0o10000000 : 0;
  const codeOf = (err: unknown): string => String((err as { code?: string }).code ?? '');
  const special = (st: import('node:fs').Stats): boolean => !st.isFile() && !st.isDirectory() && !st.isSymbolicLink();

  const isLoop = (local: string): boolean => {
    try {
      fs.statSync(local);
      return false;
    } catch (err) {
      return codeOf(err) === 'ELOOP';
    }
  };

  const classify = (realRoot: string, rel: string): OpenRefusal | undefined => {
    const parts = rel === '' ? [] : rel.slice(1).split('/');
    let local = realRoot;
    for (let i = 0; i < parts.length; i++) {
      local += '/' + parts[i];
      let st: import('node:fs').Stats;
      try {
        st = fs.lstatSync(local);
      } catch (err) {
        const code = codeOf(err);
        if (code === 'ENOENT' || code === 'ENOTDIR') return { refused: 'missing' };
        throw err;
      }
      if (st.isSymbolicLink()) return { refused: isLoop(local) ? 'loop' : 'symlink', at: local };
      if (special(st)) return { refused: 'special', at: local };
      if (i < parts.length - 1 && !st.isDirectory()) return { refused: 'missing' };
    }
    return undefined;
  };

  const procWorks = (realRoot: string): boolean => {
    if (O_PATH === 0) return false;
    let fd = -1;
    try {
      fd = fs.openSync(realRoot, O_PATH | c.O_DIRECTORY);
      return fs.readlinkSync(`/proc/self/fd/${fd}`) === realRoot;
    } catch {
      return false;
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  };

  // A file replaced by a rename between the open and the /proc check (an atomic overwrite of a
  // link) reads as "<path> (deleted)": opening again reaches the new file. Bounded, so a path
  // that keeps changing ends as missing rather than spinning.
  const REOPENS = 8;

  const open = (realRoot: string, rel: string, flags: number, proc: boolean): { fd: number; st: import('node:fs').Stats } | OpenRefusal => {
    for (let attempt = 1; ; attempt++) {
      const r = openOnce(realRoot, rel, flags, proc);
      if (r !== 'moved') return r;
      if (attempt >= REOPENS) return { refused: 'missing' };
    }
  };

  const openOnce = (realRoot: string, rel: string, flags: number, proc: boolean): { fd: number; st: import('node:fs').Stats } | OpenRefusal | 'moved' => {
    const local = realRoot + rel;
    if (!proc) {
      const bad = classify(realRoot, rel);
      if (bad) return bad;
    }
    let fd: number;
    try {
      fd = fs.openSync(local, flags | c.O_NOFOLLOW | c.O_NONBLOCK);
    } catch (err) {
      const code = codeOf(err);
      const found = classify(realRoot, rel);
      if (found) return found;
      if (code === 'ENOENT' || code === 'ENOTDIR') return { refused: 'missing' };
      if (code === 'ELOOP') return { refused: 'loop', at: local };
      if (code === 'ENXIO' || code === 'ENODEV' || code === 'EOPNOTSUPP') return { refused: 'special', at: local };
      throw err;
    }
    try {
      const st = fs.fstatSync(fd);
      if (proc && fs.readlinkSync(`/proc/self/fd/${fd}`) !== local) {
        // A directory on the way is a symlink, or the file moved or went meanwhile.
        fs.closeSync(fd);
        return classify(realRoot, rel) ?? 'moved';
      }
      if (st.isSymbolicLink() || special(st)) {
        fs.closeSync(fd);
        return st.isSymbolicLink() ? { refused: isLoop(local) ? 'loop' : 'symlink', at: local } : { refused: 'special', at: local };
      }
      return { fd, st };
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  };

  return { procWorks, classify, open, O_PATH };
}
