import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TreeStore, NO_NODE, NotADirectoryError, FLAG_DIRECTORY, FLAG_SUSPECT, FLAG_BLIND_SPOT, FLAG_AGENT_MISSING,
} from './tree-store.ts';

const sorted = (it: Iterable<number>): number[] => [...it].sort((a, b) => a - b);

test('root is id 0, a directory with path /, and is never removed', () => {
  const t = new TreeStore();
  assert.equal(t.root, 0);
  assert.equal(t.liveCount, 1);
  assert.equal(t.lookup('/'), 0);
  assert.equal(t.path(0), '/');
  assert.equal(t.name(0), '');
  assert.ok(t.isDirectory(0));
  assert.equal(t.parent(0), NO_NODE);
  assert.equal(t.removeSubtree(0, 1), 0);
  assert.ok(t.exists(0));
  assert.equal(t.ensurePath('/', true, 1), 0);
});

test('ensurePath creates missing parents as directories and reports them in order', () => {
  const t = new TreeStore({ initialCapacity: 16 });
  const created: number[] = [];
  const f = t.ensurePath('/a/b/c.txt', false, 10, (id) => created.push(id));
  assert.equal(created.length, 3);
  assert.deepEqual(created.map((id) => t.path(id)), ['/a', '/a/b', '/a/b/c.txt']);
  assert.equal(created[2], f);
  assert.ok(t.isDirectory(t.lookup('/a')));
  assert.ok(t.isDirectory(t.lookup('/a/b')));
  assert.ok(!t.isDirectory(f));
  assert.equal(t.lookup('/a/b/c.txt'), f);
  assert.equal(t.lookup('/a/b/missing'), NO_NODE);
  assert.equal(t.lookup('/x/y'), NO_NODE);
  assert.equal(t.lookupChild(t.lookup('/a'), 'b'), t.lookup('/a/b'));
  assert.equal(t.lookupChild(f, 'b'), NO_NODE);
  // Idempotent.
  const again: number[] = [];
  assert.equal(t.ensurePath('/a/b/c.txt', false, 11, (id) => again.push(id)), f);
  assert.deepEqual(again, []);
  assert.equal(t.liveCount, 4);
  assert.equal(t.createChild(t.lookup('/a'), 'b', true, 12), t.lookup('/a/b'));
  assert.equal(t.name(f), 'c.txt');
  assert.equal(t.parent(f), t.lookup('/a/b'));
});

test('grows past the initial capacity; lookups stay right', () => {
  const t = new TreeStore({ initialCapacity: 16 });
  const ids: number[] = [];
  for (let i = 0; i < 5000; i++) ids.push(t.ensurePath(`/d${i % 7}/e${i % 13}/f${i}`, false, 1));
  for (let i = 0; i < 5000; i++) {
    assert.equal(t.lookup(`/d${i % 7}/e${i % 13}/f${i}`), ids[i]);
    assert.equal(t.path(ids[i]), `/d${i % 7}/e${i % 13}/f${i}`);
  }
  assert.equal(t.liveCount, 1 + 7 + 7 * 13 + 5000);
});

test('a type change is the caller\'s job: remove then create; a file in the middle of a path throws', () => {
  const t = new TreeStore();
  const f = t.ensurePath('/a/x', false, 1);
  assert.throws(() => t.ensurePath('/a/x/y', false, 2), (e: unknown) => e instanceof NotADirectoryError && e.nodeId === f);
  assert.throws(() => t.createChild(f, 'y', false, 2), NotADirectoryError);
  assert.equal(t.ensurePath('/a/x', true, 2), f, 'existing node returned with its type unchanged');
  assert.ok(!t.isDirectory(f));
  assert.equal(t.removeSubtree(f, 3), 1);
  const d = t.ensurePath('/a/x', true, 4);
  assert.ok(t.isDirectory(d));
  assert.ok(t.ensurePath('/a/x/y', false, 5) >= 0);
});

