import { test } from 'node:test';
import assert from 'node:assert/strict';
import { T0, dir, file, makeView, remove, upsert } from './testing.ts';

const OLD = T0 - 3600;

/** A view with /d holding a, b, c and /e/x from a snapshot. */
function seeded() {
  const made = makeView({ auditIntervalSec: 600, tombstoneTtlSeconds: 100 });
  upsert(made.view, 'snapshot', [dir('/d', OLD), file('/d/a', OLD), file('/d/b', OLD), file('/d/c', OLD), dir('/e', OLD), file('/e/x', OLD)]);
  made.clock.advance(1);
  return made;
}

test('audit end — deletes children of a seen directory that the audit did not see', () => {
  const { view, clock } = seeded();
  view.auditStart('pipe-a');
  upsert(view, 'audit', [dir('/', OLD), dir('/d', OLD), file('/d/a', OLD), file('/d/c', OLD), dir('/e', OLD), file('/e/x', OLD)]);
  clock.advance(1);
  view.auditEnd('pipe-a');
  assert.equal(view.has('/d/b'), false);
  assert.equal(view.has('/d/a'), true);
  assert.deepEqual(view.blindSpots({}).deletions, ['/d/b']);
  const stats = view.stats({});
  assert.equal(stats.audit_cycle_count, 1);
  assert.equal(stats.last_audit_finished_at, T0 + 2);
  assert.equal(stats.is_auditing, false);
});

test('audit end — removes an unseen subdirectory with its subtree', () => {
  const { view } = seeded();
  view.auditStart('pipe-a');
  upsert(view, 'audit', [dir('/', OLD), dir('/d', OLD), file('/d/a', OLD), file('/d/b', OLD), file('/d/c', OLD)]);
  view.auditEnd('pipe-a');
  assert.equal(view.has('/e'), false);
  assert.equal(view.has('/e/x'), false);
  assert.equal(view.itemCount(), 5);
});

test('audit end — keeps a file updated by realtime during the audit (stale-evidence protection)', () => {
  const { view, clock } = seeded();
  upsert(view, 'snapshot', [file('/d/copied', OLD - 900)]); // known before the audit
  view.auditStart('pipe-a');
  clock.advance(1);
  upsert(view, 'realtime', [file('/d/copied', OLD - 500)]); // cp -p over it: old mtime, arrives during the audit
  upsert(view, 'audit', [dir('/d', OLD), file('/d/a', OLD), file('/d/b', OLD), file('/d/c', OLD)]);
  view.auditEnd('pipe-a');
  assert.equal(view.has('/d/copied'), true);
});

test('audit end — keeps a node updated by realtime before the audit only if it is seen', () => {
  const { view, clock } = seeded();
  upsert(view, 'realtime', [file('/d/early', OLD - 500)]);
  clock.advance(10);
  view.auditStart('pipe-a');
  upsert(view, 'audit', [dir('/d', OLD), file('/d/a', OLD), file('/d/b', OLD), file('/d/c', OLD)]);
  view.auditEnd('pipe-a');
  assert.equal(view.has('/d/early'), false, 'updated before the audit started: the audit is the newer evidence');
});

test('audit end — keeps children of an audit_skipped directory', () => {
  const { view } = seeded();
  view.auditStart('pipe-a');
  upsert(view, 'audit', [dir('/d', OLD, { audit_skipped: true }), dir('/e', OLD), file('/e/x', OLD)]);
  view.auditEnd('pipe-a');
  assert.equal(view.has('/d/a'), true);
  assert.equal(view.has('/d/b'), true);
});

// The contract the agent's dir-mtime cache relies on (src/agent/fs/source AUDIT_SETTLE_SECONDS): a child
// spared as stale evidence is only removed by a later audit that LISTS its directory again; one that
// finds the directory silent (`audit_skipped`) carries no evidence about it.
test('audit end — a child spared as stale evidence goes at the next audit that lists its directory', () => {
  const { view, clock } = seeded();
  view.auditStart('pipe-a');
  clock.advance(1);
  upsert(view, 'realtime', [file('/d/moved-out', clock.t)]); // arrives during the audit, then leaves unseen
  upsert(view, 'audit', [dir('/d', clock.t), file('/d/a', OLD), file('/d/b', OLD), file('/d/c', OLD)]);
  view.auditEnd('pipe-a');
  assert.equal(view.has('/d/moved-out'), true, 'spared: realtime touched it after the audit start');
  clock.advance(60);
  view.auditStart('pipe-a');
  upsert(view, 'audit', [dir('/d', clock.t - 59, { audit_skipped: true })]);
  view.auditEnd('pipe-a');
  assert.equal(view.has('/d/moved-out'), true, 'a silent directory says nothing about its children');
  clock.advance(60);
  view.auditStart('pipe-a');
  upsert(view, 'audit', [dir('/d', clock.t - 119), file('/d/a', OLD), file('/d/b', OLD), file('/d/c', OLD)]);
  view.auditEnd('pipe-a');
  assert.equal(view.has('/d/moved-out'), false);
  assert.ok(view.blindSpots({}).deletions.includes('/d/moved-out'));
});

