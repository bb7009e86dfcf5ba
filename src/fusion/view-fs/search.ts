/**
 * `GET /search` (spec 30): glob search (`*`, `?`, `[..]`, `**`; braces and extglobs through picomatch; see
 * glob.ts, which keeps matching linear) over names and paths.
 *
 * Strategies, chosen so that a search costs what it finds rather than the size of the view:
 *  - literal name (no glob characters, no `/`): the name index, O(nodes with that name);
 *  - glob without `/`: match the compiled glob against the distinct names once each and expand the
 *    nodes of each matching name (a name shared by 100,000 files is tested once); a small `path`
 *    scope walks that subtree instead;
 *  - pattern with `/`: matched against the whole path, anchored on its literal directory prefix
 *    (`/data/proj*` walks `/data` only); without `**` the walk stops at the pattern's depth. A pattern
 *    with `/` that does not start with `/` is rooted at `/` (like a gitignore pattern with a slash).
 * A slashless glob can only match a whole path through its last segment, so matching names covers
 * "matched against the whole path and against the name".
 *
 * Order and paging: the name index returns results ordered by (name id, node id) — name ids are
 * stable for the life of the view — and walks return them in path order (children sorted by name).
 * `next_cursor` encodes the position in that order (`n.<nameId>.<nodeId>` or `p.<base64url path>`),
 * so pages neither repeat nor skip items that did not change in between. Results default to files
 * (`type=file`), 1000 per page.
 */
import picomatch from 'picomatch';
import { badRequest } from '../../kernel/errors.ts';
import { decodeName, encodeName, isWithin, pathSegments, type FsNode, type SearchQuery } from '../../protocol/index.ts';
import { FLAG_SUSPECT, NO_NODE, type TreeStore } from '../tree/tree-store.ts';
import { compileGlob, type Matcher } from './glob.ts';
import { firstNotBefore } from './name-cursor.ts';
import { fsNode } from './node-format.ts';
import { checkPath } from './row-validation.ts';
import { resolvePath } from './tree-json.ts';

export const DEFAULT_SEARCH_LIMIT = 1000;

const matcherCache = new Map<string, Matcher>();

/** A glob matcher (linear for the glob language of spec 30, see glob.ts); 400 for an invalid or too complex pattern. */
function compile(pattern: string): Matcher {
  let m = matcherCache.get(pattern);
  if (m !== undefined) return m;
  m = compileGlob(pattern);
  if (matcherCache.size >= 256) matcherCache.delete(matcherCache.keys().next().value as string);
  matcherCache.set(pattern, m);
  return m;
}

type Cursor = { kind: 'n'; nameId: number; node: number } | { kind: 'p'; path: string } | null;

