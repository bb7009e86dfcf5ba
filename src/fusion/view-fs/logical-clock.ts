/**
 * The logical clock (spec 20): `watermark = gateway wall clock − mode(skew)`.
 *
 * A skew sample is `round(now − mtime)` of a realtime row (the only source whose mtime was written
 * "just now"). The last 10,000 samples are kept in a ring buffer with a histogram; the mode is kept
 * incrementally on insert and recomputed only when an eviction lowers the count of the current mode.
 * Ties go to the smaller skew. With no samples the watermark is the wall clock. A single odd mtime
 * (a future one, an old file touched by chmod) cannot move an established mode, and the watermark
 * keeps advancing with the wall clock during silence.
 */
export const SKEW_SAMPLE_CAPACITY = 10_000;

export class LogicalClock {
  private readonly ring: Float64Array;
  private count = 0;
  private next = 0;
  private readonly histogram = new Map<number, number>();
  private modeSkew = 0;
  private modeCount = 0;
  private modeDirty = false;

  constructor(private readonly capacity = SKEW_SAMPLE_CAPACITY) {
    this.ring = new Float64Array(capacity);
  }

  get sampleCount(): number { return this.count; }

  /** Record the skew of a realtime row seen at `now` with modification time `mtime`. */
  sample(now: number, mtime: number): void {
    const skew = Math.round(now - mtime);
    if (!Number.isFinite(skew)) return;
    const h = this.histogram;
    if (this.count === this.capacity) {
      const old = this.ring[this.next];
      const c = (h.get(old) ?? 1) - 1;
      if (c === 0) h.delete(old); else h.set(old, c);
      if (old === this.modeSkew) this.modeDirty = true;
    } else {
      this.count++;
    }
    this.ring[this.next] = skew;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
    const c = (h.get(skew) ?? 0) + 1;
    h.set(skew, c);
    if (!this.modeDirty && (c > this.modeCount || (c === this.modeCount && skew < this.modeSkew))) {
      this.modeSkew = skew;
      this.modeCount = c;
    }
  }

  /** The most frequent skew (ties → the smaller), or undefined without samples. */
  mode(): number | undefined {
    if (this.count === 0) return undefined;
    if (this.modeDirty) {
      let best = 0;
      let bestCount = 0;
      for (const [skew, c] of this.histogram) {
        if (c > bestCount || (c === bestCount && skew < best)) { best = skew; bestCount = c; }
      }
      this.modeSkew = best;
      this.modeCount = bestCount;
      this.modeDirty = false;
    }
    return this.modeSkew;
  }

  /** Logical "now" in the storage's time domain. */
  watermark(now: number): number {
    const m = this.mode();
    return m === undefined ? now : now - m;
  }

  clear(): void {
    this.count = 0;
    this.next = 0;
    this.histogram.clear();
    this.modeSkew = 0;
    this.modeCount = 0;
    this.modeDirty = false;
  }
}
