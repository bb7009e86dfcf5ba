/**
 * Global child index: (parent id, nameId) -> child node id, for every node except the root.
 *
 * One open-addressing table for the whole tree instead of one Map per directory: a Map costs
 * ~40-80 B per entry plus per-Map overhead and V8 Maps stop at 2^24 entries; this table costs
 * 4 B / 0.35..0.7 = 6-11 B per node and scales to the int32 id space.
 *
 * Slots hold `node + 1` (0 = empty). The key is not stored: it is read back from the tree's
 * `parent` and `nameId` columns, which the store hands over with `setColumns()` whenever it grows
 * them. Linear probing with backward-shift deletion, so there are no tombstones and lookups never
 * degrade after many deletions.
 *
 * Invariant: a node is in the table iff it is live and not the root; `parent`/`nameId` of a node
 * never change while it is in the table (removal happens before the columns are reset).
 */
import { powerOfTwoAtLeast } from './grow.ts';

const MAX_LOAD = 0.7;

function slotHash(parent: number, nameId: number): number {
  let h = Math.imul(parent, 0x9e3779b1) ^ Math.imul(nameId + 0x7f4a7c15, 0x85ebca77);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h;
}

export class ChildIndex {
  private table: Int32Array;
  private mask: number;
  private count = 0;
  private parentOf: Int32Array;
  private nameOf: Int32Array;

  constructor(expected: number, parentOf: Int32Array, nameOf: Int32Array) {
    const cap = powerOfTwoAtLeast(Math.max(16, Math.ceil(expected / MAX_LOAD)));
    this.table = new Int32Array(cap);
    this.mask = cap - 1;
    this.parentOf = parentOf;
    this.nameOf = nameOf;
  }

  get size(): number { return this.count; }
  bytes(): number { return this.table.byteLength; }

  /** The store calls this after replacing its parent/nameId columns. */
  setColumns(parentOf: Int32Array, nameOf: Int32Array): void {
    this.parentOf = parentOf;
    this.nameOf = nameOf;
  }

  /** Child of `parent` named `nameId`, or -1. */
  find(parent: number, nameId: number): number {
    const table = this.table;
    const mask = this.mask;
    const parentOf = this.parentOf;
    const nameOf = this.nameOf;
    let slot = slotHash(parent, nameId) & mask;
    for (;;) {
      const v = table[slot];
      if (v === 0) return -1;
      const node = v - 1;
      if (nameOf[node] === nameId && parentOf[node] === parent) return node;
      slot = (slot + 1) & mask;
    }
  }

  /** Add `node` under its current (parent, nameId) key. The key must not be present. */
  insert(node: number): void {
    if (this.count + 1 > this.table.length * MAX_LOAD) this.rehash(this.table.length * 2);
    this.place(node);
    this.count++;
  }

  /** Remove `node` (must be present). */
  remove(node: number): void {
    const table = this.table;
    const mask = this.mask;
    let i = slotHash(this.parentOf[node], this.nameOf[node]) & mask;
    while (table[i] !== node + 1) {
      if (table[i] === 0) throw new Error(`child index: node ${node} is not indexed`);
      i = (i + 1) & mask;
    }
    // Backward-shift: pull later entries of the probe run into the hole when their home slot
    // does not lie cyclically in (hole, j].
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const v = table[j];
      if (v === 0) break;
      const home = slotHash(this.parentOf[v - 1], this.nameOf[v - 1]) & mask;
      const stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
      if (!stays) {
        table[i] = v;
        i = j;
      }
    }
    table[i] = 0;
    this.count--;
  }

  clear(expected: number): void {
    const cap = powerOfTwoAtLeast(Math.max(16, Math.ceil(expected / MAX_LOAD)));
    this.table = new Int32Array(cap);
    this.mask = cap - 1;
    this.count = 0;
  }

  private place(node: number): void {
    const table = this.table;
    const mask = this.mask;
    let slot = slotHash(this.parentOf[node], this.nameOf[node]) & mask;
    while (table[slot] !== 0) slot = (slot + 1) & mask;
    table[slot] = node + 1;
  }

  private rehash(capacity: number): void {
    const old = this.table;
    this.table = new Int32Array(capacity);
    this.mask = capacity - 1;
    for (let i = 0; i < old.length; i++) if (old[i] !== 0) this.place(old[i] - 1);
  }
}