test('audit end — keeps a tombstoned child', () => {
  const { view } = seeded();
  view.internals().tombstones.add('/d/b', OLD + 10, T0, false);
  view.auditStart('pipe-a');
  upsert(view, 'audit', [dir('/d', OLD), file('/d/a', OLD), file('/d/c', OLD)]);
  view.auditEnd('pipe-a');
  assert.equal(view.has('/d/b'), true);
});

test('audit end — keeps a node created by another source while the window was open', () => {
  const { view } = seeded();
  view.auditStart('pipe-a');
  upsert(view, 'audit', [dir('/d', OLD), file('/d/a', OLD), file('/d/b', OLD), file('/d/c', OLD)]);
  upsert(view, 'on_demand_job', [file('/d/late', OLD - 100)]);
  view.auditEnd('pipe-a');
  assert.equal(view.has('/d/late'), true);
});

test('audit end — keeps a node whose mtime is newer than the audit start', () => {
  const { view, clock } = seeded();
  upsert(view, 'snapshot', [file('/d/late', OLD)]);
  view.auditStart('pipe-a');
  upsert(view, 'audit', [dir('/d', OLD), file('/d/a', OLD), file('/d/b', OLD), file('/d/c', OLD)]);
  clock.advance(5);
  // Written after the walk listed /d; a compensating row (no last_updated_at) brings the new mtime.
  upsert(view, 'on_demand_job', [file('/d/late', T0 + 3)]);
  view.auditEnd('pipe-a');
  assert.equal(view.has('/d/late'), true);
});

test('audit end — a FUTURE mtime is no evidence of a change after the start: the unseen node goes', () => {
  // Regression (convergence oracle): a `touch -d tomorrow` file deleted where no watch sees it stayed in
  // the view until the clock reached its mtime, and so did every directory above it.
  const { view, clock } = seeded();
  upsert(view, 'snapshot', [file('/d/future', T0 + 86400), dir('/e/sub', OLD), file('/e/sub/tomorrow', T0 + 86400)]);
  clock.advance(5);
  view.auditStart('pipe-a');
  upsert(view, 'audit', [dir('/d', OLD), file('/d/a', OLD), file('/d/b', OLD), file('/d/c', OLD), dir('/e', OLD), file('/e/x', OLD)]);
  view.auditEnd('pipe-a');
  assert.equal(view.has('/d/future'), false);
  assert.equal(view.has('/e/sub'), false);
  assert.equal(view.has('/d/a'), true);
});

test('audit start — the first audit row opens the window', () => {
  const { view } = seeded();
  upsert(view, 'audit', [dir('/d', OLD), file('/d/a', OLD)]);
  assert.equal(view.stats({}).is_auditing, true);
  view.auditEnd('pipe-a');
  assert.equal(view.has('/d/b'), false);
  assert.equal(view.has('/d/a'), true);
});

test('late audit start — a start within 5 s of the first rows keeps the rows already seen', () => {
  const { view, clock } = seeded();
  upsert(view, 'audit', [dir('/d', OLD), file('/d/a', OLD), file('/d/b', OLD)]);
  clock.advance(4);
  view.auditStart('pipe-a');
  upsert(view, 'audit', [file('/d/c', OLD)]);
  view.auditEnd('pipe-a');
  assert.equal(view.itemCount(), 7, 'nothing deleted: /d/a and /d/b were seen before the late start');
});

test('audit start — a start more than 5 s after the window opened starts over', () => {
  const { view, clock } = seeded();
  upsert(view, 'audit', [dir('/d', OLD), file('/d/a', OLD), file('/d/b', OLD)]);
  clock.advance(6);
  view.auditStart('pipe-a');
  upsert(view, 'audit', [dir('/d', OLD), file('/d/c', OLD)]);
  view.auditEnd('pipe-a');
  assert.equal(view.has('/d/a'), false);
  assert.equal(view.has('/d/b'), false);
  assert.equal(view.has('/d/c'), true);
});

