/**
 * Name dictionary and name search index.
 *
 * Every distinct name is stored once, as its raw bytes, in a growable byte arena. Names are
 * append-only: name `i` occupies `arena[offsets[i] .. offsets[i + 1])`, so no length column is
 * needed. An open-addressing hash table (linear probing, power-of-two capacity, load <= 0.7, FNV-1a
 * over the bytes) maps bytes -> nameId.
 *
 * The dictionary is also the search index: every node carrying a name is on a doubly linked chain
 * (`nodeNext` / `nodePrev`, per-node columns owned here) that starts at `head[nameId]`.
 *
 * A name whose last node goes away is NOT removed: it stays in the arena and the table so that the
 * next node with the same name (very common: a file that is deleted and re-created, `.tmp` names,
 * `sub_0`...) reuses it without allocation. Such names are "garbage" (`head == -1`); they are counted
 * and reported by `TreeStore.memoryStats()`, and `clear()` drops them. We do not keep a reference count
 * column: `head == -1` is exactly "refCount == 0", which is all the store needs, and saves 4 B per name.
 *
 * API strings are converted to bytes with the surrogate-escape convention of `src/protocol/paths.ts`
 * (`encodeName` / `decodeName`). The hot path avoids allocation: `load()` writes the bytes of a name
 * (or of a path segment) into a reusable scratch buffer and hashes them in the same pass.
 */
import { decodeName, encodeName } from '../../protocol/paths.ts';
import { MAX_ARENA_BYTES, grown, nextCapacity, powerOfTwoAtLeast } from './grow.ts';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const MAX_LOAD = 0.7;

export class NameDictionary {
  /** Raw name bytes, append-only. */
  private arena = new Uint8Array(4096);
  private arenaUsed = 0;
  /** offsets[i] is where name i starts; offsets[count] is the end of the last name (Uint32: up to 4 GiB of names). */
  private offsets = new Uint32Array(257);
  /** First node carrying name i, or -1 (the name is then garbage). */
  private head = new Int32Array(256).fill(-1);
  /** nameId + 1 per slot; 0 = empty. */
  private table = new Int32Array(512);
  private mask = 511;
  /** Number of distinct names ever interned (live + garbage). */
  private count = 0;
  /** Names with at least one node. */
  private live = 0;

  /** Per-node chain of nodes sharing a name (indexed by node id). */
  nodeNext: Int32Array;
  nodePrev: Int32Array;

  /** The bytes of the last `load()`ed name. */
  private scratch = new Uint8Array(256);
  private scratchLen = 0;
  private scratchHash = 0;

  constructor(nodeCapacity: number) {
    this.nodeNext = new Int32Array(nodeCapacity);
    this.nodePrev = new Int32Array(nodeCapacity);
  }

  get distinctCount(): number { return this.count; }
  get liveCount(): number { return this.live; }
  get garbageCount(): number { return this.count - this.live; }

  growNodes(capacity: number): void {
    this.nodeNext = grown(this.nodeNext, capacity);
    this.nodePrev = grown(this.nodePrev, capacity);
  }

  bytes(): number {
    return this.arena.byteLength + this.offsets.byteLength + this.head.byteLength + this.table.byteLength
      + this.scratch.byteLength + this.nodeNext.byteLength + this.nodePrev.byteLength;
  }

  /**
   * Put the bytes of `s.slice(start, end)` into the scratch buffer and hash them. ASCII is copied
   * char by char with no allocation; anything else goes through `encodeName` (rare).
   */
  load(s: string, start = 0, end = s.length): void {
    const len = end - start;
    if (len * 4 > this.scratch.length) this.scratch = new Uint8Array(powerOfTwoAtLeast(len * 4));
    const buf = this.scratch;
    let h = FNV_OFFSET;
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(start + i);
      if (c > 0x7f) { this.loadSlow(s.slice(start, end)); return; }
      buf[i] = c;
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    this.scratchLen = len;
    this.scratchHash = h;
  }

  private loadSlow(name: string): void {
    const bytes = encodeName(name);
    this.scratch.set(bytes);
    this.scratchLen = bytes.length;
    this.scratchHash = hashBytes(bytes, 0, bytes.length);
  }

