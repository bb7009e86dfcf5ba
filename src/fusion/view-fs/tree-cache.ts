/**
 * A bounded cache of `/tree` answers (the encoded JSON body), for the same subtree asked for again and
 * again (P3: 20 clients reading one submission).
 *
 * Key: the normalised query — path, depth (after max_depth/recursive defaults), only_path and, for a
 * paged listing, limit and cursor. Value: the body, the node's (id, generation), the node count (for
 * max_tree_items, which may change on reload) and the tree's `mutationSeq` when the body was built.
 *
 * Validity. An answer shows the node's own attributes and flags, and those of everything below it down
 * to the depth asked. The tree store's `changeSeq(id)` covers exactly that for a directory (its own
 * attribute/flag changes and every creation, removal, attribute or flag change below it; for a file,
 * the parent's value). An entry is served only while
 *   - the path still resolves to the same (id, generation) — a deleted, renamed or re-created node
 *     resolves to another id or generation, or to nothing (404 as without the cache);
 *   - `changeSeq(id) <= builtSeq` — nothing that can show in the answer changed since it was built.
 * `mutationSeq` is a counter, not a clock: no same-millisecond ties, and the flag bookkeeping that
 * passes `now = 0` (suspect, agent_missing, blind-spot, audit_skipped: deliberately not `lastChangeAt`
 * changes, see view-state.ts) still counts. It survives `clear()` (view reset), and the view also
 * empties the cache on reset. Depth-limited answers are invalidated by changes below their last level
 * too (conservative).
 *
 * Bounds: total body bytes (LRU eviction, insertion order of a Map refreshed on hit); answers larger
 * than `maxEntryBytes` are not cached.
 */
import type { TreeQuery } from '../../protocol/index.ts';
import type { TreeStore } from '../tree/tree-store.ts';
import { DEFAULT_PAGE_SIZE, requestedDepth } from './tree-json.ts';

export const TREE_CACHE_MAX_BYTES = 64 * 1024 * 1024;
export const TREE_CACHE_MAX_ENTRY_BYTES = 8 * 1024 * 1024;

export interface TreeCacheEntry {
  body: Buffer;
  id: number;
  generation: number;
  /** Nodes in the answer (checked against max_tree_items on every hit). */
  count: number;
  /** `tree.mutationSeq` when the body was built. */
  builtSeq: number;
  /** Wall time (ms) it was built, for diagnostics. */
  builtAt: number;
}

export interface TreeCacheStats {
  hits: number;
  misses: number;
  /** Misses that found an entry no longer valid (dropped). */
  stale: number;
  evictions: number;
  /** Answers built but too large to keep. */
  too_large: number;
  entries: number;
  bytes: number;
  max_bytes: number;
}

/** The cache key of a query: equal for queries that produce the same answer from the same tree. */
export function treeCacheKey(q: TreeQuery): string {
  const depth = requestedDepth(q);
  const paged = q.limit !== undefined || q.cursor !== undefined;
  const page = paged ? `${q.limit ?? DEFAULT_PAGE_SIZE}\u0000${q.cursor ?? ''}` : '';
  return `${q.path ?? '/'}\u0000${depth === Infinity ? -1 : depth}\u0000${q.only_path === true ? 1 : 0}\u0000${paged ? 1 : 0}\u0000${page}`;
}

export class TreeCache {
  private readonly map = new Map<string, TreeCacheEntry>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private stale = 0;
  private evictions = 0;
  private tooLarge = 0;

  constructor(readonly maxBytes = TREE_CACHE_MAX_BYTES, readonly maxEntryBytes = TREE_CACHE_MAX_ENTRY_BYTES) {}

  /** The valid entry for `key` whose path resolved to `id` now, or undefined (counted as a miss). */
  get(key: string, tree: TreeStore, id: number): TreeCacheEntry | undefined {
    const e = this.map.get(key);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    if (e.id !== id || e.generation !== tree.generation(id) || tree.changeSeq(id) > e.builtSeq) {
      this.drop(key, e);
      this.stale++;
      this.misses++;
      return undefined;
    }
    this.map.delete(key); // refresh its LRU position
    this.map.set(key, e);
    this.hits++;
    return e;
  }

  /** Keep `e` unless it is too large; evicts the least recently used entries to stay under maxBytes. */
  set(key: string, e: TreeCacheEntry): void {
    const old = this.map.get(key);
    if (old !== undefined) this.drop(key, old);
    const size = e.body.length;
    if (size > this.maxEntryBytes || size > this.maxBytes) {
      this.tooLarge++;
      return;
    }
    this.map.set(key, e);
    this.bytes += size;
    while (this.bytes > this.maxBytes) {
      const oldest = this.map.entries().next().value as [string, TreeCacheEntry];
      this.drop(oldest[0], oldest[1]);
      this.evictions++;
    }
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }

  stats(): TreeCacheStats {
    return {
      hits: this.hits, misses: this.misses, stale: this.stale, evictions: this.evictions, too_large: this.tooLarge,
      entries: this.map.size, bytes: this.bytes, max_bytes: this.maxBytes,
    };
  }

  private drop(key: string, e: TreeCacheEntry): void {
    this.map.delete(key);
    this.bytes -= e.body.length;
  }
}