test('removeSubtree visits every node before freeing it, frees ids and reuses them', () => {
  const t = new TreeStore();
  t.ensurePath('/keep/k', false, 1);
  const a = t.ensurePath('/a', true, 1);
  const inside = [t.ensurePath('/a/b/c', false, 1), t.ensurePath('/a/b/d', false, 1), t.ensurePath('/a/e', true, 1)];
  const b = t.lookup('/a/b');
  const before = t.liveCount;
  const gen = t.generation(b);
  const seen: string[] = [];
  const n = t.removeSubtree(a, 2, (id) => seen.push(t.path(id)));
  assert.equal(n, 5);
  assert.deepEqual(seen.sort(), ['/a', '/a/b', '/a/b/c', '/a/b/d', '/a/e']);
  assert.equal(t.liveCount, before - 5);
  for (const id of [a, b, ...inside]) assert.ok(!t.exists(id));
  assert.notEqual(t.generation(b), gen);
  assert.equal(t.lookup('/a'), NO_NODE);
  assert.equal(t.lookup('/a/b/c'), NO_NODE);
  assert.equal(t.removeSubtree(a, 3), 0, 'removing a freed id is a no-op');
  // Freed ids are reused.
  const fresh = [t.ensurePath('/n1', false, 3), t.ensurePath('/n2', false, 3), t.ensurePath('/n3', false, 3)];
  assert.ok(fresh.every((id) => [a, b, ...inside].includes(id)));
  assert.equal(t.lookup('/keep/k') >= 0, true);
  assert.deepEqual(sorted(t.children(0)), sorted([t.lookup('/keep'), ...fresh]));
  assert.equal(t.childCount(0), 4);
});

test('sortedChildren sorts by name bytes and is invalidated on insert/remove', () => {
  const t = new TreeStore();
  for (const n of ['b', 'a', 'B', 'é', 'aa', '\udcff', '_']) t.ensurePath(`/d/${n}`, false, 1);
  const d = t.lookup('/d');
  const names = (): string[] => [...t.sortedChildren(d)].map((id) => t.name(id));
  // Bytes: B=42 _=5f a=61 aa b=62 é=c3a9 \xff
  assert.deepEqual(names(), ['B', '_', 'a', 'aa', 'b', 'é', '\udcff']);
  assert.equal(t.sortedChildren(d), t.sortedChildren(d), 'cached');
  t.ensurePath('/d/ab', false, 2);
  assert.deepEqual(names(), ['B', '_', 'a', 'aa', 'ab', 'b', 'é', '\udcff']);
  t.removeSubtree(t.lookup('/d/a'), 3);
  assert.deepEqual(names(), ['B', '_', 'aa', 'ab', 'b', 'é', '\udcff']);
  // A removed, then reused directory id does not serve a stale list.
  t.removeSubtree(d, 4);
  const d2 = t.ensurePath('/z', true, 5);
  t.ensurePath('/z/only', false, 5);
  assert.deepEqual([...t.sortedChildren(d2)].map((id) => t.name(id)), ['only']);
  assert.equal(t.sortedChildren(t.lookup('/z/only')).length, 0);
  assert.equal([...t.children(t.lookup('/z/only'))].length, 0);
});

test('name index follows creations, renames (remove + create) and removals', () => {
  const t = new TreeStore();
  const x1 = t.ensurePath('/a/x', false, 1);
  const x2 = t.ensurePath('/b/x', false, 1);
  const x3 = t.ensurePath('/b/c/x', true, 1);
  assert.deepEqual(sorted(t.nodesNamed('x')), sorted([x1, x2, x3]));
  assert.deepEqual([...t.nodesNamed('nope')], []);
  // Rename /b/x -> /b/y.
  t.removeSubtree(x2, 2);
  const y = t.ensurePath('/b/y', false, 2);
  assert.deepEqual(sorted(t.nodesNamed('x')), sorted([x1, x3]));
  assert.deepEqual([...t.nodesNamed('y')], [y]);
  t.removeSubtree(t.lookup('/b'), 3);
  assert.deepEqual([...t.nodesNamed('x')], [x1]);
  assert.deepEqual([...t.nodesNamed('y')], []);
  const live = new Map([...t.distinctNames()].map(([id, name]) => [name, id]));
  assert.deepEqual([...live.keys()].sort(), ['a', 'x']);
  assert.deepEqual([...t.nodesOfName(live.get('x') ?? -1)], [x1]);
  const stats = t.memoryStats();
  assert.equal(stats.distinctNames, 2);
  assert.equal(stats.garbageNames, 3); // b, c, y stay in the dictionary for reuse
  t.ensurePath('/y', false, 4);
  assert.equal(t.memoryStats().garbageNames, 2);
});

