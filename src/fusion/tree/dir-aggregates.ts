/**
 * Per-directory aggregate columns, indexed by a directory slot (not by node id), so that files
 * pay only the 4-byte `dirSlot` column of the node table for them.
 *
 * Slot columns (53 B per directory):
 *   fileCount, dirCount      subtree counts, the directory itself excluded
 *   childCount               direct children (O(1) `childCount()`)
 *   suspectCount             files flagged suspect in the subtree
 *   blindSpotCount           nodes flagged blind-spot addition in the subtree
 *   totalSize                sum of file sizes in the subtree (directory sizes are not counted)
 *   latestMtime              max mtime of every node in the subtree (0 for an empty directory)
 *   lastChangeAt             max `now` of any mutation in the subtree; never decreases
 *   changeSeq                `seq` of the last mutation of the directory itself or of anything below it
 *                            (flag changes made with `now = 0` included); never decreases
 *   stale                    1 when latestMtime may be too high (see below)
 *
 * latestMtime cannot be decremented when the node holding the max goes away or gets an older mtime.
 * Invariant: the stored latestMtime is always >= the true value, and equal to it when `stale == 0`.
 * A decrease marks every ancestor whose stored value it may have produced as stale; reads recompute
 * stale directories lazily (TreeStore.aggregates).
 *
 * Freed slots are chained through `childCount` (intrusive free list, no extra column).
 *
 * The `on*` methods keep the aggregates of every ancestor right after a change to one node; they
 * walk the parent chain once (depth ~5-10 in practice), which is the per-event cost of aggregates.
 */
import { FLAG_BLIND_SPOT, FLAG_DIRECTORY, FLAG_SUSPECT } from './flags.ts';
import { grown, nextCapacity } from './grow.ts';
import type { NodeColumns } from './node-columns.ts';

export interface DirAggregates {
  fileCount: number;
  dirCount: number;
  totalSize: number;
  latestMtime: number;
  suspectCount: number;
  blindSpotCount: number;
  lastChangeAt: number;
}

