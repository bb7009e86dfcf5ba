import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TreeQuery } from '../../protocol/index.ts';
import { FustorError } from '../../kernel/errors.ts';
import { TreeStore } from '../tree/tree-store.ts';
import type { FsView } from './fs-view.ts';
import { TreeCache, treeCacheKey, type TreeCacheStats } from './tree-cache.ts';
import { T0, dir, file, makeView, remove, upsert } from './testing.ts';

const OLD = T0 - 3600;

function cacheStats(view: FsView): TreeCacheStats {
  return view.stats({}).tree_cache as TreeCacheStats;
}

/** The cached body equals a fresh serialisation; returns whether it came from the cache. */
function check(view: FsView, q: TreeQuery, message?: string): boolean {
  const before = cacheStats(view).hits;
  const body = view.treeBody(q).toString('utf8');
  assert.equal(body, view.tree(q).join(''), message);
  return cacheStats(view).hits > before;
}

/** Ask twice: the second answer must come from the cache (the precondition of every staleness test). */
function warm(view: FsView, q: TreeQuery): void {
  check(view, q);
  assert.equal(check(view, q), true, `second ${JSON.stringify(q)} is a hit`);
}

function sample() {
  const made = makeView();
  upsert(made.view, 'snapshot', [
    dir('/up', OLD), dir('/up/sub', OLD), dir('/up/sub/a', OLD), file('/up/sub/a/x', OLD), file('/up/sub/f', OLD), dir('/up/other', OLD),
  ]);
  return made;
}

const QUERIES: TreeQuery[] = [
  { path: '/up/sub' }, { path: '/up/sub', max_depth: 1 }, { path: '/up/sub', recursive: false }, { path: '/up/sub', only_path: true },
  { path: '/up/sub', limit: 1 }, { path: '/up', max_depth: 1 }, { path: '/' },
];

function warmAll(view: FsView): void {
  for (const q of QUERIES) warm(view, q);
}

function checkAll(view: FsView, what: string): void {
  for (const q of QUERIES) check(view, q, `${what}: ${JSON.stringify(q)}`);
}

test('tree cache — a repeated query is a hit with the same bytes; counters in the view stats', () => {
  const { view } = sample();
  assert.equal(check(view, { path: '/up/sub' }), false);
  assert.equal(check(view, { path: '/up/sub' }), true);
  const s = cacheStats(view);
  assert.equal(s.hits, 1);
  assert.ok(s.misses >= 1);
  assert.equal(s.entries, 1);
  assert.ok(s.bytes > 0);
});

test('tree cache — not stale after a child upsert', () => {
  const { view, clock } = sample();
  warmAll(view);
  upsert(view, 'realtime', [file('/up/sub/g', OLD)]); // same millisecond as the build
  checkAll(view, 'new child');
  warmAll(view);
  clock.advance(1);
  upsert(view, 'realtime', [file('/up/sub/f', OLD + 5, { size: 7 })]);
  checkAll(view, 'changed child');
});

test('tree cache — not stale after a grandchild change (depth-limited and unlimited)', () => {
  const { view } = sample();
  warmAll(view);
  upsert(view, 'realtime', [file('/up/sub/a/x', OLD + 1, { size: 9 })]);
  checkAll(view, 'grandchild attributes');
  warmAll(view);
  upsert(view, 'realtime', [file('/up/sub/a/y', OLD)]);
  checkAll(view, 'new grandchild');
  const deep = JSON.parse(view.treeBody({ path: '/up/sub' }).toString()) as { children: { name: string; children?: { size: number; name: string }[] }[] };
  assert.deepEqual(deep.children[0].children?.map((c) => [c.name, c.size]), [['x', 9], ['y', 100]]);
});

test('tree cache — not stale after the directory\'s own attributes change', () => {
  const { view } = sample();
  warmAll(view);
  upsert(view, 'realtime', [dir('/up/sub', OLD + 60)]);
  checkAll(view, 'directory mtime');
});

