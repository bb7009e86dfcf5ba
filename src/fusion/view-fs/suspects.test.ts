import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SuspectList } from './suspects.ts';
import { T0, dir, file, makeView, node, remove, upsert } from './testing.ts';

// No realtime rows in these tests unless stated: the watermark is the wall clock, so age = now − mtime.

test('hot threshold — a compensating row younger than the threshold marks the file suspect until now + (hot − age)', () => {
  const { view } = makeView({ hotFileThreshold: 30 });
  upsert(view, 'snapshot', [file('/f', T0 - 10)]);
  assert.equal(node(view, '/f')?.integrity_suspect, true);
  assert.deepEqual(view.suspectList(), [{ path: '/f', suspect_until: T0 + 20, recorded_mtime: T0 - 10 }]);
});

test('hot threshold — an age equal to the threshold is cold', () => {
  const { view } = makeView({ hotFileThreshold: 30 });
  upsert(view, 'audit', [file('/f', T0 - 30)]);
  assert.equal(node(view, '/f')?.integrity_suspect, false);
  assert.deepEqual(view.suspectList(), []);
});

test('hot threshold — the expiry is at least 1 s (clamp lower bound)', () => {
  const { view } = makeView({ hotFileThreshold: 30 });
  upsert(view, 'snapshot', [file('/f', T0 - 29.5)]);
  assert.equal(view.suspectList()[0].suspect_until, T0 + 1);
});

test('hot threshold — future mtimes are hot, with the expiry clamped to one threshold', () => {
  const { view } = makeView({ hotFileThreshold: 30 });
  upsert(view, 'on_demand_job', [file('/f', T0 + 500)]);
  assert.equal(node(view, '/f')?.integrity_suspect, true);
  assert.equal(view.suspectList()[0].suspect_until, T0 + 30);
});

test('hot threshold — directories are never suspect', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [dir('/d', T0)]);
  assert.equal(node(view, '/d')?.integrity_suspect, false);
  assert.equal(view.stats({}).suspect_file_count, 0);
});

test('hot threshold — a cold compensating row clears an earlier suspect mark', () => {
  const { view, clock } = makeView({ hotFileThreshold: 30 });
  upsert(view, 'snapshot', [file('/f', T0 - 10)]);
  clock.advance(25); // age 35
  upsert(view, 'audit', [file('/f', T0 - 10)]);
  assert.equal(node(view, '/f')?.integrity_suspect, false);
});

test('hot threshold — ages use the logical clock (skew from realtime rows)', () => {
  const { view } = makeView({ hotFileThreshold: 30 });
  // The storage clock is 1000 s behind the gateway: realtime files written "now" carry mtime T0 − 1000.
  upsert(view, 'realtime', [file('/rt1', T0 - 1000), file('/rt2', T0 - 1000)]);
  upsert(view, 'snapshot', [file('/hot', T0 - 1010), file('/cold', T0 - 1040)]);
  assert.equal(node(view, '/hot')?.integrity_suspect, true);
  assert.equal(node(view, '/cold')?.integrity_suspect, false);
  assert.equal(view.stats({}).logical_now, T0 - 1000);
});

test('suspect sweep — a stable file is cleared when its entry expires', () => {
  const { view, clock } = makeView({ hotFileThreshold: 30 });
  upsert(view, 'snapshot', [file('/f', T0 - 10)]);
  clock.advance(19.9);
  view.tick();
  assert.equal(node(view, '/f')?.integrity_suspect, true, 'not yet expired');
  clock.advance(0.1);
  view.tick();
  assert.equal(node(view, '/f')?.integrity_suspect, false);
  assert.deepEqual(view.suspectList(), []);
  assert.equal(view.stats({}).suspect_file_count, 0);
});

test('suspect sweep — a file whose mtime changed is renewed for a full threshold with the new mtime', () => {
  const { view, clock } = makeView({ hotFileThreshold: 30 });
  upsert(view, 'realtime', [file('/f', T0, { is_atomic_write: false })]);
  // Every ingest path re-records the mtime it writes; the sweep's check guards against any other
  // writer of the tree, so this test changes the node directly.
  const tree = view.internals().tree;
  const id = tree.lookup('/f');
  tree.setAttrs(id, 100, T0 + 5, T0, tree.lineageId(id), T0 + 10);
  clock.advance(30); // the entry expires
  view.tick();
  assert.equal(node(view, '/f')?.integrity_suspect, true);
  const [entry] = view.suspectList();
  assert.equal(entry.recorded_mtime, T0 + 5);
  assert.equal(entry.suspect_until, T0 + 30 + 30);
  clock.advance(30);
  view.tick();
  assert.equal(node(view, '/f')?.integrity_suspect, false, 'stable for a full threshold: cleared');
});

test('suspect sweep — an entry whose node is gone is dropped', () => {
  const { view, clock } = makeView();
  upsert(view, 'snapshot', [file('/f', T0 - 1)]);
  remove(view, 'audit', ['/f']);
  assert.deepEqual(view.suspectList(), [], 'deletion drops the entry at once');
  clock.advance(60);
  view.tick();
  assert.deepEqual(view.suspectList(), []);
});

test('suspect-list — suspect_until is wall-clock epoch seconds', () => {
  const { view } = makeView({ hotFileThreshold: 60 });
  upsert(view, 'realtime', [file('/f', T0, { is_atomic_write: false })]);
  const [entry] = view.suspectList();
  assert.ok(Math.abs(entry.suspect_until - (T0 + 60)) < 1e-9);
  assert.ok(entry.suspect_until > 1.6e9, 'an epoch time, not a monotonic one');
});

