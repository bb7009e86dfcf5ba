/**
 * Per-directory aggregate columns, indexed by a directory slot (not by node id), so that files
 * pay only the 4-byte `dirSlot` column of the node table for them.
 *
 * Slot columns (45 B per directory):
 *   fileCount, dirCount      subtree counts, the directory itself excluded
 *   childCount               direct children (O(1) `childCount()`)
 *   suspectCount             files flagged suspect in the subtree
 *   blindSpotCount           nodes flagged blind-spot addition in the subtree
 *   totalSize                sum of file sizes in the subtree (directory sizes are not counted)
 *   latestMtime              max mtime of every node in the subtree (0 for an empty directory)
 *   lastChangeAt             max `now` of any mutation in the subtree; never decreases
 *   stale                    1 when latestMtime may be too high (see below)
 *
 * latestMtime cannot be decremented when the node holding the max goes away or gets an older mtime.
 * Invariant: the stored latestMtime is always >= the true value, and equal to it when `stale == 0`.
 * A decrease marks every ancestor whose stored value it may have produced as stale; reads recompute
 * stale directories lazily (TreeStore.aggregates).
 *
 * Freed slots are chained through `childCount` (intrusive free list, no extra column).
 */
import { grown, nextCapacity } from './grow.ts';

export class DirTable {
  fileCount: Int32Array;
  dirCount: Int32Array;
  childCount: Int32Array;
  suspectCount: Int32Array;
  blindSpotCount: Int32Array;
  totalSize: Float64Array;
  latestMtime: Float64Array;
  lastChangeAt: Float64Array;
  stale: Uint8Array;

  private highWater = 0;
  private freeHead = -1;
  private used = 0;

  constructor(capacity = 64) {
    this.fileCount = new Int32Array(capacity);
    this.dirCount = new Int32Array(capacity);
    this.childCount = new Int32Array(capacity);
    this.suspectCount = new Int32Array(capacity);
    this.blindSpotCount = new Int32Array(capacity);
    this.totalSize = new Float64Array(capacity);
    this.latestMtime = new Float64Array(capacity);
    this.lastChangeAt = new Float64Array(capacity);
    this.stale = new Uint8Array(capacity);
  }

  get count(): number { return this.used; }
  get capacity(): number { return this.fileCount.length; }

  bytes(): number { return this.capacity * 45; }

  /** A zeroed slot. */
  alloc(): number {
    let slot = this.freeHead;
    if (slot !== -1) {
      this.freeHead = this.childCount[slot];
    } else {
      slot = this.highWater++;
      if (slot >= this.capacity) this.grow(nextCapacity(this.capacity, slot + 1));
    }
    this.fileCount[slot] = 0;
    this.dirCount[slot] = 0;
    this.childCount[slot] = 0;
    this.suspectCount[slot] = 0;
    this.blindSpotCount[slot] = 0;
    this.totalSize[slot] = 0;
    this.latestMtime[slot] = 0;
    this.lastChangeAt[slot] = 0;
    this.stale[slot] = 0;
    this.used++;
    return slot;
  }

  free(slot: number): void {
    this.childCount[slot] = this.freeHead;
    this.freeHead = slot;
    this.used--;
  }

  reset(): void {
    this.highWater = 0;
    this.freeHead = -1;
    this.used = 0;
  }

  private grow(capacity: number): void {
    this.fileCount = grown(this.fileCount, capacity);
    this.dirCount = grown(this.dirCount, capacity);
    this.childCount = grown(this.childCount, capacity);
    this.suspectCount = grown(this.suspectCount, capacity);
    this.blindSpotCount = grown(this.blindSpotCount, capacity);
    this.totalSize = grown(this.totalSize, capacity);
    this.latestMtime = grown(this.latestMtime, capacity);
    this.lastChangeAt = grown(this.lastChangeAt, capacity);
    this.stale = grown(this.stale, capacity);
  }
}
