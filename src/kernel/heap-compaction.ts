/**
 * Gives memory back after a bulk load. Loading a snapshot parses hundreds of megabytes of JSON: V8 grows
 * its heap for the parse garbage and keeps the pages after the load, so a gateway that just indexed
 * 1 M entries holds ≈ 100 MiB more RSS than its index needs (bench P2: 222 B/entry instead of ≈ 105).
 * V8's idle memory reducer gives some of it back eventually, but on its own schedule; two full
 * collections shortly after the load give it back now — the first frees the parse garbage, the second
 * releases the pages and backing stores the first left empty (measured: one collection alone gets to
 * ≈ 140 B/entry, two to ≈ 107).
 *
 * Only after loads of at least `minRows` rows since the last compaction: a full collection pauses the
 * event loop (≈ 30–40 ms at 1 M entries; the index itself lives in typed arrays the collector does not
 * scan), worth it after a bulk load, not after every small snapshot. Loads finishing close together
 * share one compaction (debounced).
 */
import v8 from 'node:v8';
import vm from 'node:vm';

export interface HeapCompactionOptions {
  /** Rows applied since the last compaction below which a finished load compacts nothing. 0 = never compact. */
  minRows: number;
  /** Total rows applied so far; when it goes down (a pipe restarted and its counter with it), counting restarts from there. */
  rowsApplied: () => number;
  /** Called after the second collection, with RSS before the first and after the second (bytes). */
  onCompacted?: (info: { rows: number; rssBefore: number; rssAfter: number; pauseMs: number }) => void;
  /** Delay after the last finished load, then between the two collections (ms). */
  delayMs?: number;
  gapMs?: number;
}

let exposedGc: (() => void) | undefined;

/** V8's full collection: `global.gc` when node runs with --expose-gc, otherwise exposed once on first use. */
export function fullGc(): void {
  if (exposedGc === undefined) {
    const global = (globalThis as { gc?: () => void }).gc;
    if (typeof global === 'function') exposedGc = global;
    else {
      v8.setFlagsFromString('--expose-gc');
      exposedGc = vm.runInNewContext('gc') as () => void; // a context per call would cost more than the flag
    }
  }
  exposedGc();
}

export class HeapCompactor {
  private compactedAt = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: HeapCompactionOptions) {
    this.compactedAt = opts.rowsApplied();
  }

  /** A bulk load (snapshot) finished: compact soon if enough rows came in since the last compaction. */
  loadFinished(): void {
    const applied = this.opts.rowsApplied();
    if (applied < this.compactedAt) this.compactedAt = applied;
    if (this.opts.minRows <= 0 || applied - this.compactedAt < this.opts.minRows) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.compact(), this.opts.delayMs ?? 500);
    this.timer.unref();
  }

  private compact(): void {
    const applied = this.opts.rowsApplied();
    const rows = Math.max(0, applied - this.compactedAt);
    this.compactedAt = applied;
    const rssBefore = process.memoryUsage.rss();
    const t0 = performance.now();
    fullGc();
    let pauseMs = performance.now() - t0;
    this.timer = setTimeout(() => {
      this.timer = null;
      const t1 = performance.now();
      fullGc();
      pauseMs = Math.max(pauseMs, performance.now() - t1);
      this.opts.onCompacted?.({ rows, rssBefore, rssAfter: process.memoryUsage.rss(), pauseMs });
    }, this.opts.gapMs ?? 1500);
    this.timer.unref();
  }

  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
