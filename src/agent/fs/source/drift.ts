/**
 * Drift (spec 40, reference §3.4): before the first walk, `drift = P99(recursive dir mtimes) − now`, and
 * every event index is `(now + drift) × 1000` from one clock.
 *
 * The sample is bounded: a breadth-first pre-scan of at most `maxDirs` directories and `maxEntries` lstat
 * calls (defaults 2,000 / 50,000). Each sampled directory's mtime is folded with the mtimes of its sampled
 * entries, then folded bottom-up into its sampled ancestors (the "recursive" mtime over the sample). Breadth
 * first keeps the top of the tree — whose recursive mtimes carry the most recent activity — in the sample.
 * The percentile index is the predecessor's: `max(0, floor(n × 0.99) − 1)` over the sorted values.
 */
import { lstat } from 'node:fs/promises';
import { joinPath, parentPath } from '../../../protocol/paths.ts';
import { fsPath, listDir } from './fs-util.ts';

export interface DriftSample { maxDirs?: number; maxEntries?: number }

/** lstat calls in flight during the pre-scan. */
const LSTAT_CONCURRENCY = 32;

/** ≈P99 of the values (predecessor's index); NaN for none. Sorts a copy. */
export function percentile99(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.floor(sorted.length * 0.99) - 1)];
}

/** Recursive mtimes of a bounded sample of directories under `root` (absolute), in seconds. */
export async function sampleRecursiveMtimes(root: string, toAbs: (rel: string) => string, sample: DriftSample = {}): Promise<number[]> {
  const maxDirs = sample.maxDirs ?? 2000;
  const maxEntries = sample.maxEntries ?? 50_000;
  const own = new Map<string, number>();
  let entries = 0;
  try {
    own.set('/', (await lstat(fsPath(root))).mtimeMs / 1000);
  } catch {
    return [];
  }
  const queue: string[] = ['/'];
  for (let head = 0; head < queue.length && entries < maxEntries; head++) {
    const dir = queue[head];
    let list;
    try {
      list = await listDir(toAbs(dir));
    } catch {
      continue;
    }
    let folded = own.get(dir) ?? 0;
    const take = list.slice(0, Math.max(0, maxEntries - entries));
    entries += take.length;
    // The lstat calls of a directory run LSTAT_CONCURRENCY at a time; results are used in listing order,
    // so the sample is the same as one call after the other (only faster: 50,000 calls in a row took ~1 s).
    for (let at = 0; at < take.length; at += LSTAT_CONCURRENCY) {
      const group = take.slice(at, at + LSTAT_CONCURRENCY).map((e) => joinPath(dir, e.name));
      const stats = await Promise.all(group.map((rel) => lstat(fsPath(toAbs(rel))).catch(() => null))); // null: vanished or unreadable
      for (let k = 0; k < group.length; k++) {
        const st = stats[k];
        if (st === null) continue;
        const m = st.mtimeMs / 1000;
        if (st.isDirectory()) {
          if (own.size < maxDirs) {
            own.set(group[k], m);
            queue.push(group[k]);
          }
        } else if (m > folded) {
          folded = m;
        }
      }
    }
    own.set(dir, folded);
  }
  // Bottom-up: deepest first (breadth-first order reversed), each folds into its parent.
  const rec = new Map(own);
  for (let i = queue.length - 1; i > 0; i--) {
    const dir = queue[i];
    const p = parentPath(dir);
    const v = rec.get(dir) ?? 0;
    if (v > (rec.get(p) ?? 0)) rec.set(p, v);
  }
  // Directories found but never listed keep their own mtime.
  return [...rec.values()];
}

/** drift in seconds (P99 of the sample − now); 0 when nothing could be sampled. */
export async function estimateDrift(root: string, toAbs: (rel: string) => string, sample?: DriftSample, nowMs = Date.now()): Promise<{ drift: number; sampled: number }> {
  const values = await sampleRecursiveMtimes(root, toAbs, sample);
  const p99 = percentile99(values);
  return { drift: Number.isNaN(p99) ? 0 : p99 - nowMs / 1000, sampled: values.length };
}

