// Opening files of sources read from disk (an OCI layout's index.json, oci-layout and blobs, an
// archive, a sync list): never through a symlink, never a FIFO, socket or device (so never a
// blocking open), small files read with a bound checked on the opened handle. A refusal is one
// InvalidInputError (exit 2) naming the path, never echoing content.
import * as fsSync from 'node:fs';
import * as fs from 'node:fs/promises';
import { confinedFs } from '../util/confine-sync.js';
import { InvalidInputError } from '../errors.js';
import { isMissingFile } from '../util/not-found.js';

const cfs = confinedFs(fsSync);
const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fsSync.constants;

function code(err: unknown): string {
  return String((err as NodeJS.ErrnoException).code ?? '');
}

export interface OpenedFile {
  fh: fs.FileHandle;
  size: number;
}

function refuse(local: string, why: string, what: string): never {
  throw new InvalidInputError(`${what} ${local} is ${why}: refusing to read it (symlinks, FIFOs, sockets and devices are never opened)`);
}

/** Opens `local` with O_NOFOLLOW | O_NONBLOCK; a regular file only. Undefined when missing. */
async function openPlain(local: string, what: string, check?: (fh: fs.FileHandle) => Promise<boolean>): Promise<OpenedFile | undefined> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(local, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    if (isMissingFile(err)) return undefined;
    const c = code(err);
    if (c === 'ELOOP') refuse(local, 'a symbolic link', what);
    if (c === 'ENXIO' || c === 'ENODEV' || c === 'EOPNOTSUPP') refuse(local, 'a special file', what);
    throw new InvalidInputError(`cannot open ${what} ${local}: ${c || (err as Error).message}`);
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) refuse(local, 'a directory', what);
    if (!st.isFile()) refuse(local, 'a special file', what);
    if (check && !(await check(fh))) return undefined;
    return { fh, size: st.size };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** A file the user named (an archive, a sync list): its last component must not be a symlink. */
export async function openSourceFile(path: string, what: string): Promise<OpenedFile> {
  const f = await openPlain(path, what);
  if (!f) throw new InvalidInputError(`${what} ${path} does not exist`);
  return f;
}

/** Reads a file the user named, at most `maxBytes`. */
export async function readSourceFile(path: string, what: string, maxBytes: number): Promise<Buffer> {
  const f = await openSourceFile(path, what);
  return readBounded(f, `${what} ${path}`, maxBytes);
}

/**
 * A file inside a source directory (`rel`: "a/b/c" below `dir`): no component below `dir` may
 * be a symlink. Undefined when it does not exist.
 */
export async function openInside(dir: string, rel: string, what: string): Promise<OpenedFile | undefined> {
  let root: string;
  try {
    root = fsSync.realpathSync(dir);
  } catch (err) {
    if (isMissingFile(err)) return undefined;
    throw new InvalidInputError(`cannot open ${dir}: ${code(err) || (err as Error).message}`);
  }
  const relPath = `/${rel}`;
  const proc = cfs.procWorks(root);
  const check = async (fh: fs.FileHandle): Promise<boolean> => {
    if (proc ? (await fs.readlink(`/proc/self/fd/${fh.fd}`)) === root + relPath : cfs.classify(root, relPath) === undefined) return true;
    return diagnose(root, relPath, dir, what);
  };
  try {
    return await openPlain(root + relPath, what, check);
  } catch (err) {
    if (err instanceof InvalidInputError) {
      // Name the component at fault (a symlinked directory on the way), in the user's terms.
      const bad = cfs.classify(root, relPath);
      if (bad && bad.refused !== 'missing') diagnose(root, relPath, dir, what);
    }
    if (code(err) === 'ENOENT') return undefined;
    throw err;
  }
}

function diagnose(root: string, rel: string, dir: string, what: string): false {
  const bad = cfs.classify(root, rel);
  if (!bad || bad.refused === 'missing') return false;
  const shown = `${dir}${bad.at.slice(root.length)}`;
  refuse(shown, bad.refused === 'special' ? 'a special file' : bad.refused === 'loop' ? 'a symbolic link loop' : 'a symbolic link', what);
}

/** The whole of an opened file, refused past `maxBytes` (checked on the handle, as it is read). Closes it. */
export async function readBounded(f: OpenedFile, what: string, maxBytes: number): Promise<Buffer> {
  try {
    if (f.size > maxBytes) throw new InvalidInputError(`${what} is ${f.size} bytes, more than the ${maxBytes} such a file can be`);
    const buf = Buffer.allocUnsafe(Math.min(maxBytes + 1, f.size + 4096));
    let at = 0;
    for (;;) {
      const { bytesRead } = await f.fh.read(buf, at, buf.length - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
      if (at > maxBytes) throw new InvalidInputError(`${what} is more than the ${maxBytes} bytes such a file can be`);
      if (at === buf.length) break;
    }
    return buf.subarray(0, at);
  } finally {
    await f.fh.close();
  }
}
