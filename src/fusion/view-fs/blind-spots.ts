/**
 * Blind spots (spec 20): what the agents' realtime watch did not see.
 *
 * - Additions are files an audit or on-demand walk created or changed. They live in the tree only, as
 *   FLAG_BLIND_SPOT, so they vanish with their nodes and need no path strings; the directory
 *   aggregates count them, which lets a listing skip every subtree without one. Only files are
 *   marked (the predecessor reported files only); directories discovered that way carry
 *   `agent_missing` instead.
 * - Deletions are paths a compensating source removed; the nodes are gone, so they are a path set.
 *
 * Both persist across audits; a realtime event for a path clears it, a new session clears all.
 */
import { badRequest } from '../../kernel/errors.ts';
import type { FsNode } from '../../protocol/index.ts';
import { FLAG_BLIND_SPOT, type TreeStore } from '../tree/tree-store.ts';
import { fsNode } from './node-format.ts';

export class BlindSpotDeletions {
  private readonly paths = new Set<string>();
  get size(): number { return this.paths.size; }
  add(path: string): void { this.paths.add(path); }
  delete(path: string): boolean { return this.paths.size !== 0 && this.paths.delete(path); }
  has(path: string): boolean { return this.paths.has(path); }
  values(): IterableIterator<string> { return this.paths.values(); }
  clear(): void { this.paths.clear(); }
}

/** Number of blind-spot additions in the whole tree (O(1), from the root aggregates). */
export function additionCount(tree: TreeStore): number {
  return tree.aggregates(tree.root).blindSpotCount;
}

/**
 * Visit flagged nodes in tree order, skipping subtrees without any. `fn` returns false to stop.
 * The tree must not be mutated from `fn`.
 */
export function forEachAddition(tree: TreeStore, fn: (id: number) => boolean | void): void {
  let stopped = false;
  tree.walk(tree.root, (id) => {
    if (stopped) return false;
    if (tree.hasFlag(id, FLAG_BLIND_SPOT) && fn(id) === false) { stopped = true; return false; }
    return tree.isDirectory(id) && tree.aggregates(id).blindSpotCount > 0;
  });
}

/** Ids of every flagged node (collect first: the caller may then mutate the tree). */
export function additionIds(tree: TreeStore): number[] {
  const ids: number[] = [];
  if (additionCount(tree) === 0) return ids;
  forEachAddition(tree, (id) => { ids.push(id); });
  return ids;
}

export const DEFAULT_BLIND_SPOT_PAGE = 1000;

export interface BlindSpotPage {
  additions_count: number;
  additions: FsNode[];
  deletion_count: number;
  deletions: string[];
  next_cursor?: string;
}

/** Parse an offset cursor of a paged listing. */
export function offsetCursor(cursor: string | undefined): number {
  if (cursor === undefined || cursor === '') return 0;
  if (!/^[0-9]{1,12}$/.test(cursor)) throw badRequest('cursor is not a value returned by a previous page');
  return Number(cursor);
}

/**
 * `GET /blind-spots`: additions (tree order) then deletions (insertion order), paged together with an
 * offset cursor; `limit` defaults to 1000 per page.
 */
export function listBlindSpots(tree: TreeStore, deletions: BlindSpotDeletions, q: { limit?: number; cursor?: string }): BlindSpotPage {
  const limit = q.limit ?? DEFAULT_BLIND_SPOT_PAGE;
  const offset = offsetCursor(q.cursor);
  const addCount = additionCount(tree);
  const page: BlindSpotPage = { additions_count: addCount, additions: [], deletion_count: deletions.size, deletions: [] };
  if (offset < addCount) {
    let i = 0;
    forEachAddition(tree, (id) => {
      if (i++ < offset) return true;
      page.additions.push(fsNode(tree, id, tree.path(id)));
      return page.additions.length < limit;
    });
  }
  let skip = Math.max(0, offset - addCount);
  if (page.additions.length < limit) {
    for (const p of deletions.values()) {
      if (skip > 0) { skip--; continue; }
      page.deletions.push(p);
      if (page.additions.length + page.deletions.length >= limit) break;
    }
  }
  const consumed = offset + page.additions.length + page.deletions.length;
  if (consumed < addCount + deletions.size) page.next_cursor = String(consumed);
  return page;
}