test('tree cache — not stale after a suspect flag is cleared by the sweep (a flag change without lastChangeAt)', () => {
  const { view, clock } = makeView({ hotFileThreshold: 30 });
  upsert(view, 'snapshot', [dir('/up', OLD), dir('/up/sub', OLD), file('/up/sub/hot', T0 - 10)]);
  const q = { path: '/up/sub' };
  warm(view, q);
  assert.match(view.treeBody(q).toString(), /"integrity_suspect":true/);
  const lastChange = view.internals().tree.aggregates(view.internals().tree.lookup('/up/sub')).lastChangeAt;
  clock.advance(60);
  view.tick();
  assert.equal(view.internals().tree.aggregates(view.internals().tree.lookup('/up/sub')).lastChangeAt, lastChange,
    'the sweep does not count as a change for lastChangeAt (settled), so the cache cannot rely on it');
  assert.equal(check(view, q), false);
  assert.doesNotMatch(view.treeBody(q).toString(), /"integrity_suspect":true/);
  // Same through the parent (depth 2) and for the file itself.
  warm(view, { path: '/up' });
  warm(view, { path: '/up/sub/hot' });
  upsert(view, 'snapshot', [file('/up/sub/hot', clock.now() - 1)]); // hot again (a compensating row)
  check(view, { path: '/up' });
  check(view, { path: '/up/sub/hot' });
  assert.match(view.treeBody({ path: '/up/sub/hot' }).toString(), /"integrity_suspect":true/);
});

test('tree cache — not stale after agent_missing / audit_skipped flag changes', () => {
  const { view } = sample();
  view.auditStart('pipe-a');
  warmAll(view);
  upsert(view, 'audit', [file('/up/sub/new', OLD)]); // agent_missing (blind-spot addition)
  checkAll(view, 'agent_missing');
  warmAll(view);
  upsert(view, 'audit', [dir('/up/sub/a', OLD, { audit_skipped: true })]);
  checkAll(view, 'audit_skipped');
  assert.match(view.treeBody({ path: '/up/sub' }).toString(), /"audit_skipped":true/);
  warmAll(view);
  upsert(view, 'realtime', [file('/up/sub/new', OLD)]); // known by the agent again
  checkAll(view, 'agent_missing cleared');
});

test('tree cache — not stale after a delete', () => {
  const { view } = sample();
  warmAll(view);
  remove(view, 'realtime', ['/up/sub/a/x']);
  checkAll(view, 'grandchild deleted');
  warmAll(view);
  remove(view, 'realtime', ['/up/sub/a']);
  checkAll(view, 'child directory deleted');
  warm(view, { path: '/up/sub' });
  remove(view, 'realtime', ['/up/sub']);
  assert.throws(() => view.treeBody({ path: '/up/sub' }), (e: unknown) => e instanceof FustorError && e.code === 'NOT_FOUND');
  upsert(view, 'realtime', [dir('/up/sub', T0 + 1)]); // re-created empty at the same path, same millisecond
  assert.ok(view.has('/up/sub'));
  check(view, { path: '/up/sub' }, 're-created');
  assert.deepEqual((JSON.parse(view.treeBody({ path: '/up/sub' }).toString()) as { children: unknown[] }).children, []);
});

test('tree cache — not stale after a view reset', () => {
  const { view } = sample();
  warmAll(view);
  view.reset();
  assert.equal(cacheStats(view).entries, 0, 'reset empties the cache');
  upsert(view, 'snapshot', [dir('/up', OLD), dir('/up/sub', OLD), file('/up/sub/only', OLD)]);
  checkAll(view, 'after reset');
});

test('tree cache — a reset tree does not revive entries by (id, generation) alone', () => {
  // Below the view: the store's clear() restarts ids and generations; mutationSeq does not restart.
  const tree = new TreeStore();
  const cache = new TreeCache();
  const id = tree.ensurePath('/d', true, 1);
  tree.ensurePath('/d/x', false, 1);
  const key = treeCacheKey({ path: '/d' });
  cache.set(key, { body: Buffer.from('old'), id, generation: tree.generation(id), count: 2, builtSeq: tree.mutationSeq, builtAt: 1 });
  assert.ok(cache.get(key, tree, id));
  tree.clear();
  const again = tree.ensurePath('/d', true, 1);
  assert.equal(again, id);
  assert.equal(tree.generation(again), 0);
  assert.equal(cache.get(key, tree, again), undefined);
});

