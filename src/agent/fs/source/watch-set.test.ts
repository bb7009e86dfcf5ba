/** The hot watch set (pure bookkeeping) and the drift percentile. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { percentile99 } from './drift.ts';
import { WatchSet } from './watch-set.ts';

test('admit: below the limit everything enters; at the limit only something more recent, evicting the least recent', () => {
  const s = new WatchSet(3);
  assert.ok(s.admit('/a', 10));
  assert.ok(s.admit('/b', 20));
  assert.ok(s.admit('/c', 30));
  assert.equal(s.admit('/d', 5), null, 'older than everything: refused');
  assert.equal(s.size, 3);
  const r = s.admit('/e', 25);
  assert.ok(r);
  assert.deepEqual(r.evicted.map((e) => e.path), ['/a']);
  assert.deepEqual([...s.entries()].map((e) => e.path).sort(), ['/b', '/c', '/e']);
});

test('bump raises recency (never lowers), which protects from eviction', () => {
  const s = new WatchSet(2);
  s.admit('/a', 10);
  s.admit('/b', 20);
  s.bump(s.get('/a')!, 100);
  s.bump(s.get('/a')!, 1);
  assert.equal(s.get('/a')!.recency, 100);
  const r = s.admit('/c', 50);
  assert.deepEqual(r?.evicted.map((e) => e.path), ['/b']);
  assert.equal(s.admit('/a', 1), null, 'already present: only a bump');
});

test('ids, removal, renamePrefix and under()', () => {
  const s = new WatchSet(10);
  const a = s.admit('/d', 1)!.entry;
  const b = s.admit('/d/x', 1)!.entry;
  const c = s.admit('/dd', 1)!.entry;
  s.setId(a, 1);
  s.setId(b, 2);
  s.setId(c, 3);
  assert.equal(s.activeCount, 3);
  assert.deepEqual(s.under('/d').map((e) => e.path).sort(), ['/d', '/d/x'], '/dd is not under /d');
  assert.equal(s.renamePrefix('/d', '/e'), 2);
  assert.equal(s.get('/e/x'), b);
  assert.equal(s.getById(1)?.path, '/e');
  assert.equal(s.get('/d'), undefined);
  s.remove(b);
  assert.equal(s.getById(2), undefined);
  assert.equal(s.size, 2);
});

test('shrinkTo evicts the least recent; drain returns most recent first', () => {
  const s = new WatchSet(5);
  for (let i = 0; i < 5; i++) s.admit(`/d${i}`, i);
  assert.deepEqual(s.shrinkTo(3).map((e) => e.path), ['/d0', '/d1']);
  assert.equal(s.limit, 3);
  assert.deepEqual(s.drain().map((e) => e.path), ['/d4', '/d3', '/d2']);
  assert.equal(s.size, 0);
});

test('the heap stays bounded under many bumps and still finds the oldest', () => {
  const s = new WatchSet(100);
  for (let i = 0; i < 100; i++) s.admit(`/d${i}`, i);
  for (let k = 0; k < 100_000; k++) s.bump(s.get(`/d${(k % 99) + 1}`)!, 1000 + k);
  assert.equal(s.peekOldest()?.path, '/d0');
  assert.ok((s as unknown as { heap: unknown[] }).heap.length < 2 * 100 + 1024 + 2);
});

test('percentile99 uses the predecessor index max(0, floor(n·0.99) − 1)', () => {
  assert.ok(Number.isNaN(percentile99([])));
  assert.equal(percentile99([7]), 7);
  const values = Array.from({ length: 1000 }, (_, i) => i);
  assert.equal(percentile99(values), 989);
  assert.equal(percentile99([...values, 1e12]), 989, 'one far-future outlier does not move it');
});