test('audit end — without an open window it does nothing (the agent sends end twice)', () => {
  const { view } = seeded();
  view.auditStart('pipe-a');
  upsert(view, 'audit', [dir('/d', OLD), file('/d/a', OLD), file('/d/b', OLD), file('/d/c', OLD)]);
  view.auditEnd('pipe-a');
  view.auditEnd('pipe-a');
  assert.equal(view.stats({}).audit_cycle_count, 1);
});

test('tombstone TTL — purged at audit end once older than the TTL, not before', () => {
  const { view, clock } = seeded(); // TTL 100 s
  remove(view, 'realtime', ['/d/a']);
  clock.advance(50);
  remove(view, 'realtime', ['/d/b']);
  clock.advance(60); // /d/a's tombstone is 110 s old, /d/b's 60 s
  assert.equal(view.stats({}).tombstone_count, 2, 'no purge outside audit end');
  view.auditStart('pipe-a');
  view.auditEnd('pipe-a');
  assert.equal(view.stats({}).tombstone_count, 1);
  upsert(view, 'snapshot', [file('/d/a', OLD), file('/d/b', OLD)]);
  assert.equal(view.has('/d/a'), true, 'the purged tombstone no longer blocks');
  assert.equal(view.has('/d/b'), false);
});

test('abandoned window — closed by tick after 2 × audit interval without detection, and counted', () => {
  const { view, clock } = seeded(); // interval 600 s
  view.auditStart('pipe-a');
  upsert(view, 'audit', [dir('/d', OLD), file('/d/a', OLD)]);
  clock.advance(1199);
  view.tick();
  assert.equal(view.stats({}).is_auditing, true);
  clock.advance(1);
  view.tick();
  const stats = view.stats({});
  assert.equal(stats.is_auditing, false);
  assert.equal(stats.audit_windows_abandoned, 1);
  assert.equal(stats.audit_cycle_count, 0);
  view.auditEnd('pipe-a');
  assert.equal(view.has('/d/b'), true, 'no missing-item detection for an abandoned window');
});

test('session start — clears both blind-spot sets and discards the open window', () => {
  const { view } = seeded();
  upsert(view, 'audit', [file('/d/new', OLD)]);
  remove(view, 'audit', ['/e/x']);
  view.auditStart('pipe-a');
  upsert(view, 'audit', [dir('/d', OLD), file('/d/a', OLD)]);
  assert.equal(view.blindSpots({}).additions_count, 1);
  assert.equal(view.blindSpots({}).deletion_count, 1);
  view.sessionStart('pipe-a');
  const b = view.blindSpots({});
  assert.equal(b.additions_count, 0);
  assert.equal(b.deletion_count, 0);
  assert.equal(view.stats({}).has_blind_spot, false);
  assert.equal(view.stats({}).is_auditing, false);
  view.auditEnd('pipe-a');
  assert.equal(view.has('/d/b'), true, 'the discarded window detects nothing');
});

test('blind spots — additions then deletions are paged with a cursor', () => {
  const { view } = makeView();
  upsert(view, 'audit', [file('/a', OLD), file('/b', OLD), file('/c', OLD)]);
  upsert(view, 'snapshot', [file('/x', OLD), file('/y', OLD)]);
  remove(view, 'on_demand_job', ['/x', '/y']);
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = view.blindSpots({ limit: 2, cursor });
    assert.equal(page.additions_count, 3);
    assert.equal(page.deletion_count, 2);
    seen.push(...page.additions.map((n) => n.path), ...page.deletions);
    cursor = page.next_cursor;
    pages++;
  } while (cursor !== undefined);
  assert.equal(pages, 3);
  assert.deepEqual(seen.sort(), ['/a', '/b', '/c', '/x', '/y']);
});

test('audit end — keeps a path the audit reported even when the row lost to newer knowledge', () => {
  const { view } = seeded();
  upsert(view, 'realtime', [dir('/d/now-a-dir', T0 + 1)]); // newer than anything the audit says
  view.auditStart('pipe-a');
  upsert(view, 'audit', [dir('/d', OLD), file('/d/a', OLD), file('/d/b', OLD), file('/d/c', OLD), file('/d/now-a-dir', OLD)]);
  view.auditEnd('pipe-a');
  assert.equal(view.has('/d/now-a-dir'), true);
});

test('audit — seeing a path again removes it from blind_spot_deletions, even when the row changes nothing', () => {
  const { view } = seeded();
  remove(view, 'on_demand_job', ['/d/a']);
  upsert(view, 'snapshot', [file('/d/a', OLD)]); // back, but the deletion mark stays
  assert.deepEqual(view.blindSpots({}).deletions, ['/d/a']);
  upsert(view, 'audit', [file('/d/a', OLD)]);
  assert.deepEqual(view.blindSpots({}).deletions, []);
});