test('tree cache — not stale after a rename of the directory itself', () => {
  const { view } = sample();
  warmAll(view);
  warm(view, { path: '/up/other' });
  // A rename arrives as delete + upsert of the new path (and its subtree).
  remove(view, 'realtime', ['/up/sub']);
  upsert(view, 'realtime', [dir('/up/renamed', OLD), dir('/up/renamed/a', OLD), file('/up/renamed/a/x', OLD), file('/up/renamed/f', OLD)]);
  assert.throws(() => view.treeBody({ path: '/up/sub' }), (e: unknown) => e instanceof FustorError && e.code === 'NOT_FOUND');
  check(view, { path: '/up/renamed' });
  check(view, { path: '/up', max_depth: 1 });
  check(view, { path: '/' });
  // Renamed back, into the same path: the old entry must not be served.
  remove(view, 'realtime', ['/up/renamed']);
  upsert(view, 'realtime', [dir('/up/sub', T0 + 1), file('/up/sub/z', T0 + 1)]);
  assert.ok(view.has('/up/sub/z'));
  checkAll(view, 'renamed back');
});

test('tree cache — max_tree_items is checked on hits too', () => {
  const { view } = sample();
  warm(view, { path: '/up/sub' });
  (view.settings as { maxTreeItems: number }).maxTreeItems = 2;
  assert.throws(() => view.treeBody({ path: '/up/sub' }), (e: unknown) => e instanceof FustorError && e.code === 'TOO_MANY_ITEMS');
});

test('tree cache — keys: equal for equivalent queries, different for different answers', () => {
  assert.equal(treeCacheKey({ path: '/a' }), treeCacheKey({ path: '/a', recursive: true }));
  assert.equal(treeCacheKey({ path: '/a', max_depth: -1 }), treeCacheKey({ path: '/a', max_depth: -5 }));
  assert.equal(treeCacheKey({ path: '/a', recursive: false }), treeCacheKey({ path: '/a', max_depth: 1 }));
  assert.equal(treeCacheKey({ path: '/a', cursor: '' }), treeCacheKey({ path: '/a', limit: 1000 }));
  const distinct = [{ path: '/a' }, { path: '/b' }, { path: '/a', max_depth: 2 }, { path: '/a', only_path: true }, { path: '/a', limit: 5 },
    { path: '/a', limit: 5, cursor: 'eA' }, { path: '/a', max_depth: 0 }].map(treeCacheKey);
  assert.equal(new Set(distinct).size, distinct.length);
});

test('tree cache — bounded by bytes with LRU eviction; answers over the entry limit are not kept', () => {
  const tree = new TreeStore();
  const ids = ['/a', '/b', '/c', '/d'].map((p) => tree.ensurePath(p, true, 1));
  const cache = new TreeCache(250, 120);
  const put = (i: number, size: number) => cache.set(`k${i}`, { body: Buffer.alloc(size), id: ids[i], generation: 0, count: 1, builtSeq: tree.mutationSeq, builtAt: 0 });
  put(0, 100);
  put(1, 100);
  assert.ok(cache.get('k0', tree, ids[0])); // k1 is now the least recently used
  put(2, 100);
  assert.equal(cache.get('k1', tree, ids[1]), undefined, 'k1 evicted');
  assert.ok(cache.get('k0', tree, ids[0]));
  assert.ok(cache.get('k2', tree, ids[2]));
  put(3, 121);
  assert.equal(cache.get('k3', tree, ids[3]), undefined, 'over maxEntryBytes');
  const s = cache.stats();
  assert.equal(s.bytes, 200);
  assert.equal(s.entries, 2);
  assert.equal(s.evictions, 1);
  assert.equal(s.too_large, 1);
  cache.clear();
  assert.equal(cache.stats().bytes, 0);
});