test('sentinel tasks — list the suspect paths', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/a', T0 - 1), file('/b', T0 - 100)]);
  assert.deepEqual(view.sentinelTasks(), ['/a']);
});

test('sentinel exists — same mtime and size on a cold file clears the mark at once', () => {
  const { view, clock } = makeView({ hotFileThreshold: 30 });
  upsert(view, 'snapshot', [file('/g', T0 - 10, { size: 5 })]); // suspect until T0 + 20
  view.sentinelTasks();
  clock.advance(15); // age 25: still hot
  assert.equal(view.sentinelFeedback([{ path: '/g', mtime: T0 - 10, size: 5, status: 'exists' }]), 1);
  assert.equal(node(view, '/g')?.integrity_suspect, true);
  clock.advance(5); // age 30: cold, the sweep has not run yet
  assert.equal(view.sentinelFeedback([{ path: '/g', mtime: T0 - 10, size: 5, status: 'exists' }]), 1);
  assert.equal(node(view, '/g')?.integrity_suspect, false);
  assert.deepEqual(view.suspectList(), []);
});

test('sentinel exists — same mtime on a still-hot file keeps the mark until expiry', () => {
  const { view, clock } = makeView({ hotFileThreshold: 30 });
  upsert(view, 'snapshot', [file('/f', T0 - 5, { size: 5 })]);
  clock.advance(5);
  view.sentinelFeedback([{ path: '/f', mtime: T0 - 5, size: 5, status: 'exists' }]);
  assert.equal(node(view, '/f')?.integrity_suspect, true);
  assert.equal(view.suspectList()[0].suspect_until, T0 + 25);
});

test('sentinel exists — a different mtime or size updates the node and renews a full threshold', () => {
  const { view, clock } = makeView({ hotFileThreshold: 30 });
  upsert(view, 'snapshot', [file('/f', T0 - 5, { size: 5 }), file('/g', T0 - 5, { size: 5 })]);
  clock.advance(3);
  view.sentinelFeedback([{ path: '/f', mtime: T0 + 2, size: 9, status: 'exists' }, { path: '/g', mtime: T0 - 5, size: 6, status: 'exists' }]);
  assert.equal(node(view, '/f')?.modified_time, T0 + 2);
  assert.equal(node(view, '/f')?.size, 9);
  assert.equal(node(view, '/g')?.size, 6);
  const byPath = Object.fromEntries(view.suspectList().map((e) => [e.path, e]));
  assert.equal(byPath['/f'].suspect_until, T0 + 33);
  assert.equal(byPath['/f'].recorded_mtime, T0 + 2);
  assert.equal(byPath['/g'].suspect_until, T0 + 33);
});

test('sentinel exists — paths that are not suspect are ignored', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/cold', T0 - 100, { size: 1 })]);
  assert.equal(view.sentinelFeedback([{ path: '/cold', mtime: T0, size: 2, status: 'exists' }, { path: '/nope', mtime: 1, status: 'exists' }]), 0);
  assert.equal(node(view, '/cold')?.size, 1);
});

test('sentinel missing — a compensating delete, not an mtime of 0', () => {
  const { view, clock } = makeView();
  upsert(view, 'snapshot', [file('/f', T0 - 5)]);
  view.sentinelTasks();
  clock.advance(1);
  assert.equal(view.sentinelFeedback([{ path: '/f', mtime: 0, status: 'missing' }]), 1);
  assert.equal(view.has('/f'), false);
  assert.deepEqual(view.blindSpots({}).deletions, ['/f']);
  assert.deepEqual(view.suspectList(), []);
});

test('sentinel missing — ignored when realtime re-created the file after the tasks were handed out', () => {
  const { view, clock } = makeView();
  upsert(view, 'snapshot', [file('/f', T0 - 5)]);
  view.sentinelTasks();
  clock.advance(1);
  upsert(view, 'realtime', [file('/f', T0 - 5)]);
  view.sentinelFeedback([{ path: '/f', status: 'missing' }]);
  assert.equal(view.has('/f'), true);
});

test('PUT suspect-list — stability evidence clears cold files and renews changed ones', () => {
  const { view, clock } = makeView({ hotFileThreshold: 30 });
  upsert(view, 'snapshot', [file('/a', T0 - 10), file('/b', T0 - 10)]);
  clock.advance(25);
  const n = view.suspectEvidence([{ path: '/a', mtime: T0 - 10 }, { path: '/b', mtime: T0 + 20 }, { path: 'bad', mtime: 1 }]);
  assert.equal(n, 2);
  assert.equal(node(view, '/a')?.integrity_suspect, false);
  assert.equal(node(view, '/b')?.modified_time, T0 + 20);
  assert.equal(view.suspectList()[0].suspect_until, T0 + 55);
});

test('suspect list — stale heap items are skipped and the heap stays bounded', () => {
  const list = new SuspectList();
  for (let i = 0; i < 5000; i++) list.set('/p', 100 + i, i);
  assert.equal(list.size, 1);
  assert.ok(list.heapSize <= 2 * list.size + 1025);
  list.set('/q', 50, 1);
  assert.deepEqual(list.takeExpired(60).map(([p]) => p), ['/q']);
  assert.deepEqual(list.takeExpired(5098), []);
  const [[path, e]] = list.takeExpired(5099);
  assert.equal(path, '/p');
  assert.equal(e.recordedMtime, 4999);
});