  /** nameId of the loaded name, or -1. */
  findLoaded(): number {
    const table = this.table;
    const mask = this.mask;
    let slot = mix(this.scratchHash) & mask;
    for (;;) {
      const v = table[slot];
      if (v === 0) return -1;
      if (this.equalsLoaded(v - 1)) return v - 1;
      slot = (slot + 1) & mask;
    }
  }

  /** nameId of the loaded name, interning it if new. */
  internLoaded(): number {
    const found = this.findLoaded();
    if (found >= 0) return found;
    if ((this.count + 1) > this.table.length * MAX_LOAD) this.rehash(this.table.length * 2);
    const id = this.count;
    const len = this.scratchLen;
    if (id + 2 > this.offsets.length) {
      const cap = nextCapacity(this.offsets.length, id + 2);
      this.offsets = grown(this.offsets, cap);
      this.head = grown(this.head, cap, -1);
    }
    if (this.arenaUsed + len > this.arena.length) {
      this.arena = grown(this.arena, nextCapacity(this.arena.length, this.arenaUsed + len, MAX_ARENA_BYTES));
    }
    this.arena.set(this.scratch.subarray(0, len), this.arenaUsed);
    this.arenaUsed += len;
    this.offsets[id + 1] = this.arenaUsed;
    this.count = id + 1;
    this.insertSlot(id, this.scratchHash);
    return id;
  }

  find(name: string): number { this.load(name); return this.findLoaded(); }
  intern(name: string): number { this.load(name); return this.internLoaded(); }

  decode(id: number): string {
    const a = this.arena;
    const start = this.offsets[id];
    const end = this.offsets[id + 1];
    for (let i = start; i < end; i++) {
      if (a[i] > 0x7f) return decodeName(a, start, end);
    }
    return String.fromCharCode.apply(null, a.subarray(start, end) as unknown as number[]);
  }

  /** Byte-order comparison of two names (negative, 0, positive). */
  compare(x: number, y: number): number {
    if (x === y) return 0;
    const a = this.arena;
    let i = this.offsets[x];
    let j = this.offsets[y];
    const ie = this.offsets[x + 1];
    const je = this.offsets[y + 1];
    while (i < ie && j < je) {
      const d = a[i++] - a[j++];
      if (d !== 0) return d;
    }
    return (ie - i) - (je - j);
  }

  // --- search index: chain of nodes per name -------------------------------------------------

  headNode(id: number): number { return id < this.count ? this.head[id] : -1; }

  /** Put `node` on the chain of `id` (at the head). */
  attach(node: number, id: number): void {
    const first = this.head[id];
    if (first === -1) this.live++;
    else this.nodePrev[first] = node;
    this.nodeNext[node] = first;
    this.nodePrev[node] = -1;
    this.head[id] = node;
  }

  /** Take `node` off the chain of `id`. */
  detach(node: number, id: number): void {
    const next = this.nodeNext[node];
    const prev = this.nodePrev[node];
    if (prev === -1) {
      this.head[id] = next;
      if (next === -1) this.live--;
    } else this.nodeNext[prev] = next;
    if (next !== -1) this.nodePrev[next] = prev;
  }

  // --- internals ------------------------------------------------------------------------------

  private equalsLoaded(id: number): boolean {
    const start = this.offsets[id];
    const len = this.scratchLen;
    if (this.offsets[id + 1] - start !== len) return false;
    const a = this.arena;
    const s = this.scratch;
    for (let i = 0; i < len; i++) if (a[start + i] !== s[i]) return false;
    return true;
  }

  private insertSlot(id: number, hash: number): void {
    const table = this.table;
    const mask = this.mask;
    let slot = mix(hash) & mask;
    while (table[slot] !== 0) slot = (slot + 1) & mask;
    table[slot] = id + 1;
  }

  private rehash(capacity: number): void {
    this.table = new Int32Array(capacity);
    this.mask = capacity - 1;
    for (let id = 0; id < this.count; id++) {
      this.insertSlot(id, hashBytes(this.arena, this.offsets[id], this.offsets[id + 1]));
    }
  }
}

function hashBytes(a: Uint8Array, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) h = Math.imul(h ^ a[i], FNV_PRIME);
  return h;
}

/** FNV-1a's low bits are weak for short keys; fold the high bits in before masking. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x45d9f3b);
  return h ^ (h >>> 16);
}
