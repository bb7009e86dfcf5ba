/**
 * TreeStore: a synchronous, columnar tree of file-system nodes (see README.md).
 *
 * Nodes are int32 ids into parallel typed-array columns. Nothing per node is a JS object or string:
 * names live in the NameDictionary, the (parent, name) -> child map in the global ChildIndex, and
 * directory aggregates in the DirTable (indexed by `dirSlot`). No Map/Set holds per-node data, so the
 * store scales past V8's 2^24-entry Map limit, at ~70-90 B per node.
 *
 * Structural invariants (checked by the property test):
 *  - id 0 is the root (path `/`, a directory, parent -1, nameId -1) and is never freed;
 *  - a live node's `parent` is a live directory and the node is on that directory's sibling list
 *    (`firstChild` / `nextSibling` / `prevSibling`), in the ChildIndex and on its name's chain;
 *  - a freed id has `parent == FREE` and is on the free list, chained through `nextSibling`;
 *  - `dirSlot` is -1 exactly for files; directory aggregates satisfy the DirTable invariants.
 *
 * Callers must not mutate the store from inside `walk`/`children`/`removeSubtree` callbacks.
 * Reading a freed id returns meaningless values; mutators check and throw.
 */
import { ChildIndex } from './child-index.ts';
import { DirTable, type DirAggregates } from './dir-aggregates.ts';
import { FLAG_DIRECTORY, MUTABLE_FLAGS } from './flags.ts';
import { LineageTable, type Lineage } from './lineage.ts';
import { NameDictionary } from './name-dictionary.ts';
import { NodeColumns } from './node-columns.ts';


export const NO_NODE = -1;
/** Bound of the sortedChildren cache (directories, not nodes). */
const SORTED_CACHE_LIMIT = 4096;

export type { DirAggregates } from './dir-aggregates.ts';
export type { Lineage } from './lineage.ts';
export * from './flags.ts';

/** Thrown when a path goes through a node that is a file (the caller must remove it and retry). */
export class NotADirectoryError extends Error {
  constructor(readonly nodeId: number, readonly path: string) {
    super(`tree store: ${path} is not a directory`);
    this.name = 'NotADirectoryError';
  }
}

export interface TreeStoreOptions { initialCapacity?: number; maxNodes?: number }

export class TreeStore {
  readonly root = 0;
  /** 0 = unlimited. Settable at any time (config reload); existing nodes are kept. */
  maxNodes: number;

  private nodes!: NodeColumns;
  private live = 0;
  private refused = 0;

  private names!: NameDictionary;
  private index!: ChildIndex;
  private dirs!: DirTable;
  private readonly lineages = new LineageTable();
  /** dir id -> children sorted by name; LRU by insertion order. */
  private readonly sortedCache = new Map<number, Int32Array>();

  // One-entry cache of the last resolved parent directory: consecutive events mostly hit the same
  // directory, so ensurePath/lookup then hash only the last segment. Validated by generation.
  private cachedDirPath = '';
  private cachedDirId = -1;
  private cachedDirGen = 0;

  private readonly initialCapacity: number;

  constructor(opts: TreeStoreOptions = {}) {
    this.initialCapacity = Math.max(16, Math.floor(opts.initialCapacity ?? 1024));
    this.maxNodes = opts.maxNodes ?? 0;
    this.reset();
  }

  get liveCount(): number { return this.live; }
  get refusedCount(): number { return this.refused; }

  // --- lookup -------------------------------------------------------------------------------

  lookup(path: string): number {
    return this.resolve(path, false, false, 0, undefined);
  }

  lookupChild(parent: number, name: string): number {
    if (!this.exists(parent) || this.nodes.dirSlot[parent] === -1) return NO_NODE;
    const nameId = this.names.find(name);
    return nameId === -1 ? NO_NODE : this.index.find(parent, nameId);
  }

  // --- creation -----------------------------------------------------------------------------

  ensurePath(path: string, isDirectory: boolean, now: number, onCreate?: (id: number) => void): number {
    return this.resolve(path, true, isDirectory, now, onCreate);
  }

  /** Create `name` under `parent`; an existing child of that name is returned unchanged (whatever its type). */
  createChild(parent: number, name: string, isDirectory: boolean, now: number): number {
    if (!this.exists(parent)) throw new RangeError(`tree store: node ${parent} does not exist`);
    if (this.nodes.dirSlot[parent] === -1) throw new NotADirectoryError(parent, this.path(parent));
    const names = this.names;
    names.load(name);
    let nameId = names.findLoaded();
    if (nameId !== -1) {
      const existing = this.index.find(parent, nameId);
      if (existing !== -1) return existing;
    }
    if (this.refuse()) return NO_NODE;
    if (nameId === -1) nameId = names.internLoaded();
    return this.insertNode(parent, nameId, isDirectory, now);
  }