export class DirTable {
  fileCount: Int32Array;
  dirCount: Int32Array;
  childCount: Int32Array;
  suspectCount: Int32Array;
  blindSpotCount: Int32Array;
  totalSize: Float64Array;
  latestMtime: Float64Array;
  lastChangeAt: Float64Array;
  changeSeq: Float64Array;
  stale: Uint8Array;
  /**
   * Mutation counter: bumped by every `alloc` and `on*` call. Unlike `lastChangeAt` it does not depend on
   * the caller's clock (no same-millisecond ties, and flag bookkeeping with `now = 0` counts), so a
   * reader holding `seq` can tell whether anything below a directory changed since (the /tree cache).
   */
  seq = 0;

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
    this.changeSeq = new Float64Array(capacity);
    this.stale = new Uint8Array(capacity);
  }

  get count(): number { return this.used; }
  get capacity(): number { return this.fileCount.length; }

  bytes(): number { return this.capacity * 53; }

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
    this.changeSeq[slot] = ++this.seq; // a new directory is a change of itself
    this.stale[slot] = 0;
    this.used++;
    return slot;
  }

  free(slot: number): void {
    this.childCount[slot] = this.freeHead;
    this.freeHead = slot;
    this.used--;
  }

  // --- maintenance along the parent chain ---------------------------------------------------

  /** A node was added under `parent` (with zero size/mtime and no flags). */
  onInsert(nodes: NodeColumns, parent: number, isDirectory: boolean, now: number): void {
    const parentOf = nodes.parent;
    const dirSlot = nodes.dirSlot;
    const lastChangeAt = this.lastChangeAt;
    const changeSeq = this.changeSeq;
    const seq = ++this.seq;
    this.childCount[dirSlot[parent]]++;
    const counts = isDirectory ? this.dirCount : this.fileCount;
    for (let a = parent; a !== -1; a = parentOf[a]) {
      const s = dirSlot[a];
      counts[s]++;
      if (now > lastChangeAt[s]) lastChangeAt[s] = now;
      changeSeq[s] = seq;
    }
  }

  /** `id` and its subtree are about to be removed (call before its columns change). */
  onRemove(nodes: NodeColumns, id: number, now: number): void {
    const flags = nodes.flags[id];
    const slot = nodes.dirSlot[id];
    const blind = (flags & FLAG_BLIND_SPOT) !== 0 ? 1 : 0;
    let files = 1, subdirs = 0, size = nodes.size[id], suspect = (flags & FLAG_SUSPECT) !== 0 ? 1 : 0;
    let blindSpots = blind;
    let maxMtime = nodes.mtime[id];
    if (slot !== -1) {
      files = this.fileCount[slot];
      subdirs = this.dirCount[slot] + 1;
      size = this.totalSize[slot];
      suspect = this.suspectCount[slot];
      blindSpots = this.blindSpotCount[slot] + blind;
      // The stored value is an upper bound: at worst an ancestor is marked stale needlessly.
      if (this.latestMtime[slot] > maxMtime) maxMtime = this.latestMtime[slot];
    }
    const parentOf = nodes.parent;
    const dirSlot = nodes.dirSlot;
    const seq = ++this.seq;
    this.childCount[dirSlot[parentOf[id]]]--;
    for (let a = parentOf[id]; a !== -1; a = parentOf[a]) {
      const s = dirSlot[a];
      this.fileCount[s] -= files;
      this.dirCount[s] -= subdirs;
      this.totalSize[s] -= size;
      this.suspectCount[s] -= suspect;
      this.blindSpotCount[s] -= blindSpots;
      if (maxMtime >= this.latestMtime[s] && this.latestMtime[s] > 0) this.stale[s] = 1;
      if (now > this.lastChangeAt[s]) this.lastChangeAt[s] = now;
      this.changeSeq[s] = seq;
    }
  }

  /** Size/mtime of `id` changed from (oldSize, oldMtime) to its current column values. */
  onAttrs(nodes: NodeColumns, id: number, oldSize: number, oldMtime: number, now: number): void {
    const parentOf = nodes.parent;
    const dirSlot = nodes.dirSlot;
    const mtime = nodes.mtime[id];
    const dSize = dirSlot[id] === -1 ? nodes.size[id] - oldSize : 0; // directory sizes are not aggregated
    const decreased = mtime < oldMtime;
    const seq = ++this.seq;
    if (dirSlot[id] !== -1) this.changeSeq[dirSlot[id]] = seq; // the directory's own attributes
    for (let a = parentOf[id]; a !== -1; a = parentOf[a]) {
      const s = dirSlot[a];
      if (dSize !== 0) this.totalSize[s] += dSize;
      const latest = this.latestMtime[s];
      if (mtime > latest) this.latestMtime[s] = mtime;
      else if (decreased && oldMtime >= latest) this.stale[s] = 1; // it may have been the max
      if (now > this.lastChangeAt[s]) this.lastChangeAt[s] = now;
      this.changeSeq[s] = seq;
    }
  }

  /** Flags of `id` changed from `oldFlags` to its current column value. */
  onFlags(nodes: NodeColumns, id: number, oldFlags: number, now: number): void {
    const parentOf = nodes.parent;
    const dirSlot = nodes.dirSlot;
    const flags = nodes.flags[id];
    const delta = (bit: number): number => ((flags & bit) !== 0 ? 1 : 0) - ((oldFlags & bit) !== 0 ? 1 : 0);
    const dSuspect = (flags & FLAG_DIRECTORY) === 0 ? delta(FLAG_SUSPECT) : 0; // files only
    const dBlind = delta(FLAG_BLIND_SPOT);
    const seq = ++this.seq;
    if (dirSlot[id] !== -1) this.changeSeq[dirSlot[id]] = seq; // the directory's own flags
    for (let a = parentOf[id]; a !== -1; a = parentOf[a]) {
      const s = dirSlot[a];
      this.suspectCount[s] += dSuspect;
      this.blindSpotCount[s] += dBlind;
      if (now > this.lastChangeAt[s]) this.lastChangeAt[s] = now;
      this.changeSeq[s] = seq;
    }
  }

  // --- reading ---------------------------------------------------------------------------------

  /** Aggregates below `id`; for a file, its own values (lastChangeAt = its lastUpdatedAt). */
  read(nodes: NodeColumns, id: number): DirAggregates {
    const s = nodes.dirSlot[id];
    if (s === -1) {
      const f = nodes.flags[id];
      return {
        fileCount: 1, dirCount: 0, totalSize: nodes.size[id], latestMtime: nodes.mtime[id],
        suspectCount: (f & FLAG_SUSPECT) !== 0 ? 1 : 0, blindSpotCount: (f & FLAG_BLIND_SPOT) !== 0 ? 1 : 0,
        lastChangeAt: nodes.updated[id],
      };
    }
    if (this.stale[s] !== 0) this.recomputeLatestMtime(nodes, id);
    return {
      fileCount: this.fileCount[s], dirCount: this.dirCount[s], totalSize: this.totalSize[s],
      latestMtime: this.latestMtime[s], suspectCount: this.suspectCount[s], blindSpotCount: this.blindSpotCount[s],
      lastChangeAt: this.lastChangeAt[s],
    };
  }

  /**
   * Recompute latestMtime of a stale directory: max over its direct children's mtime and over its
   * child directories' latestMtime (recomputed first when stale themselves). A non-stale child's
   * stored value is exact and is used as is, so the cost is the children of the stale directories.
   * Recursion depth is bounded by path depth (<= 2048 for 4096-character paths).
   */
  private recomputeLatestMtime(nodes: NodeColumns, dir: number): number {
    const { firstChild, nextSibling, dirSlot, mtime } = nodes;
    let max = 0;
    for (let c = firstChild[dir]; c !== -1; c = nextSibling[c]) {
      if (mtime[c] > max) max = mtime[c];
      const s = dirSlot[c];
      if (s === -1) continue;
      const sub = this.stale[s] !== 0 ? this.recomputeLatestMtime(nodes, c) : this.latestMtime[s];
      if (sub > max) max = sub;
    }
    const slot = dirSlot[dir];
    this.latestMtime[slot] = max;
    this.stale[slot] = 0;
    return max;
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
    this.changeSeq = grown(this.changeSeq, capacity);
    this.stale = grown(this.stale, capacity);
  }
}
