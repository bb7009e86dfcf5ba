import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FustorError } from '../../kernel/errors.ts';
import { T0, dir, file, makeView, remove, upsert } from './testing.ts';

const OLD = T0 - 3600;

test('stats — view-wide fields of spec 30', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [dir('/d', OLD), file('/d/a', OLD, { size: 10 }), file('/d/b', OLD + 5, { size: 5 }), file('/c', OLD - 5, { size: 1 })]);
  upsert(view, 'audit', [file('/d/new', OLD - 10, { size: 2 })]);
  const s = view.stats({});
  for (const key of ['item_count', 'total_files', 'total_directories', 'total_size', 'latest_mtime', 'suspect_file_count', 'has_blind_spot',
    'blind_spot_additions', 'blind_spot_deletions', 'logical_now', 'latency_ms', 'staleness_seconds', 'audit_cycle_count',
    'last_audit_finished_at', 'is_auditing', 'audit_windows_abandoned', 'max_nodes_refused']) {
    assert.ok(key in s, `stats has ${key}`);
  }
  assert.equal(s.item_count, 6);
  assert.equal(s.total_files, 4);
  assert.equal(s.total_directories, 2, 'the root and /d');
  assert.equal(s.total_size, 18);
  assert.equal(s.latest_mtime, OLD + 5);
  assert.equal(s.blind_spot_additions, 1);
  assert.equal(s.has_blind_spot, true);
  assert.equal(s.is_auditing, true);
  assert.equal(s.logical_now, T0);
});

test('stats — a sub-path answers its directory aggregates, kept up to date incrementally', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/up/a', OLD, { size: 10 }), file('/up/sub/b', OLD + 7, { size: 20 }), file('/else', OLD + 100)]);
  let s = view.stats({ path: '/up' });
  assert.equal(s.file_count, 2);
  assert.equal(s.dir_count, 2, '/up and /up/sub');
  assert.equal(s.total_size, 30);
  assert.equal(s.latest_mtime, OLD + 7);
  remove(view, 'realtime', ['/up/sub']);
  s = view.stats({ path: '/up' });
  assert.equal(s.file_count, 1);
  assert.equal(s.total_size, 10);
  assert.equal(s.latest_mtime, OLD);
  assert.equal(view.stats({ path: '/up/a' }).file_count, 1);
  assert.throws(() => view.stats({ path: '/nope' }), (e: unknown) => e instanceof FustorError && e.code === 'NOT_FOUND');
});

test('stats settled — false while a file below is suspect, true after quiet_seconds without change', () => {
  const { view, clock } = makeView({ hotFileThreshold: 30 });
  upsert(view, 'realtime', [file('/upload/part1', T0, { is_atomic_write: false })]);
  let s = view.stats({ path: '/upload' });
  assert.equal(s.suspect_count, 1);
  assert.equal(s.settled, false);
  clock.advance(5);
  upsert(view, 'realtime', [file('/upload/part1', T0 + 5)]); // closed
  s = view.stats({ path: '/upload' });
  assert.equal(s.suspect_count, 0);
  assert.equal(s.settled, false, 'changed 0 s ago');
  assert.equal(s.quiet_for_seconds, 0);
  clock.advance(29);
  assert.equal(view.stats({ path: '/upload' }).settled, false);
  clock.advance(1);
  s = view.stats({ path: '/upload' });
  assert.equal(s.quiet_for_seconds, 30);
  assert.equal(s.settled, true);
  assert.equal(view.stats({ path: '/upload', quiet_seconds: 60 }).settled, false, 'quiet_seconds overrides the default');
});

test('stats settled — a change deep below resets the quiet time of every ancestor', () => {
  const { view, clock } = makeView({ hotFileThreshold: 10 });
  upsert(view, 'snapshot', [file('/a/b/c/old', OLD)]);
  clock.advance(100);
  assert.equal(view.stats({ path: '/a' }).settled, true);
  upsert(view, 'realtime', [file('/a/b/c/new', T0 + 100)]);
  assert.equal(view.stats({ path: '/a' }).settled, false);
  assert.equal(view.stats({ path: '/a/b' }).quiet_for_seconds, 0);
});

test('stats settled — a file path is settled when it is not suspect and quiet', () => {
  const { view, clock } = makeView({ hotFileThreshold: 10 });
  upsert(view, 'realtime', [file('/f', T0)]);
  assert.equal(view.stats({ path: '/f' }).settled, false);
  clock.advance(10);
  assert.equal(view.stats({ path: '/f' }).settled, true);
});
