/**
 * The per-node columns of the tree store, the id allocator and its free list.
 *
 * A node id indexes every column. Columns grow together (see grow.ts); `onGrow` lets the owner
 * resize the columns it keeps elsewhere (name chains) and re-point the child index.
 *
 * Freed ids are chained through `nextSibling` (LIFO, no extra column) and marked with
 * `parent == FREE`; `generation` is bumped on every free so that (id, generation) pairs held by
 * cursors or caches can detect reuse.
 */
import { grown, nextCapacity } from './grow.ts';

/** `parent` value of a freed id (the root's parent is -1). */
export const FREE = -2;

export class NodeColumns {
  parent: Int32Array;
  firstChild: Int32Array;
  nextSibling: Int32Array;
  prevSibling: Int32Array;
  nameId: Int32Array;
  /** FLAG_* bits. */
  flags: Uint8Array;
  size: Float64Array;
  mtime: Float64Array;
  ctime: Float64Array;
  /** lastUpdatedAt, epoch seconds; 0 = never by realtime. */
  updated: Float64Array;
  lineage: Uint16Array;
  /** Index into the DirTable, -1 for files. */
  dirSlot: Int32Array;
  generation: Uint32Array;

  /** Ids below this have been handed out at least once. */
  highWater = 0;
  private freeHead = -1;

  constructor(capacity: number, private readonly onGrow: (capacity: number) => void) {
    this.parent = new Int32Array(capacity);
    this.firstChild = new Int32Array(capacity);
    this.nextSibling = new Int32Array(capacity);
    this.prevSibling = new Int32Array(capacity);
    this.nameId = new Int32Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.size = new Float64Array(capacity);
    this.mtime = new Float64Array(capacity);
    this.ctime = new Float64Array(capacity);
    this.updated = new Float64Array(capacity);
    this.lineage = new Uint16Array(capacity);
    this.dirSlot = new Int32Array(capacity);
    this.generation = new Uint32Array(capacity);
  }

  get capacity(): number { return this.parent.length; }

  exists(id: number): boolean {
    return (id | 0) === id && id >= 0 && id < this.highWater && this.parent[id] !== FREE;
  }

  /** A free id (columns not initialised), growing the columns when every id is in use. */
  take(): number {
    const id = this.freeHead;
    if (id !== -1) {
      this.freeHead = this.nextSibling[id];
      return id;
    }
    if (this.highWater >= this.capacity) this.grow(nextCapacity(this.capacity, this.highWater + 1));
    return this.highWater++;
  }

  release(id: number): void {
    this.parent[id] = FREE;
    this.generation[id] = (this.generation[id] + 1) >>> 0;
    this.nextSibling[id] = this.freeHead;
    this.freeHead = id;
  }

  bytes(): number {
    let total = 0;
    for (const col of [this.parent, this.firstChild, this.nextSibling, this.prevSibling, this.nameId, this.flags,
      this.size, this.mtime, this.ctime, this.updated, this.lineage, this.dirSlot, this.generation]) total += col.byteLength;
    return total;
  }

  private grow(capacity: number): void {
    this.parent = grown(this.parent, capacity);
    this.firstChild = grown(this.firstChild, capacity);
    this.nextSibling = grown(this.nextSibling, capacity);
    this.prevSibling = grown(this.prevSibling, capacity);
    this.nameId = grown(this.nameId, capacity);
    this.flags = grown(this.flags, capacity);
    this.size = grown(this.size, capacity);
    this.mtime = grown(this.mtime, capacity);
    this.ctime = grown(this.ctime, capacity);
    this.updated = grown(this.updated, capacity);
    this.lineage = grown(this.lineage, capacity);
    this.dirSlot = grown(this.dirSlot, capacity);
    this.generation = grown(this.generation, capacity);
    this.onGrow(capacity);
  }
}
