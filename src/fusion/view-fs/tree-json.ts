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
import { FLAG_AGENT_MISSING, FLAG_AUDIT_SKIPPED, FLAG_DIRECTORY, FLAG_SUSPECT, NO_NODE, type TreeStore } from '../tree/tree-store.ts';
import { decodeNameCursor, encodeNameCursor, firstAfter } from './name-cursor.ts';
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
  // Pieces joined once per chunk: join() writes one flat string, where `+=` would build a rope of
  // thousands of cons cells that the UTF-8 encoder then has to flatten.
  private parts: string[] = [];
  private length = 0;
  write(s: string): void {
    this.parts.push(s);
    this.length += s.length;
    if (this.length >= CHUNK_CHARS) this.cut();
  }
  finish(): string[] {
    if (this.length > 0 || this.chunks.length === 0) this.cut();
    return this.chunks;
  }
  private cut(): void {
    this.chunks.push(this.parts.join(''));
    this.parts = [];
    this.length = 0;
  }
}

/**
 * The inside of the JSON string literal of `s` (no quotes): `s` itself when nothing needs escaping —
 * the usual case for names and paths — otherwise JSON.stringify's escaping (control characters, `"`,
 * `\\`, lone surrogates; any surrogate takes the slow path, which is exact either way).
 */
export function jsonInner(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) {
      const q = JSON.stringify(s);
      return q.slice(1, q.length - 1);
    }
  }
  return s;
}

const TYPE_DIR = '","content_type":"directory"';
const TYPE_FILE = '","content_type":"file"';
/** `integrity_suspect` and `agent_missing` by `flags & (FLAG_SUSPECT | FLAG_AGENT_MISSING)`. */
const SUSPECT_MISSING: readonly string[] = Array.from({ length: 8 }, (_, f) =>
  `,"integrity_suspect":${(f & FLAG_SUSPECT) !== 0},"agent_missing":${(f & FLAG_AGENT_MISSING) !== 0}`);
const AUDIT_SKIPPED = [',"audit_skipped":false', ',"audit_skipped":true'] as const;

/**
 * Writes node objects (the fields of node-format.ts, in its order) straight from the tree's columns:
 * one string per node built by concatenation, names escaped once and reused for the child's path,
 * the flag- and lineage-dependent fragments taken from small tables. Nothing is cached per node.
 */
class TreeText {
  /** `,"last_agent_id":…,"source_uri":…` by lineage id, built on first use. */
  private readonly lineageText: string[] = [];

  constructor(private readonly tree: TreeStore, private readonly onlyPath: boolean, private readonly w: ChunkWriter) {}

  /**
   * `name` and `path` are already escaped (jsonInner). `page`: the children to write instead of all of
   * them (the top node of a paged listing), followed by `nextCursor` when given.
   */
  node(id: number, name: string, path: string, depth: number, page: ArrayLike<number> | null, nextCursor: string | undefined): void {
    const tree = this.tree;
    const flags = tree.flags(id);
    const dir = (flags & FLAG_DIRECTORY) !== 0;
    let s = '{"name":"' + name + '","path":"' + path + (dir ? TYPE_DIR : TYPE_FILE);
    if (!this.onlyPath) {
      const lin = tree.lineageId(id);
      let linText = this.lineageText[lin];
      if (linText === undefined) {
        const l = tree.lineage(id);
        linText = `,"last_agent_id":${JSON.stringify(l.agentId)},"source_uri":${JSON.stringify(l.sourceUri)}`;
        this.lineageText[lin] = linText;
      }
      s += ',"size":' + tree.size(id) + ',"modified_time":' + tree.mtime(id) + ',"created_time":' + tree.ctime(id)
        + SUSPECT_MISSING[flags & (FLAG_SUSPECT | FLAG_AGENT_MISSING)] + linText;
      if (dir) s += AUDIT_SKIPPED[(flags & FLAG_AUDIT_SKIPPED) !== 0 ? 1 : 0];
    }
    const w = this.w;
    if (depth > 0 && dir) {
      const list = page ?? tree.sortedChildren(id);
      if (list.length === 0) {
        w.write(s + ',"children":[]');
      } else {
        w.write(s + ',"children":[');
        const prefix = path === '/' ? '/' : path + '/';
        for (let i = 0; i < list.length; i++) {
          if (i > 0) w.write(',');
          const c = list[i];
          const cname = jsonInner(tree.name(c));
          this.node(c, cname, prefix + cname, depth - 1, null, undefined);
        }
        w.write(']');
      }
      if (nextCursor !== undefined) w.write(`,"next_cursor":${JSON.stringify(nextCursor)}`);
      w.write('}');
    } else {
      w.write(nextCursor !== undefined ? `${s},"next_cursor":${JSON.stringify(nextCursor)}}` : s + '}');
    }
  }
}

/** Write the planned response into `w`. */
export function writeTree(tree: TreeStore, plan: TreePlan, w: ChunkWriter): void {
  const page = plan.page ?? null;
  new TreeText(tree, plan.onlyPath, w).node(plan.id, jsonInner(tree.name(plan.id)), jsonInner(plan.path), plan.depth, page,
    page !== null ? plan.nextCursor : undefined);
}

/** The chunks as one UTF-8 Buffer (one encoding pass, no intermediate copies). */
export function chunksToBuffer(chunks: readonly string[]): Buffer {
  if (chunks.length === 1) return Buffer.from(chunks[0], 'utf8');
  const lengths = new Array<number>(chunks.length);
  let total = 0;
  for (let i = 0; i < chunks.length; i++) total += lengths[i] = Buffer.byteLength(chunks[i], 'utf8');
  const buf = Buffer.allocUnsafe(total);
  let off = 0;
  for (let i = 0; i < chunks.length; i++) off += buf.write(chunks[i], off, lengths[i], 'utf8');
  return buf;
}

/** Plan, check against `maxTreeItems`, write. */
export function treeJson(tree: TreeStore, q: TreeQuery, maxTreeItems: number): string[] {
  const plan = planTree(tree, q);
  checkTreeSize(plan.count, maxTreeItems);
  const w = new ChunkWriter();
  writeTree(tree, plan, w);
  return w.finish();
}
