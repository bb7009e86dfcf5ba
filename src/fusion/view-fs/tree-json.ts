/**
 * `GET /tree` (spec 30): plan the response, check its size, then write it as JSON text in ~64 KB
 * chunks in one synchronous pass (the gateway streams the chunks).
 *
 * - `max_depth`: 0 = the node alone (no `children` key), n = n levels, -1 = unlimited;
 *   without it, `recursive=false` means one level (the directory listing) and `recursive=true` unlimited.
 * - `only_path`: name, path, content_type (and children).
 * - `limit` + `cursor` page through the direct children of `path`, sorted by name; the cursor is the
 *   base64url of the last name returned; the node then carries `next_cursor` when more follow.
 * - `max_tree_items` is compared with the number of nodes the response would hold, counted before
 *   anything is written: O(1) from the directory aggregates when the depth is unlimited, otherwise by
 *   a walk over the directories above the last level. It applies to a page as well (a page of
 *   subtrees can be as large as the whole tree).
 * Children are written in name order at every level, so the output is stable.
 */
import { FustorError, badRequest, notFound } from '../../kernel/errors.ts';
import type { TreeQuery } from '../../protocol/index.ts';
import { NO_NODE, type TreeStore } from '../tree/tree-store.ts';
import { decodeNameCursor, encodeNameCursor, firstAfter } from './name-cursor.ts';
import { NodeJson } from './node-format.ts';
import { checkPath } from './row-validation.ts';

export const CHUNK_CHARS = 64 * 1024;
export const DEFAULT_PAGE_SIZE = 1000;

export interface TreePlan {
  id: number;
  path: string;
  /** Levels of children to write; Infinity = unlimited. */
  depth: number;
  onlyPath: boolean;
  /** Paged listing: the direct children to write, in order. */
  page?: Int32Array;
  nextCursor?: string;
  /** Nodes in the response. */
  count: number;
}

/** Validate `path` (400) and find it (404). */
export function resolvePath(tree: TreeStore, path: string): number {
  const problem = checkPath(path);
  if (problem !== null) throw badRequest(`invalid path: ${problem}`);
  const id = tree.lookup(path);
  if (id === NO_NODE) throw notFound(`path not found or not yet synced: ${path}`);
  return id;
}

export function requestedDepth(q: Pick<TreeQuery, 'max_depth' | 'recursive'>): number {
  if (q.max_depth !== undefined && q.max_depth !== null) return q.max_depth < 0 ? Infinity : q.max_depth;
  return q.recursive === false ? 1 : Infinity;
}

/** Nodes below `id` down to `depth` levels (the node itself excluded). */
export function descendantCount(tree: TreeStore, id: number, depth: number): number {
  if (depth <= 0 || !tree.isDirectory(id)) return 0;
  if (depth === Infinity) {
    const a = tree.aggregates(id);
    return a.fileCount + a.dirCount;
  }
  let n = tree.childCount(id);
  if (depth === 1) return n;
  for (let c = tree.firstChild(id); c !== -1; c = tree.nextSibling(c)) {
    if (tree.isDirectory(c)) n += descendantCount(tree, c, depth - 1);
  }
  return n;
}

export function planTree(tree: TreeStore, q: TreeQuery): TreePlan {
  const path = q.path ?? '/';
  const id = resolvePath(tree, path);
  const depth = requestedDepth(q);
  const plan: TreePlan = { id, path, depth, onlyPath: q.only_path === true, count: 1 };
  const paged = q.limit !== undefined || q.cursor !== undefined;
  if (paged && depth > 0 && tree.isDirectory(id)) {
    const sorted = tree.sortedChildren(id);
    const start = q.cursor !== undefined && q.cursor !== '' ? firstAfter(sorted, (c) => tree.name(c), decodeNameCursor(q.cursor)) : 0;
    const end = Math.min(sorted.length, start + (q.limit ?? DEFAULT_PAGE_SIZE));
    plan.page = sorted.slice(start, Math.max(start, end));
    if (end < sorted.length && end > start) plan.nextCursor = encodeNameCursor(tree.name(sorted[end - 1]));
    let count = 1 + plan.page.length;
    for (const c of plan.page) count += descendantCount(tree, c, depth - 1);
    plan.count = count;
  } else {
    plan.count = 1 + descendantCount(tree, id, depth);
  }
  return plan;
}

/** TOO_MANY_ITEMS when the plan exceeds `maxTreeItems` (0 = unlimited). */
export function checkTreeSize(count: number, maxTreeItems: number): void {
  if (maxTreeItems > 0 && count > maxTreeItems) {
    throw new FustorError('TOO_MANY_ITEMS', `the response would hold ${count} nodes, more than max_tree_items (${maxTreeItems})`, {
      details: {
        error: 'Metadata retrieval limit exceeded',
        limit: maxTreeItems,
        would_return: count,
        suggestion: 'Page through the children with limit and cursor, lower max_depth, or ask for a more specific path.',
      },
    });
  }
}

/** Accumulates JSON text and cuts it into chunks of about CHUNK_CHARS. */
export class ChunkWriter {
  readonly chunks: string[] = [];
  private buf = '';
  write(s: string): void {
    this.buf += s;
    if (this.buf.length >= CHUNK_CHARS) {
      this.chunks.push(this.buf);
      this.buf = '';
    }
  }
  finish(): string[] {
    if (this.buf.length > 0 || this.chunks.length === 0) this.chunks.push(this.buf);
    this.buf = '';
    return this.chunks;
  }
}

/** Write the planned response into `w`. */
export function writeTree(tree: TreeStore, plan: TreePlan, w: ChunkWriter): void {
  const fmt = new NodeJson(tree, plan.onlyPath);
  const writeNode = (id: number, name: string, path: string, depth: number, children: ArrayLike<number> | null): void => {
    w.write(fmt.head(id, name, path));
    if (depth > 0 && tree.isDirectory(id)) {
      const list = children ?? tree.sortedChildren(id);
      w.write(',"children":[');
      for (let i = 0; i < list.length; i++) {
        if (i > 0) w.write(',');
        const c = list[i];
        const cname = tree.name(c);
        writeNode(c, cname, path === '/' ? `/${cname}` : `${path}/${cname}`, depth - 1, null);
      }
      w.write(']');
    }
    if (children !== null && plan.nextCursor !== undefined) w.write(`,"next_cursor":${JSON.stringify(plan.nextCursor)}`);
    w.write('}');
  };
  writeNode(plan.id, tree.name(plan.id), plan.path, plan.depth, plan.page ?? null);
}

/** Plan, check against `maxTreeItems`, write. */
export function treeJson(tree: TreeStore, q: TreeQuery, maxTreeItems: number): string[] {
  const plan = planTree(tree, q);
  checkTreeSize(plan.count, maxTreeItems);
  const w = new ChunkWriter();
  writeTree(tree, plan, w);
  return w.finish();
}