  /**
   * Walk `path` segment by segment. With `create`, missing nodes are made (parents as directories,
   * the last one as `isDirectory`); otherwise the first missing segment returns NO_NODE.
   */
  private resolve(path: string, create: boolean, isDirectory: boolean, now: number,
    onCreate: ((id: number) => void) | undefined): number {
    if (path.length === 1) return 0; // '/'
    const lastSlash = path.lastIndexOf('/');
    let cur = 0;
    let start = 1;
    let cacheHit = false;
    if (lastSlash > 0 && lastSlash === this.cachedDirPath.length && this.cachedDirOk() && path.startsWith(this.cachedDirPath)) {
      cur = this.cachedDirId;
      start = lastSlash + 1;
      cacheHit = true;
    }
    const names = this.names;
    const index = this.index;
    for (;;) {
      let end = path.indexOf('/', start);
      const last = end === -1;
      if (last) end = path.length;
      names.load(path, start, end);
      let nameId = names.findLoaded();
      let child = nameId === -1 ? -1 : index.find(cur, nameId);
      if (child === -1) {
        if (!create) return NO_NODE;
        if (this.nodes.dirSlot[cur] === -1) throw new NotADirectoryError(cur, this.path(cur));
        if (this.refuse()) return NO_NODE;
        if (nameId === -1) nameId = names.internLoaded();
        child = this.insertNode(cur, nameId, last ? isDirectory : true, now);
        if (onCreate !== undefined) onCreate(child);
      }
      if (last) {
        if (!cacheHit && lastSlash > 0) {
          this.cachedDirPath = path.slice(0, lastSlash);
          this.cachedDirId = cur;
          this.cachedDirGen = this.nodes.generation[cur];
        }
        return child;
      }
      cur = child;
      start = end + 1;
    }
  }

  private cachedDirOk(): boolean {
    const id = this.cachedDirId;
    return this.nodes.exists(id) && this.nodes.generation[id] === this.cachedDirGen;
  }

  private refuse(): boolean {
    if (this.maxNodes > 0 && this.live >= this.maxNodes) {
      this.refused++;
      return true;
    }
    return false;
  }

  private insertNode(parent: number, nameId: number, isDirectory: boolean, now: number): number {
    const n = this.nodes;
    const id = n.take(); // may grow the columns: read them from `n` only after this
    n.parent[id] = parent;
    n.firstChild[id] = -1;
    n.nameId[id] = nameId;
    n.flags[id] = isDirectory ? FLAG_DIRECTORY : 0;
    n.size[id] = 0;
    n.mtime[id] = 0;
    n.ctime[id] = 0;
    n.updated[id] = 0;
    n.lineage[id] = 0;
    n.dirSlot[id] = isDirectory ? this.dirs.alloc() : -1;
    // Push on the parent's sibling list.
    const first = n.firstChild[parent];
    n.nextSibling[id] = first;
    n.prevSibling[id] = -1;
    if (first !== -1) n.prevSibling[first] = id;
    n.firstChild[parent] = id;
    this.index.insert(id);
    this.names.attach(id, nameId);
    this.live++;

    this.dirs.onInsert(this.nodes, parent, isDirectory, now);
    if (this.sortedCache.size !== 0) this.sortedCache.delete(parent);
    return id;
  }

  // --- removal ------------------------------------------------------------------------------

  removeSubtree(id: number, now: number, visit?: (id: number) => void): number {
    if (id === 0 || !this.exists(id)) return 0;
    if (visit !== undefined) this.walk(id, (n) => { visit(n); });

    this.dirs.onRemove(this.nodes, id, now);
    const parent = this.nodes.parent[id];
    this.unlinkSibling(id, parent);
    if (this.sortedCache.size !== 0) this.sortedCache.delete(parent);

    // Free post-order without a stack: always descend to a first child, free it, and the parent's
    // firstChild moves to the next sibling.
    let removed = 0;
    let cur = id;
    for (;;) {
      let c: number;
      while ((c = this.nodes.firstChild[cur]) !== -1) cur = c;
      const up = cur === id ? -1 : this.nodes.parent[cur];
      if (up !== -1) this.nodes.firstChild[up] = this.nodes.nextSibling[cur];
      this.freeNode(cur);
      removed++;
      if (up === -1) break;
      cur = up;
    }
    return removed;
  }

  private unlinkSibling(id: number, parent: number): void {
    const next = this.nodes.nextSibling[id];
    const prev = this.nodes.prevSibling[id];
    if (prev === -1) this.nodes.firstChild[parent] = next;
    else this.nodes.nextSibling[prev] = next;
    if (next !== -1) this.nodes.prevSibling[next] = prev;
  }

