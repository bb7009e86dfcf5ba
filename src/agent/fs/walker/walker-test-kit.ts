/**
 * Helpers for the walker's tests: a generated tree on disk and a plain recursive reference walk to
 * compare the walker's rows with.
 */
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, truncateSync, utimesSync, lutimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeName } from '../../../protocol/paths.ts';
import type { WalkBatch, WalkRow } from './types.ts';
import { seededRandom } from '../../../kernel/seeded-random.ts';

export interface RefEntry {
  isDir: boolean;
  size: number;
  mtime: number;
  ctime: number;
}

export function tempDir(prefix = 'fustor-walker-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Small deterministic PRNG (kernel's mulberry32). */
export const rng = seededRandom;

export interface TreeStats {
  dirs: number;
  files: number;
  symlinks: number;
}

/**
 * A tree of roughly `targetFiles` entries: nested directories (depth ≤ 4), empty directories, files of
 * varied (sparse) sizes with sub-second mtimes, symlinks to files, to directories and dangling ones.
 */
export function makeTree(root: string, targetFiles: number, seed = 42): TreeStats {
  const rand = rng(seed);
  const stats: TreeStats = { dirs: 0, files: 0, symlinks: 0 };
  const base = 1_700_000_000;
  const dirs: string[] = [];
  const grow = (dir: string, depth: number): void => {
    dirs.push(dir);
    const nFiles = Math.floor(rand() * 40);
    for (let i = 0; i < nFiles && stats.files < targetFiles; i++) {
      const p = join(dir, `f${i}.dat`);
      writeFileSync(p, '');
      const size = rand() < 0.2 ? 0 : Math.floor(rand() * 5_000_000);
      if (size > 0) truncateSync(p, size);
      const mtime = base + Math.floor(rand() * 1e7) + Math.floor(rand() * 1e6) / 1e6;
      utimesSync(p, mtime, mtime);
      stats.files++;
    }
    if (rand() < 0.15) {
      symlinkSync(`f0.dat`, join(dir, 'link-to-file'));
      symlinkSync('..', join(dir, 'link-to-parent'));
      symlinkSync('/nonexistent/target', join(dir, 'dangling'));
      lutimesSync(join(dir, 'dangling'), base + 0.5, base + 0.5);
      stats.symlinks += 3;
    }
    if (depth >= 4) return;
    const nSub = depth === 0 ? 12 : Math.floor(rand() * 5);
    for (let s = 0; s < nSub && stats.files < targetFiles; s++) {
      const sub = join(dir, `d${s}`);
      mkdirSync(sub);
      stats.dirs++;
      grow(sub, depth + 1);
    }
    if (rand() < 0.2) {
      mkdirSync(join(dir, 'empty'));
      stats.dirs++;
      dirs.push(join(dir, 'empty'));
    }
  };
  grow(root, 0);
  // Directory mtimes last (children change them while being created), with sub-second parts.
  for (const d of dirs.reverse()) {
    const m = base + Math.floor(rand() * 1e7) + 0.25;
    utimesSync(d, m, m);
  }
  return stats;
}

/** Plain recursive walk (sync, Buffer names): view-relative path → entry. The root itself is followed. */
export function referenceWalk(root: string, subPath = '/'): Map<string, RefEntry> {
  const out = new Map<string, RefEntry>();
  const rootBytes = Buffer.from(root === '/' ? '' : root);
  const visit = (abs: Buffer, rel: string, follow: boolean): void => {
    const st = follow ? statSync(abs) : lstatSync(abs);
    out.set(rel, { isDir: st.isDirectory(), size: st.size, mtime: st.mtimeMs / 1000, ctime: st.ctimeMs / 1000 });
    if (!st.isDirectory()) return;
    for (const name of readdirSync(abs, { encoding: 'buffer' })) {
      visit(Buffer.concat([abs, Buffer.from('/'), name]), rel === '/' ? `/${decodeName(name)}` : `${rel}/${decodeName(name)}`, false);
    }
  };
  const startBytes = subPath === '/' ? Buffer.from(root) : Buffer.concat([rootBytes, Buffer.from(subPath)]);
  visit(startBytes, subPath, subPath === '/');
  return out;
}

export async function collect(iter: AsyncIterable<WalkBatch>, onBatch?: (b: WalkBatch) => void | Promise<void>): Promise<{ rows: WalkRow[]; batches: WalkBatch[] }> {
  const rows: WalkRow[] = [];
  const batches: WalkBatch[] = [];
  for await (const b of iter) {
    batches.push(b);
    for (const r of b.rows) rows.push(r);
    if (onBatch !== undefined) await onBatch(b);
  }
  return { rows, batches };
}

export function byPath(rows: WalkRow[]): Map<string, WalkRow> {
  const m = new Map<string, WalkRow>();
  for (const r of rows) {
    if (m.has(r.path)) throw new Error(`duplicate row for ${r.path}`);
    m.set(r.path, r);
  }
  return m;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
