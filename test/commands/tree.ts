// Snapshots of a store directory for the command tests: every file with a hash of its content
// (empty directories and `_uploads` aside, as the layout contract allows), and every directory.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Relative path -> sha256 of the content, for every file outside `_uploads`. */
export function fileTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== '_uploads') visit(p);
      } else out.set(relative(root, p), createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  if (existsSync(root)) visit(root);
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Every path (files and directories, `_uploads` included): "nothing written" means this too. */
export function fullTree(root: string): string[] {
  const out: string[] = [];
  const visit = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      out.push(`${relative(root, p)}${e.isDirectory() ? '/' : ''}`);
      if (e.isDirectory()) visit(p);
    }
  };
  if (existsSync(root)) visit(root);
  return out.sort();
}

/** fullTree plus content hashes of the files. */
export function snapshot(root: string): string[] {
  const files = fileTree(root);
  return fullTree(root).map((p) => (files.has(p) ? `${p} ${files.get(p)}` : p));
}