  private freeNode(id: number): void {
    this.index.remove(id);
    this.names.detach(id, this.nodes.nameId[id]);
    const slot = this.nodes.dirSlot[id];
    if (slot !== -1) {
      this.dirs.free(slot);
      if (this.sortedCache.size !== 0) this.sortedCache.delete(id);
    }
    this.nodes.release(id);
    this.live--;
  }

  // --- node attributes ----------------------------------------------------------------------

  exists(id: number): boolean {
    return this.nodes.exists(id);
  }
  isDirectory(id: number): boolean { return (this.nodes.flags[id] & FLAG_DIRECTORY) !== 0; }
  parent(id: number): number { return this.nodes.parent[id]; }
  /** Bumped every time the id is freed; (id, generation) identifies a node for cursors. */
  generation(id: number): number { return this.nodes.generation[id]; }
  name(id: number): string { return id === 0 ? '' : this.names.decode(this.nodes.nameId[id]); }
  nameId(id: number): number { return this.nodes.nameId[id]; }

  path(id: number): string {
    if (id === 0) return '/';
    const parts: string[] = [];
    for (let a = id; a !== 0; a = this.nodes.parent[a]) parts.push(this.names.decode(this.nodes.nameId[a]));
    let out = '';
    for (let i = parts.length - 1; i >= 0; i--) out += '/' + parts[i];
    return out;
  }

  size(id: number): number { return this.nodes.size[id]; }
  mtime(id: number): number { return this.nodes.mtime[id]; }
  ctime(id: number): number { return this.nodes.ctime[id]; }
  lastUpdatedAt(id: number): number { return this.nodes.updated[id]; }
  flags(id: number): number { return this.nodes.flags[id]; }
  hasFlag(id: number, flag: number): boolean { return (this.nodes.flags[id] & flag) !== 0; }
  lineage(id: number): Lineage { return this.lineages.get(this.nodes.lineage[id]); }
  lineageId(id: number): number { return this.nodes.lineage[id]; }
  internLineage(agentId: string, sourceUri: string): number { return this.lineages.intern(agentId, sourceUri); }

  setAttrs(id: number, size: number, mtime: number, ctime: number, lineage: number, now: number): void {
    this.check(id);
    if (lineage !== (lineage & 0xffff) || lineage >= this.lineages.size) throw new RangeError(`tree store: unknown lineage ${lineage}`);
    const oldSize = this.nodes.size[id];
    const oldMtime = this.nodes.mtime[id];
    if (oldSize === size && oldMtime === mtime && this.nodes.ctime[id] === ctime && this.nodes.lineage[id] === lineage) return;
    this.nodes.size[id] = size;
    this.nodes.mtime[id] = mtime;
    this.nodes.ctime[id] = ctime;
    this.nodes.lineage[id] = lineage;
    this.dirs.onAttrs(this.nodes, id, oldSize, oldMtime, now);
  }

  /** Bookkeeping only: does not count as a change for `lastChangeAt`. */
  setLastUpdatedAt(id: number, t: number): void {
    this.check(id);
    this.nodes.updated[id] = t;
  }

  setFlag(id: number, flag: number, on: boolean, now: number): void {
    this.check(id);
    if ((flag & ~MUTABLE_FLAGS) !== 0) throw new RangeError(`tree store: flag ${flag} cannot be set (the directory bit is fixed)`);
    const old = this.nodes.flags[id];
    const next = on ? old | flag : old & ~flag;
    if (next === old) return;
    this.nodes.flags[id] = next;
    this.dirs.onFlags(this.nodes, id, old, now);
  }

  private check(id: number): void {
    if (!this.exists(id)) throw new RangeError(`tree store: node ${id} does not exist`);
  }

  // --- children and traversal ---------------------------------------------------------------

  /** First child (unsorted order), or -1. With `nextSibling` for allocation-free loops. */
  firstChild(id: number): number { return this.nodes.firstChild[id]; }
  nextSibling(id: number): number { return this.nodes.nextSibling[id]; }

  *children(id: number): Iterable<number> {
    for (let c = this.nodes.firstChild[id]; c !== -1; c = this.nodes.nextSibling[c]) yield c;
  }

  childCount(id: number): number {
    const s = this.nodes.dirSlot[id];
    return s === -1 ? 0 : this.dirs.childCount[s];
  }

  /** Children sorted by name bytes. The array is cached and shared: do not modify it. */
  sortedChildren(id: number): Int32Array {
    const cache = this.sortedCache;
    const hit = cache.get(id);
    if (hit !== undefined) {
      cache.delete(id);
      cache.set(id, hit);
      return hit;
    }
    const out = new Int32Array(this.childCount(id));
    let i = 0;
    for (let c = this.nodes.firstChild[id]; c !== -1; c = this.nodes.nextSibling[c]) out[i++] = c;
    if (out.length === 0) return out;
    const nameOf = this.nodes.nameId;
    const names = this.names;
    out.sort((a, b) => names.compare(nameOf[a], nameOf[b]));
    cache.set(id, out);
    if (cache.size > SORTED_CACHE_LIMIT) cache.delete(cache.keys().next().value as number);
    return out;
  }

