/**
 * The hot watch set: which directories have an inotify watch (spec 40: "keep the most recently active
 * directories watched, LRU by subtree mtime"). Pure bookkeeping, no I/O — the FsSource adds and removes
 * the kernel watches this set decides on.
 *
 * - At most `limit` entries (pending adds included).
 * - Each entry has a `recency` in seconds on the mtime scale: the directory's (recursive) mtime as seen by
 *   walks, raised by activity (events in the directory are stamped with the source clock).
 * - `admit(path, recency)`: below the limit → added. At the limit → added only if more recent than the
 *   least recent entry, which is evicted (returned: the caller removes its watch). Otherwise refused.
 * - The least recent entry is found with a lazy min-heap (stale heap items are skipped; the heap is rebuilt
 *   when it holds more than twice the live entries), so memory stays O(limit).
 */
import { isWithin } from '../../../protocol/paths.ts';

export interface WatchEntry {
  path: string;
  /** Reader watch id; 0 while the add is pending. */
  id: number;
  recency: number;
  removed: boolean;
}

interface HeapItem { r: number; e: WatchEntry }

export class WatchSet {
  private readonly byPath = new Map<string, WatchEntry>();
  private readonly byId = new Map<number, WatchEntry>();
  private heap: HeapItem[] = [];

  constructor(public limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`watch limit must be a positive integer, got ${limit}`);
  }

  /** Entries, pending ones included. */
  get size(): number {
    return this.byPath.size;
  }

  /** Entries with a confirmed watch. */
  get activeCount(): number {
    return this.byId.size;
  }

  get(path: string): WatchEntry | undefined {
    return this.byPath.get(path);
  }

  getById(id: number): WatchEntry | undefined {
    return this.byId.get(id);
  }

  /** Adds `path` (or raises its recency when present). Returns the new entry and what was evicted, or null. */
  admit(path: string, recency: number): { entry: WatchEntry; evicted: WatchEntry[] } | null {
    const existing = this.byPath.get(path);
    if (existing) {
      this.bump(existing, recency);
      return null;
    }
    const evicted: WatchEntry[] = [];
    while (this.byPath.size >= this.limit) {
      const oldest = this.peekOldest();
      if (oldest === undefined || oldest.recency >= recency) {
        for (const e of evicted) this.restore(e); // nothing is evicted for a refused candidate
        return null;
      }
      this.remove(oldest);
      evicted.push(oldest);
    }
    const entry: WatchEntry = { path, id: 0, recency, removed: false };
    this.byPath.set(path, entry);
    this.push(entry);
    return { entry, evicted };
  }

  /** The add succeeded. */
  setId(entry: WatchEntry, id: number): void {
    if (entry.removed) return;
    entry.id = id;
    this.byId.set(id, entry);
  }

  /** Raises an entry's recency (never lowers it). */
  bump(entry: WatchEntry, recency: number): void {
    if (entry.removed || recency <= entry.recency) return;
    entry.recency = recency;
    this.push(entry);
  }

  remove(entry: WatchEntry): void {
    if (entry.removed) return;
    entry.removed = true;
    if (this.byPath.get(entry.path) === entry) this.byPath.delete(entry.path);
    if (entry.id !== 0 && this.byId.get(entry.id) === entry) this.byId.delete(entry.id);
  }

  /** Entries at `path` or below it. O(size). */
  under(path: string): WatchEntry[] {
    const out: WatchEntry[] = [];
    for (const e of this.byPath.values()) if (isWithin(e.path, path)) out.push(e);
    return out;
  }

  /**
   * A directory moved: entries at `from` or below now live under `to`. An entry already at a target path
   * (a directory that was replaced) loses its path slot; its watch is dropped by the kernel's IN_IGNORED.
   */
  renamePrefix(from: string, to: string): number {
    const moved = this.under(from);
    for (const e of moved) this.byPath.delete(e.path);
    for (const e of moved) {
      e.path = to + e.path.slice(from.length);
      const clash = this.byPath.get(e.path);
      if (clash && clash !== e) this.byPath.delete(e.path);
      this.byPath.set(e.path, e);
    }
    return moved.length;
  }

  /** The least recent entry, or undefined when empty. */
  peekOldest(): WatchEntry | undefined {
    const h = this.heap;
    while (h.length > 0) {
      const top = h[0];
      if (!top.e.removed && top.e.recency === top.r && this.byPath.get(top.e.path) === top.e) return top.e;
      this.popTop();
    }
    return undefined;
  }

  /** Lowers the limit; returns the entries evicted to fit it (least recent first). */
  shrinkTo(limit: number): WatchEntry[] {
    this.limit = Math.max(1, limit);
    const out: WatchEntry[] = [];
    while (this.byPath.size > this.limit) {
      const oldest = this.peekOldest();
      if (!oldest) break;
      this.remove(oldest);
      out.push(oldest);
    }
    return out;
  }

  /** Removes everything; returns the entries, most recent first (to re-add after a helper restart). */
  drain(): WatchEntry[] {
    const all = [...this.byPath.values()].sort((a, b) => b.recency - a.recency);
    for (const e of all) e.removed = true;
    this.byPath.clear();
    this.byId.clear();
    this.heap = [];
    return all;
  }

  entries(): IterableIterator<WatchEntry> {
    return this.byPath.values();
  }

  private restore(e: WatchEntry): void {
    e.removed = false;
    this.byPath.set(e.path, e);
    if (e.id !== 0) this.byId.set(e.id, e);
    this.push(e);
  }

  private push(e: WatchEntry): void {
    if (this.heap.length > 2 * this.byPath.size + 1024) this.rebuild();
    const h = this.heap;
    h.push({ r: e.recency, e });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].r <= h[i].r) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  private popTop(): void {
    const h = this.heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l].r < h[m].r) m = l;
      if (r < h.length && h[r].r < h[m].r) m = r;
      if (m === i) break;
      [h[m], h[i]] = [h[i], h[m]];
      i = m;
    }
  }

  private rebuild(): void {
    const items = [...this.byPath.values()].map((e) => ({ r: e.recency, e })).sort((a, b) => a.r - b.r);
    this.heap = items; // a sorted array is a valid min-heap
  }
}