test('lineage interning: stable ids, shared pairs, 0 is the empty lineage', () => {
  const t = new TreeStore();
  const l1 = t.internLineage('agent-1', 'nfs://a/x');
  const l2 = t.internLineage('agent-2', 'nfs://a/x');
  assert.notEqual(l1, l2);
  assert.equal(t.internLineage('agent-1', 'nfs://a/x'), l1);
  assert.notEqual(t.internLineage('a', 'b\0c'), t.internLineage('a\0b', 'c'));
  const f = t.ensurePath('/f', false, 1);
  assert.deepEqual(t.lineage(f), { agentId: '', sourceUri: '' });
  t.setAttrs(f, 10, 100, 100, l2, 2);
  assert.deepEqual(t.lineage(f), { agentId: 'agent-2', sourceUri: 'nfs://a/x' });
  assert.throws(() => t.setAttrs(f, 10, 100, 100, 999, 3), RangeError);
});

test('non-UTF-8 names round-trip through the byte arena', () => {
  const t = new TreeStore();
  const weird = 'a\udcffb';
  const id = t.ensurePath(`/dir/${weird}/\u00e9t\u00e9 \u{1f600}`, false, 1);
  assert.equal(t.path(id), `/dir/${weird}/\u00e9t\u00e9 \u{1f600}`);
  assert.equal(t.name(t.parent(id)), weird);
  assert.equal(t.lookup(`/dir/${weird}`), t.parent(id));
  assert.deepEqual([...t.nodesNamed(weird)], [t.parent(id)]);
  // Distinct from the same text with a real U+FFFD or other bytes.
  assert.equal(t.lookup('/dir/a\ufffdb'), NO_NODE);
  assert.equal(t.lookup('/dir/a\udcfeb'), NO_NODE);
});

test('maxNodes guard refuses creation and counts refusals', () => {
  const t = new TreeStore({ maxNodes: 3 });
  assert.ok(t.ensurePath('/a', true, 1) >= 0);
  assert.ok(t.ensurePath('/a/b', false, 1) >= 0);
  assert.equal(t.liveCount, 3);
  assert.equal(t.ensurePath('/a/c', false, 1), NO_NODE);
  assert.equal(t.createChild(0, 'z', false, 1), NO_NODE);
  assert.equal(t.refusedCount, 2);
  assert.ok(t.ensurePath('/a/b', false, 1) >= 0, 'existing nodes are still returned');
  assert.equal(t.refusedCount, 2);
  t.maxNodes = 0;
  assert.ok(t.ensurePath('/a/c/d', false, 1) >= 0);
  t.maxNodes = 4;
  const created: number[] = [];
  assert.equal(t.ensurePath('/q/r/s', false, 1, (id) => created.push(id)), NO_NODE);
  assert.equal(created.length, 0);
});

test('aggregates: counts, sizes, latestMtime (lazy after decrease), flags and lastChangeAt', () => {
  const t = new TreeStore();
  const l = t.internLineage('ag', 'src');
  const f1 = t.ensurePath('/a/b/f1', false, 10);
  const f2 = t.ensurePath('/a/f2', false, 11);
  t.setAttrs(f1, 100, 500, 500, l, 12);
  t.setAttrs(f2, 50, 700, 700, l, 13);
  const a = t.lookup('/a');
  assert.deepEqual(t.aggregates(a), { fileCount: 2, dirCount: 1, totalSize: 150, latestMtime: 700, suspectCount: 0, blindSpotCount: 0, lastChangeAt: 13 });
  assert.deepEqual(t.aggregates(0), { fileCount: 2, dirCount: 2, totalSize: 150, latestMtime: 700, suspectCount: 0, blindSpotCount: 0, lastChangeAt: 13 });
  t.setAttrs(f2, 50, 600, 700, l, 14); // older mtime: recomputed lazily
  assert.equal(t.aggregates(a).latestMtime, 600);
  t.removeSubtree(f2, 15);
  assert.equal(t.aggregates(a).latestMtime, 500);
  assert.equal(t.aggregates(0).latestMtime, 500);
  t.setFlag(f1, FLAG_SUSPECT, true, 16);
  t.setFlag(f1, FLAG_BLIND_SPOT, true, 16);
  t.setFlag(t.lookup('/a/b'), FLAG_BLIND_SPOT | FLAG_SUSPECT, true, 17); // suspect counts files only
  t.setFlag(f1, FLAG_AGENT_MISSING, true, 18);
  assert.deepEqual(t.aggregates(a), { fileCount: 1, dirCount: 1, totalSize: 100, latestMtime: 500, suspectCount: 1, blindSpotCount: 2, lastChangeAt: 18 });
  assert.equal(t.flags(f1), FLAG_SUSPECT | FLAG_BLIND_SPOT | FLAG_AGENT_MISSING);
  assert.ok(t.hasFlag(f1, FLAG_SUSPECT));
  assert.throws(() => t.setFlag(f1, FLAG_DIRECTORY, true, 19), RangeError);
  t.setFlag(f1, FLAG_SUSPECT, false, 5); // lastChangeAt never decreases
  assert.equal(t.aggregates(a).lastChangeAt, 18);
  assert.equal(t.aggregates(a).suspectCount, 0);
  assert.deepEqual(t.aggregates(f1), { fileCount: 1, dirCount: 0, totalSize: 100, latestMtime: 500, suspectCount: 0, blindSpotCount: 1, lastChangeAt: 0 });
  t.setLastUpdatedAt(f1, 42);
  assert.equal(t.lastUpdatedAt(f1), 42);
  assert.equal(t.aggregates(f1).lastChangeAt, 42);
  assert.equal(t.size(f1), 100);
  assert.equal(t.mtime(f1), 500);
  assert.equal(t.ctime(f1), 500);
  t.removeSubtree(t.lookup('/a/b'), 20);
  assert.deepEqual(t.aggregates(a), { fileCount: 0, dirCount: 0, totalSize: 0, latestMtime: 0, suspectCount: 0, blindSpotCount: 0, lastChangeAt: 20 });
  assert.equal(t.childCount(a), 0);
});