  walk(id: number, fn: (id: number, depth: number) => boolean | void): void {
    if (!this.exists(id)) return;
    if (fn(id, 0) === false) return;
    let cur = this.nodes.firstChild[id];
    if (cur === -1) return;
    let depth = 1;
    for (;;) {
      if (fn(cur, depth) !== false && this.nodes.firstChild[cur] !== -1) {
        cur = this.nodes.firstChild[cur];
        depth++;
        continue;
      }
      while (this.nodes.nextSibling[cur] === -1) {
        cur = this.nodes.parent[cur];
        depth--;
        if (cur === id) return;
      }
      cur = this.nodes.nextSibling[cur];
    }
  }

  /**
   * Aggregates of the subtree below `dirId` (the directory itself excluded). For a file: its own
   * values, with `lastChangeAt` = its lastUpdatedAt.
   */
  aggregates(dirId: number): DirAggregates {
    return this.dirs.read(this.nodes, dirId);
  }

  /**
   * Mutation counter of the store: bumped by every creation, removal, `setAttrs` that changed a value and
   * `setFlag` that changed a bit (whatever their `now`); never decreases, not even across `clear()`.
   */
  get mutationSeq(): number { return this.dirs.seq; }

  /**
   * `mutationSeq` as of the last mutation that can show in the node's subtree: for a directory, a change
   * of the directory itself (its attributes or flags, its creation) or of anything below it; for a file,
   * the value of its parent (conservative). `changeSeq(id) <= s` means nothing there changed since `s`.
   */
  changeSeq(id: number): number {
    const n = this.nodes;
    const slot = n.dirSlot[id];
    if (slot !== -1) return this.dirs.changeSeq[slot];
    const p = n.parent[id];
    return p < 0 ? this.dirs.seq : this.dirs.changeSeq[n.dirSlot[p]];
  }

  // --- name index ---------------------------------------------------------------------------

  *nodesNamed(name: string): Iterable<number> {
    const nameId = this.names.find(name);
    if (nameId !== -1) yield* this.nodesOfName(nameId);
  }

  *nodesOfName(nameId: number): Iterable<number> {
    const next = this.names.nodeNext;
    for (let n = this.names.headNode(nameId); n !== -1; n = next[n]) yield n;
  }

  *distinctNames(): Iterable<[number, string]> {
    for (let id = 0; id < this.names.distinctCount; id++) {
      if (this.names.headNode(id) !== -1) yield [id, this.names.decode(id)];
    }
  }

  // --- lifecycle ----------------------------------------------------------------------------

  /** Back to the root only; releases the columns. Lineage ids stay valid (they are config-level). */
  clear(): void { this.reset(); }

  memoryStats(): { nodes: number; capacity: number; bytes: number; bytesPerNode: number; distinctNames: number; garbageNames: number } {
    const capacity = this.nodes.capacity;
    let bytes = this.nodes.bytes() + this.names.bytes() + this.index.bytes() + this.dirs.bytes();
    for (const a of this.sortedCache.values()) bytes += a.byteLength;
    return {
      nodes: this.live,
      capacity,
      bytes,
      bytesPerNode: bytes / this.live,
      distinctNames: this.names.liveCount,
      garbageNames: this.names.garbageCount,
    };
  }

  private reset(): void {
    const cap = this.initialCapacity;
    this.nodes = new NodeColumns(cap, (capacity) => {
      this.names.growNodes(capacity);
      this.index.setColumns(this.nodes.parent, this.nodes.nameId);
    });
    this.names = new NameDictionary(cap);
    this.index = new ChildIndex(cap, this.nodes.parent, this.nodes.nameId);
    const seq = this.dirs === undefined ? 0 : this.dirs.seq;
    this.dirs = new DirTable();
    this.dirs.seq = seq; // monotonic across clear(): readers may hold values from before
    this.sortedCache.clear();
    this.cachedDirPath = '';
    this.cachedDirId = -1;
    this.nodes.take(); // 0
    this.live = 1;
    // Root: id 0, not in the child index nor on any name chain.
    this.nodes.parent[0] = -1;
    this.nodes.firstChild[0] = -1;
    this.nodes.nextSibling[0] = -1;
    this.nodes.prevSibling[0] = -1;
    this.nodes.nameId[0] = -1;
    this.nodes.flags[0] = FLAG_DIRECTORY;
    this.nodes.dirSlot[0] = this.dirs.alloc();
  }
}
