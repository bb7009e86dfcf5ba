/** Small fs helpers of the source: byte-exact paths, listings, rows from lstat. */
import type { Stats } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { baseName, decodeName, encodeName } from '../../../protocol/paths.ts';
import type { FsUpsertRow } from '../../../protocol/events.ts';

/** Any UTF-16 surrogate: the path may hold an escaped byte (non-UTF-8 name) and must go through encodeName. */
const SURROGATE = /[\ud800-\udfff]/;

/** The argument for fs calls: the string itself, or its exact bytes when it carries surrogate escapes. */
export function fsPath(abs: string): string | Buffer {
  return SURROGATE.test(abs) ? Buffer.from(encodeName(abs)) : abs;
}

export interface ListEntry { name: string; isDir: boolean }

/**
 * Lists a directory. Read as UTF-8 first; when a name holds U+FFFD (Node's replacement for invalid bytes)
 * the directory is read again as Buffers and names are decoded with surrogate escapes (spec 10).
 * Symlinks are never directories here. Throws the fs error (ENOENT, EACCES, ENOTDIR…).
 */
export async function listDir(abs: string): Promise<ListEntry[]> {
  const p = fsPath(abs);
  const ents = await readdir(p, { withFileTypes: true });
  if (!ents.some((e) => e.name.includes('\ufffd'))) return ents.map((e) => ({ name: e.name, isDir: e.isDirectory() }));
  const raw = await readdir(p, { withFileTypes: true, encoding: 'buffer' });
  return raw.map((e) => ({ name: decodeName(e.name), isDir: e.isDirectory() }));
}

export function errnoCode(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

/** An upsert row from an lstat (times in float seconds, like the walker's). */
export function rowFromStats(path: string, st: Stats, extra?: Partial<FsUpsertRow>): FsUpsertRow {
  return {
    path,
    file_name: baseName(path),
    size: st.size,
    modified_time: st.mtimeMs / 1000,
    created_time: st.ctimeMs / 1000,
    is_directory: st.isDirectory(),
    ...extra,
  };
}

/** Maps view-relative paths to absolute ones under one root and back. */
export class RootPaths {
  readonly root: string;

  constructor(root: string) {
    this.root = root.length > 1 && root.endsWith('/') ? root.replace(/\/+$/, '') : root;
  }

  toAbs(rel: string): string {
    if (rel === '/') return this.root;
    return this.root === '/' ? rel : this.root + rel;
  }

  /** View-relative path of an absolute one, or null when it is outside the root. */
  toRel(abs: string): string | null {
    if (abs === this.root) return '/';
    if (this.root === '/') return abs.startsWith('/') ? abs : null;
    if (abs.startsWith(this.root) && abs.charCodeAt(this.root.length) === 47) return abs.slice(this.root.length);
    return null;
  }
}
