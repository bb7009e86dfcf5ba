/**
 * The suspect list (spec 20): `path → {expiry, recordedMtime}` plus a min-heap ordered by expiry.
 *
 * Renewing an entry pushes a new heap item and leaves the old one in place; an item whose expiry no
 * longer equals its entry's expiry is stale and skipped when popped. The heap is rebuilt from the map
 * when stale items outnumber live ones, so it stays O(live entries).
 *
 * This class only keeps the bookkeeping; the view keeps the tree's FLAG_SUSPECT in step with it
 * (see ViewState.markSuspect / clearSuspect).
 */
export interface SuspectEntry { expiry: number; recordedMtime: number }

export class SuspectList {
  private readonly entries = new Map<string, SuspectEntry>();
  private heapExpiry: number[] = [];
  private heapPath: string[] = [];

  get size(): number { return this.entries.size; }
  /** Heap items including stale ones (for tests and memory checks). */
  get heapSize(): number { return this.heapExpiry.length; }

  get(path: string): SuspectEntry | undefined { return this.entries.get(path); }
  has(path: string): boolean { return this.entries.has(path); }

  set(path: string, expiry: number, recordedMtime: number): void {
    const e = this.entries.get(path);
    if (e !== undefined) {
      if (e.expiry === expiry) { e.recordedMtime = recordedMtime; return; }
      e.expiry = expiry;
      e.recordedMtime = recordedMtime;
    } else {
      this.entries.set(path, { expiry, recordedMtime });
    }
    this.push(expiry, path);
    if (this.heapExpiry.length > 2 * this.entries.size + 1024) this.rebuild();
  }

  delete(path: string): boolean { return this.entries.delete(path); }

  /** Remove and return the entries whose expiry is ≤ now, earliest first. */
  takeExpired(now: number): [string, SuspectEntry][] {
    const out: [string, SuspectEntry][] = [];
    const ex = this.heapExpiry;
    while (ex.length > 0 && ex[0] <= now) {
      const expiry = ex[0];
      const path = this.heapPath[0];
      this.pop();
      const e = this.entries.get(path);
      if (e === undefined || e.expiry !== expiry) continue; // stale heap item
      this.entries.delete(path);
      out.push([path, e]);
    }
    return out;
  }

  entriesIterator(): IterableIterator<[string, SuspectEntry]> { return this.entries.entries(); }
  paths(): IterableIterator<string> { return this.entries.keys(); }

  clear(): void {
    this.entries.clear();
    this.heapExpiry = [];
    this.heapPath = [];
  }

  // --- binary min-heap over two parallel arrays ---------------------------------------------

  private push(expiry: number, path: string): void {
    const ex = this.heapExpiry;
    const ps = this.heapPath;
    let i = ex.length;
    ex.push(expiry);
    ps.push(path);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (ex[p] <= expiry) break;
      ex[i] = ex[p];
      ps[i] = ps[p];
      i = p;
    }
    ex[i] = expiry;
    ps[i] = path;
  }

  private pop(): void {
    const ex = this.heapExpiry;
    const ps = this.heapPath;
    const lastE = ex.pop() as number;
    const lastP = ps.pop() as string;
    const n = ex.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && ex[r] < ex[l] ? r : l;
      if (ex[c] >= lastE) break;
      ex[i] = ex[c];
      ps[i] = ps[c];
      i = c;
    }
    ex[i] = lastE;
    ps[i] = lastP;
  }

  private rebuild(): void {
    this.heapExpiry = [];
    this.heapPath = [];
    for (const [path, e] of this.entries) this.push(e.expiry, path);
  }
}