function parseCursor(text: string | undefined): Cursor {
  if (text === undefined || text === '') return null;
  const n = /^n\.(\d{1,10})\.(\d{1,10})$/.exec(text);
  if (n !== null) return { kind: 'n', nameId: Number(n[1]), node: Number(n[2]) };
  if (text.startsWith('p.') && /^[A-Za-z0-9_-]*$/.test(text.slice(2))) {
    const bytes = Buffer.from(text.slice(2), 'base64url');
    const path = decodeName(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
    if (checkPath(path) === null) return { kind: 'p', path };
  }
  throw badRequest('cursor is not a value returned by a previous search page');
}

const pathCursor = (path: string): string => `p.${Buffer.from(encodeName(path)).toString('base64url')}`;

/** The filters of a query as one predicate over node ids. */
function makeFilter(tree: TreeStore, q: SearchQuery): (id: number) => boolean {
  const type = q.type ?? 'file';
  const { min_size: minSize, max_size: maxSize, modified_after: after, modified_before: before, suspect } = q;
  return (id) => {
    const dir = tree.isDirectory(id);
    if (type === 'file' ? dir : type === 'directory' ? !dir : false) return false;
    if (minSize !== undefined && tree.size(id) < minSize) return false;
    if (maxSize !== undefined && tree.size(id) > maxSize) return false;
    if (after !== undefined && !(tree.mtime(id) > after)) return false;
    if (before !== undefined && !(tree.mtime(id) < before)) return false;
    if (suspect !== undefined && tree.hasFlag(id, FLAG_SUSPECT) !== suspect) return false;
    return true;
  };
}

function within(tree: TreeStore, id: number, scope: number): boolean {
  for (let a = id; a !== NO_NODE; a = tree.parent(a)) if (a === scope) return true;
  return false;
}

interface Collector { items: FsNode[]; next_cursor?: string }

export function search(tree: TreeStore, q: SearchQuery): Collector {
  const pattern = q.pattern;
  if (typeof pattern !== 'string' || pattern.length === 0) throw badRequest('pattern is required');
  const scopePath = q.path ?? '/';
  const scopeId = resolvePath(tree, scopePath);
  const limit = q.limit ?? DEFAULT_SEARCH_LIMIT;
  if (!(limit >= 1)) throw badRequest('limit must be at least 1');
  const onlyPath = q.only_path === true;
  const filter = makeFilter(tree, q);
  const cursor = parseCursor(q.cursor);
  const out: Collector = { items: [] };

  if (!pattern.includes('/')) {
    const matcher = compile(pattern);
    const scan = picomatch.scan(pattern);
    const literal = !scan.isGlob && !pattern.includes('\\') && !scan.negated;
    let byWalk: boolean;
    if (cursor !== null) byWalk = cursor.kind === 'p';
    else if (literal || scopeId === tree.root) byWalk = false;
    else {
      const a = tree.aggregates(scopeId);
      byWalk = a.fileCount + a.dirCount < tree.liveCount / 2;
    }
    if (byWalk) {
      walkSearch(tree, scopeId, scopePath, Infinity, (_id, name) => matcher(name), filter, limit, onlyPath, cursor, out);
    } else {
      const test = (id: number): boolean => filter(id) && (scopeId === tree.root || within(tree, id, scopeId));
      nameIndexSearch(tree, literal ? pattern : null, matcher, test, limit, onlyPath, cursor, out);
    }
    return out;
  }

  // A pattern with '/': whole-path match, anchored on its literal prefix.
  const rooted = pattern.startsWith('/') ? pattern : `/${pattern}`;
  const matcher = compile(rooted);
  const scan = picomatch.scan(rooted);
  if (!scan.isGlob && !rooted.includes('\\')) {
    // A literal path.
    const id = checkPath(rooted) === null ? tree.lookup(rooted) : NO_NODE;
    if (id !== NO_NODE && cursor === null && isWithin(rooted, scopePath) && filter(id)) out.items.push(fsNode(tree, id, rooted, onlyPath));
    return out;
  }
  let base = scan.negated ? '/' : scan.base;
  const esc = base.indexOf('\\');
  if (esc >= 0) base = base.slice(0, base.lastIndexOf('/', esc));
  while (base.length > 1 && base.endsWith('/')) base = base.slice(0, -1);
  if (base === '' || checkPath(base) !== null) base = '/';
  let anchor: string;
  if (isWithin(base, scopePath)) anchor = base;
  else if (isWithin(scopePath, base)) anchor = scopePath;
  else return out;
  const anchorId = tree.lookup(anchor);
  if (anchorId === NO_NODE) return out;
  const deep = rooted.includes('**') || scan.isBrace || scan.isExtglob || scan.negated;
  const maxLevel = deep ? Infinity : pathSegments(rooted).length - pathSegments(anchor).length;
  walkSearch(tree, anchorId, anchor, maxLevel, (_id, _name, path) => matcher(path), filter, limit, onlyPath, cursor, out);
  return out;
}

/** Name-index strategy: distinct names in id order, then their nodes in id order. */
function nameIndexSearch(tree: TreeStore, literal: string | null, matcher: Matcher, test: (id: number) => boolean,
  limit: number, onlyPath: boolean, cursor: Cursor, out: Collector): void {
  if (cursor !== null && cursor.kind !== 'n') throw badRequest('cursor does not belong to this search');
  const hits: number[] = [];
  const takeName = (nameId: number, nodes: Iterable<number>): boolean => {
    const ids = Int32Array.from(nodes).sort();
    for (const id of ids) {
      if (cursor !== null && nameId === cursor.nameId && id <= cursor.node) continue;
      if (!test(id)) continue;
      hits.push(id);
      if (hits.length > limit) return false;
    }
    return true;
  };
  if (literal !== null) {
    const nodes = [...tree.nodesNamed(literal)];
    if (nodes.length > 0) {
      const nameId = tree.nameId(nodes[0]);
      if (cursor === null || nameId >= cursor.nameId) takeName(nameId, nodes);
    }
  } else {
    for (const [nameId, name] of tree.distinctNames()) {
      if (cursor !== null && nameId < cursor.nameId) continue;
      if (!matcher(name)) continue;
      if (!takeName(nameId, tree.nodesOfName(nameId))) break;
    }
  }
  const more = hits.length > limit;
  if (more) hits.length = limit;
  for (const id of hits) out.items.push(fsNode(tree, id, tree.path(id), onlyPath));
  if (more) {
    const last = hits[hits.length - 1];
    out.next_cursor = `n.${tree.nameId(last)}.${last}`;
  }
}

/**
 * Walk strategy: pre-order over name-sorted children below `anchorId` (levels 1..maxLevel), resuming
 * strictly after the cursor path.
 */
function walkSearch(tree: TreeStore, anchorId: number, anchorPath: string, maxLevel: number,
  match: (id: number, name: string, path: string) => boolean, filter: (id: number) => boolean,
  limit: number, onlyPath: boolean, cursor: Cursor, out: Collector): void {
  if (cursor !== null && cursor.kind !== 'p') throw badRequest('cursor does not belong to this search');
  let seek: string[] | null = null;
  if (cursor !== null) {
    if (!isWithin(cursor.path, anchorPath) || cursor.path === anchorPath) throw badRequest('cursor does not belong to this search');
    seek = pathSegments(cursor.path).slice(pathSegments(anchorPath).length);
  }
  let found = 0;
  let lastPath = '';
  const nameOf = (id: number): string => tree.name(id);

  // Returns false to stop.
  const visit = (dir: number, dirPath: string, level: number, onSeek: boolean): boolean => {
    const children = tree.sortedChildren(dir);
    let i = 0;
    const seg = onSeek && seek !== null ? seek[level] : undefined;
    if (seg !== undefined) i = firstNotBefore(children, nameOf, seg);
    for (; i < children.length; i++) {
      const c = children[i];
      const name = tree.name(c);
      const path = dirPath === '/' ? `/${name}` : `${dirPath}/${name}`;
      const onCursorPath = seg !== undefined && name === seg; // sibling names are unique
      if (!onCursorPath && match(c, name, path) && filter(c)) {
        if (found === limit) {
          out.next_cursor = pathCursor(lastPath);
          return false;
        }
        out.items.push(fsNode(tree, c, path, onlyPath));
        found++;
        lastPath = path;
      }
      if (level + 1 < maxLevel && tree.isDirectory(c) && tree.childCount(c) > 0) {
        const deeper = onCursorPath && seek !== null && level + 1 < seek.length;
        if (!visit(c, path, level + 1, deeper)) return false;
      }
    }
    return true;
  };
  visit(anchorId, anchorPath, 0, seek !== null);
}

