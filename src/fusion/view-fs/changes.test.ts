import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FustorError } from '../../kernel/errors.ts';
import { T0, file, makeView, remove, upsert } from './testing.ts';

const OLD = T0 - 3600;

test('changes — since=now gives a cursor; later calls return what changed after it, in order', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/before', OLD)]);
  const start = view.changes({ since: 'now' });
  assert.deepEqual(start.changes, []);
  upsert(view, 'realtime', [file('/a', OLD), file('/b', OLD)]);
  remove(view, 'realtime', ['/a']);
  const r = view.changes({ since: start.cursor });
  assert.deepEqual(r.changes.map((c) => [c.path, c.op, c.source]), [['/a', 'upsert', 'realtime'], ['/b', 'upsert', 'realtime'], ['/a', 'delete', 'realtime']]);
  assert.equal(r.changes[0].node, undefined, '/a is gone now');
  assert.equal(r.changes[1].node?.path, '/b');
  assert.equal(r.fresh_instance, undefined);
  assert.deepEqual(view.changes({ since: r.cursor }).changes, [], 'nothing new');
});

test('changes — limit and cursor continue where the last page stopped', () => {
  const { view } = makeView();
  const c0 = view.changes({}).cursor;
  upsert(view, 'snapshot', Array.from({ length: 5 }, (_, i) => file(`/f${i}`, OLD)));
  const p1 = view.changes({ since: c0, limit: 2 });
  const p2 = view.changes({ since: p1.cursor, limit: 2 });
  const p3 = view.changes({ since: p2.cursor, limit: 2 });
  assert.deepEqual([...p1.changes, ...p2.changes, ...p3.changes].map((c) => c.path), ['/f0', '/f1', '/f2', '/f3', '/f4']);
});

test('changes — a path scope keeps changes below it, and deletes of an ancestor', () => {
  const { view } = makeView();
  const c0 = view.changes({}).cursor;
  upsert(view, 'snapshot', [file('/p/x/a', OLD), file('/q/b', OLD)]);
  remove(view, 'realtime', ['/p']);
  const r = view.changes({ since: c0, path: '/p/x' });
  assert.deepEqual(r.changes.map((c) => [c.path, c.op]), [['/p/x/a', 'upsert'], ['/p', 'delete']]);
  assert.throws(() => view.changes({ since: c0, path: 'bad' }), (e: unknown) => e instanceof FustorError && e.code === 'BAD_REQUEST');
});

test('changes — an expired cursor answers fresh_instance', () => {
  const { view } = makeView({ journalSize: 4 });
  const c0 = view.changes({}).cursor;
  upsert(view, 'snapshot', Array.from({ length: 6 }, (_, i) => file(`/f${i}`, OLD)));
  const r = view.changes({ since: c0 });
  assert.equal(r.fresh_instance, true);
  assert.deepEqual(r.changes, []);
  assert.notEqual(r.cursor, c0);
  upsert(view, 'realtime', [file('/g', OLD)]);
  assert.deepEqual(view.changes({ since: r.cursor }).changes.map((c) => c.path), ['/g']);
});

test('changes — a cursor from before a reset (or from another view) answers fresh_instance', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/a', OLD)]);
  const c = view.changes({}).cursor;
  view.reset();
  assert.equal(view.changes({ since: c }).fresh_instance, true);
  const other = makeView().view;
  assert.equal(other.changes({ since: c }).fresh_instance, true);
});

test('changes — a malformed cursor is a 400', () => {
  const { view } = makeView();
  assert.throws(() => view.changes({ since: 'yesterday' }), (e: unknown) => e instanceof FustorError && e.code === 'BAD_REQUEST');
});

test('changes — compensating deletes and type changes are journaled with their source', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/a', OLD), file('/t', OLD)]);
  const c0 = view.changes({}).cursor;
  remove(view, 'audit', ['/a']);
  upsert(view, 'realtime', [{ path: '/t', size: 0, modified_time: OLD + 1, is_directory: true }]);
  assert.deepEqual(view.changes({ since: c0 }).changes.map((c) => [c.path, c.op, c.source]), [['/a', 'delete', 'audit'], ['/t', 'delete', 'realtime'], ['/t', 'upsert', 'realtime']]);
});