test('walk is pre-order with depth, and can skip children', () => {
  const t = new TreeStore();
  t.ensurePath('/a/b/c', false, 1);
  t.ensurePath('/a/d', false, 1);
  t.ensurePath('/e', false, 1);
  const seen: string[] = [];
  t.walk(t.lookup('/a'), (id, depth) => { seen.push(`${depth}:${t.path(id)}`); });
  assert.equal(seen[0], '0:/a');
  assert.equal(seen.length, 4);
  assert.ok(seen.indexOf('1:/a/b') < seen.indexOf('2:/a/b/c'));
  const top: string[] = [];
  t.walk(0, (id, depth) => { top.push(t.path(id)); return depth < 1; });
  assert.deepEqual(top.sort(), ['/', '/a', '/e']);
  const leaf: number[] = [];
  t.walk(t.lookup('/e'), (id) => { leaf.push(id); });
  assert.deepEqual(leaf, [t.lookup('/e')]);
});

test('clear goes back to the root only; lineages survive', () => {
  const t = new TreeStore({ initialCapacity: 16 });
  const l = t.internLineage('a', 'b');
  for (let i = 0; i < 100; i++) t.ensurePath(`/x/${i}`, false, 1);
  t.clear();
  assert.equal(t.liveCount, 1);
  assert.equal(t.lookup('/x'), NO_NODE);
  assert.equal([...t.children(0)].length, 0);
  assert.deepEqual(t.aggregates(0).fileCount, 0);
  assert.deepEqual(t.memoryStats().garbageNames, 0);
  assert.equal(t.internLineage('a', 'b'), l);
  const id = t.ensurePath('/x/1', false, 2);
  assert.equal(t.path(id), '/x/1');
});

test('the last-parent cache never resolves through a removed (and reused) directory', () => {
  const t = new TreeStore();
  const c = t.ensurePath('/a/b/c', false, 1);
  assert.equal(t.lookup('/a/b/c'), c);
  const b = t.lookup('/a/b');
  t.removeSubtree(b, 2);
  assert.equal(t.lookup('/a/b/c'), NO_NODE);
  const reused = t.ensurePath('/q', true, 3); // takes a freed id
  assert.ok(reused === b || reused === c);
  t.ensurePath('/q/c', false, 3);
  assert.equal(t.lookup('/a/b/c'), NO_NODE);
  const c2 = t.ensurePath('/a/b/c', false, 4);
  assert.equal(t.path(c2), '/a/b/c');
  assert.equal(t.lookup('/q/c'), t.lookupChild(reused, 'c'));
});

test('exists() is false for out-of-range and non-integer ids', () => {
  const t = new TreeStore();
  assert.equal(t.exists(-1), false);
  assert.equal(t.exists(1), false);
  assert.equal(t.exists(0.5), false);
  assert.equal(t.exists(1e12), false);
  assert.throws(() => t.setAttrs(5, 1, 1, 1, 0, 1), RangeError);
});
