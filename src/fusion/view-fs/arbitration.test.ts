import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLAG_AGENT_MISSING } from '../tree/tree-store.ts';
import { T0, dir, file, makeView, node, remove, upsert, wireEvent } from './testing.ts';

const OLD = T0 - 3600; // cold: an hour before the wall clock

test('realtime upsert — applies even when the row mtime is older than the node (rule 2)', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/a/f', OLD + 100, { size: 1 })]);
  upsert(view, 'realtime', [file('/a/f', OLD, { size: 2 })]);
  assert.equal(node(view, '/a/f')?.modified_time, OLD);
  assert.equal(node(view, '/a/f')?.size, 2);
});

test('realtime upsert — sets last_updated_at to the gateway clock and known_by_agent', () => {
  const { view, clock } = makeView();
  upsert(view, 'audit', [file('/f', OLD)]);
  assert.equal(node(view, '/f')?.agent_missing, true);
  clock.advance(7);
  upsert(view, 'realtime', [file('/f', OLD + 1)]);
  const tree = view.internals().tree;
  assert.equal(tree.lastUpdatedAt(tree.lookup('/f')), T0 + 7);
  assert.equal(node(view, '/f')?.agent_missing, false);
});

test('realtime upsert — removes the path from both blind-spot sets', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/gone', OLD)]);
  remove(view, 'audit', ['/gone']);
  upsert(view, 'audit', [file('/new', OLD)]);
  let b = view.blindSpots({});
  assert.deepEqual(b.deletions, ['/gone']);
  assert.deepEqual(b.additions.map((n) => n.path), ['/new']);
  upsert(view, 'realtime', [file('/gone', OLD + 5), file('/new', OLD + 5)]);
  b = view.blindSpots({});
  assert.equal(b.additions_count, 0);
  assert.equal(b.deletion_count, 0);
});

test('realtime upsert — a partial write (is_atomic_write false) marks the file suspect for a full threshold', () => {
  const { view, clock } = makeView({ hotFileThreshold: 30 });
  upsert(view, 'realtime', [file('/w', OLD, { is_atomic_write: false })]);
  assert.equal(node(view, '/w')?.integrity_suspect, true);
  assert.deepEqual(view.suspectList(), [{ path: '/w', suspect_until: T0 + 30, recorded_mtime: OLD }]);
  clock.advance(10);
  upsert(view, 'realtime', [file('/w', OLD + 10, { is_atomic_write: false })]);
  assert.deepEqual(view.suspectList(), [{ path: '/w', suspect_until: T0 + 40, recorded_mtime: OLD + 10 }], 'renewed');
});

test('realtime upsert — an atomic write (true or absent) clears the suspect mark', () => {
  const { view } = makeView();
  upsert(view, 'realtime', [file('/w', OLD, { is_atomic_write: false }), file('/v', OLD, { is_atomic_write: false })]);
  upsert(view, 'realtime', [file('/w', OLD + 1, { is_atomic_write: true }), file('/v', OLD + 1)]);
  assert.equal(node(view, '/w')?.integrity_suspect, false);
  assert.equal(node(view, '/v')?.integrity_suspect, false);
  assert.deepEqual(view.suspectList(), []);
});

test('snapshot upsert — never overwrites a node whose mtime is equal or newer (rule 3)', () => {
  const { view } = makeView();
  upsert(view, 'realtime', [file('/f', OLD + 10, { size: 1 })]);
  upsert(view, 'snapshot', [file('/f', OLD + 10, { size: 2 }), file('/f', OLD + 5, { size: 3 })]);
  assert.equal(node(view, '/f')?.size, 1);
  upsert(view, 'snapshot', [file('/f', OLD + 11, { size: 4 })]);
  assert.equal(node(view, '/f')?.size, 4);
});

test('snapshot upsert — keeps last_updated_at (0 for new nodes) and marks the node known by the agent', () => {
  const { view, clock } = makeView();
  upsert(view, 'audit', [file('/a', OLD)]);
  clock.advance(3);
  upsert(view, 'snapshot', [file('/a', OLD + 1), file('/b', OLD)]);
  const tree = view.internals().tree;
  assert.equal(tree.lastUpdatedAt(tree.lookup('/b')), 0);
  assert.equal(tree.lastUpdatedAt(tree.lookup('/a')), 0);
  assert.equal(node(view, '/a')?.agent_missing, false);
  assert.equal(view.blindSpots({}).additions_count, 0, 'snapshot re-discovery clears the addition');
});

test('audit upsert — a new or changed node becomes a blind-spot addition with agent_missing (rule 4)', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/d/known', OLD)]);
  upsert(view, 'audit', [file('/d/new', OLD), file('/d/known', OLD + 1)]);
  assert.equal(node(view, '/d/new')?.agent_missing, true);
  assert.equal(node(view, '/d/known')?.agent_missing, true);
  assert.deepEqual(view.blindSpots({}).additions.map((n) => n.path).sort(), ['/d/known', '/d/new']);
  assert.equal(view.stats({}).has_blind_spot, true);
});

test('audit upsert — an unchanged node keeps known_by_agent and is not a blind spot', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/f', OLD)]);
  upsert(view, 'audit', [file('/f', OLD)]);
  assert.equal(node(view, '/f')?.agent_missing, false);
  assert.equal(view.blindSpots({}).additions_count, 0);
});

test('on-demand upsert — behaves like an audit: no overwrite of newer, blind-spot addition when new', () => {
  const { view } = makeView();
  upsert(view, 'realtime', [file('/f', OLD + 10, { size: 1 })]);
  upsert(view, 'on_demand_job', [file('/f', OLD, { size: 2 }), file('/g', OLD)]);
  assert.equal(node(view, '/f')?.size, 1);
  assert.equal(node(view, '/g')?.agent_missing, true);
  assert.deepEqual(view.blindSpots({}).additions.map((n) => n.path), ['/g']);
  const tree = view.internals().tree;
  assert.equal(tree.lastUpdatedAt(tree.lookup('/g')), 0);
});

test('audit rule 3 — ignores a new path when the in-memory parent is newer than the row parent_mtime', () => {
  const { view } = makeView();
  upsert(view, 'realtime', [dir('/d', OLD + 100)]);
  upsert(view, 'audit', [file('/d/stale', OLD, { parent_path: '/d', parent_mtime: OLD + 50 })]);
  assert.equal(view.has('/d/stale'), false);
  upsert(view, 'audit', [file('/d/fresh', OLD, { parent_path: '/d', parent_mtime: OLD + 100 })]);
  assert.equal(view.has('/d/fresh'), true);
});

test('audit rule 3 — does not apply to snapshot rows', () => {
  const { view } = makeView();
  upsert(view, 'realtime', [dir('/d', OLD + 100)]);
  upsert(view, 'snapshot', [file('/d/f', OLD, { parent_path: '/d', parent_mtime: OLD + 50 })]);
  assert.equal(view.has('/d/f'), true);
});

test('audit_skipped directory row — refreshes the flag even when the row is not newer', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [dir('/d', OLD + 10)]);
  upsert(view, 'audit', [dir('/d', OLD, { audit_skipped: true })]);
  assert.equal(node(view, '/d')?.audit_skipped, true);
  assert.equal(node(view, '/d')?.modified_time, OLD + 10);
  upsert(view, 'audit', [dir('/d', OLD + 10)]);
  assert.equal(node(view, '/d')?.audit_skipped, false);
});

test('tombstone gate — blocks every source whose mtime is not newer than the delete (rule 1)', () => {
  const { view, clock } = makeView();
  upsert(view, 'realtime', [file('/f', T0 - 10)]); // skew sample 10 s
  remove(view, 'realtime', ['/f']); // tombstone logical ts = watermark = T0 − 10
  clock.advance(1);
  for (const source of ['snapshot', 'audit', 'on_demand_job', 'realtime'] as const) {
    upsert(view, source, [file('/f', T0 - 10)]);
    assert.equal(view.has('/f'), false, `${source} row with an old mtime is dropped`);
  }
  assert.equal(view.stats({}).tombstone_count, 1);
});

test('tombstone gate — a newer mtime re-creates the file and drops the tombstone', () => {
  const { view, clock } = makeView();
  upsert(view, 'realtime', [file('/f', T0 - 10)]);
  remove(view, 'realtime', ['/f']);
  clock.advance(5);
  upsert(view, 'snapshot', [file('/f', T0 + 2)]);
  assert.equal(view.has('/f'), true);
  assert.equal(view.stats({}).tombstone_count, 0);
});

test('tombstone gate — a stale audit row below a deleted directory does not resurrect it', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [dir('/d', OLD), file('/d/f', OLD)]);
  remove(view, 'realtime', ['/d']);
  upsert(view, 'audit', [file('/d/f', OLD)]);
  assert.equal(view.has('/d'), false);
  upsert(view, 'realtime', [dir('/d', T0 + 1)]); // re-created
  upsert(view, 'audit', [file('/d/g', OLD)]);
  assert.equal(view.has('/d/g'), true);
});

test('missing parents — are created as directories (rule 6)', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/a/b/c/f.txt', OLD)]);
  assert.equal(node(view, '/a')?.content_type, 'directory');
  assert.equal(node(view, '/a/b/c')?.content_type, 'directory');
  assert.equal(view.itemCount(), 5);
});

test('type change — a file that becomes a directory replaces the node (rule 6)', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/x', OLD)]);
  upsert(view, 'snapshot', [dir('/x', OLD + 1), file('/x/child', OLD + 1)]);
  assert.equal(node(view, '/x')?.content_type, 'directory');
  assert.equal(view.has('/x/child'), true);
});

test('type change — a directory that becomes a file drops its subtree (rule 6)', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/x/a', OLD, { is_atomic_write: false }), file('/x/b', OLD)]);
  upsert(view, 'realtime', [file('/x/a', OLD, { is_atomic_write: false })]);
  upsert(view, 'realtime', [file('/x', OLD + 1)]);
  assert.equal(node(view, '/x')?.content_type, 'file');
  assert.equal(view.has('/x/a'), false);
  assert.deepEqual(view.suspectList(), [], 'suspects of the removed subtree are dropped');
  assert.equal(view.itemCount(), 2);
});

test('type change — a realtime row below a path held as a file turns the file into a directory', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/x', OLD)]);
  upsert(view, 'realtime', [file('/x/inner', OLD + 1)]);
  assert.equal(node(view, '/x')?.content_type, 'directory');
  assert.equal(view.has('/x/inner'), true);
});

test('root — / is never deleted, by any source', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/f', OLD)]);
  remove(view, 'realtime', ['/']);
  remove(view, 'audit', ['/']);
  assert.equal(view.has('/'), true);
  assert.equal(view.has('/f'), true);
});

test('max_nodes — refuses new nodes, still updates existing ones, reports refusals in stats', () => {
  const { view } = makeView({ maxNodes: 3 });
  upsert(view, 'snapshot', [file('/a', OLD), file('/b', OLD), file('/c', OLD), file('/d', OLD)]);
  assert.equal(view.itemCount(), 3);
  assert.equal(view.has('/c'), false);
  upsert(view, 'realtime', [file('/a', OLD + 1, { size: 9 })]);
  assert.equal(node(view, '/a')?.size, 9);
  const stats = view.stats({});
  assert.equal(stats.max_nodes_refused, 2);
  assert.equal(stats.max_nodes, 3);
});

test('realtime delete — removes the subtree, writes a tombstone and drops suspects below (rule 7)', () => {
  const { view } = makeView();
  upsert(view, 'realtime', [file('/d/a', T0 - 1, { is_atomic_write: false }), file('/d/e/b', OLD)]);
  assert.equal(view.suspectList().length, 1);
  remove(view, 'realtime', ['/d']);
  assert.equal(view.has('/d'), false);
  assert.equal(view.itemCount(), 1);
  assert.deepEqual(view.suspectList(), []);
  assert.equal(view.stats({}).suspect_file_count, 0);
  assert.equal(view.stats({}).tombstone_count, 1);
});

test('compensating delete — removes the node and records a blind-spot deletion (rule 8)', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/f', OLD)]);
  remove(view, 'on_demand_job', ['/f']);
  assert.equal(view.has('/f'), false);
  assert.deepEqual(view.blindSpots({}).deletions, ['/f']);
  assert.equal(view.stats({}).tombstone_count, 0, 'only realtime deletes write tombstones');
});

test('compensating delete — ignored when the node mtime is newer than the evidence', () => {
  const { view, clock } = makeView();
  upsert(view, 'snapshot', [file('/f', T0 + 100)]); // mtime after the scan started
  clock.advance(1);
  remove(view, 'audit', ['/f']);
  assert.equal(view.has('/f'), true);
  upsert(view, 'snapshot', [file('/g', OLD + 10)]);
  view.applyEvent(wireEvent('delete', 'snapshot', [{ path: '/g', modified_time: OLD }]), 'snapshot', { pipeId: 'p', agentId: 'a', sourceUri: 'u' });
  assert.equal(view.has('/g'), true, 'evidence mtime carried by the row is older than the node');
});

test('compensating delete — ignored when realtime updated the node after the scan started', () => {
  const { view, clock } = makeView();
  upsert(view, 'snapshot', [file('/f', OLD)]);
  view.auditStart('pipe-a');
  clock.advance(2);
  upsert(view, 'realtime', [file('/f', OLD)]); // cp -p: old mtime, fresh update
  remove(view, 'audit', ['/f']);
  assert.equal(view.has('/f'), true);
});

test('compensating delete — ignored when the path is tombstoned', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/f', OLD)]);
  remove(view, 'realtime', ['/f']);
  upsert(view, 'realtime', [file('/f', T0 + 1)]); // re-created: tombstone dropped
  view.internals().tombstones.add('/f', T0 + 5, T0, false); // a tombstone that still stands
  remove(view, 'audit', ['/f']);
  assert.equal(view.has('/f'), true);
  assert.equal(view.blindSpots({}).deletion_count, 0);
});

test('row validation — malformed rows are rejected one by one and the rest applies', () => {
  const { view } = makeView();
  const r = upsert(view, 'snapshot', [
    file('/ok', OLD), { path: '/a/../b', size: 1, modified_time: 1, is_directory: false }, 'not a row',
    { path: '/x', size: -1, modified_time: 1, is_directory: false }, file('/ok2', OLD), { path: 'rel', size: 1, modified_time: 1, is_directory: false },
    { path: '/nan', size: 1, modified_time: Number.NaN, is_directory: false },
  ]);
  assert.equal(r.applied, 2);
  assert.equal(r.rejected, 5);
  assert.equal(r.errors.length, 5);
  assert.match(r.errors[0], /row 1: .*'\.\.'/);
  assert.equal(view.has('/ok2'), true);
  assert.equal(view.stats({}).rows_rejected, 5);
});

test('row validation — the predecessor aliases file_path and is_dir are accepted', () => {
  const { view } = makeView();
  const r = upsert(view, 'snapshot', [{ file_path: '/legacy', size: 1, modified_time: OLD, is_dir: true }]);
  assert.equal(r.applied, 1);
  assert.equal(node(view, '/legacy')?.content_type, 'directory');
  remove(view, 'realtime', []);
  const d = view.applyEvent(wireEvent('delete', 'realtime', [{ file_path: '/legacy' }]), 'realtime', { pipeId: 'p', agentId: 'a', sourceUri: 'u' });
  assert.equal(d.applied, 1);
  assert.equal(view.has('/legacy'), false);
});

test('lineage — each node records the agent and source of the last event that changed it', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/f', OLD)], { pipeId: 'p', agentId: 'agent-9', sourceUri: 'nfs://a' });
  assert.equal(node(view, '/f')?.last_agent_id, 'agent-9');
  upsert(view, 'realtime', [file('/f', OLD + 1)], { pipeId: 'p', agentId: 'agent-7', sourceUri: 'nfs://b' });
  assert.equal(node(view, '/f')?.last_agent_id, 'agent-7');
  assert.equal(node(view, '/f')?.source_uri, 'nfs://b');
});

test('agent_missing — parents created by an audit row are not known by the agent either', () => {
  const { view } = makeView();
  upsert(view, 'audit', [file('/new/dir/f', OLD)]);
  const tree = view.internals().tree;
  assert.equal(tree.hasFlag(tree.lookup('/new/dir'), FLAG_AGENT_MISSING), true);
  upsert(view, 'realtime', [file('/rt/f', OLD)]);
  assert.equal(node(view, '/rt')?.agent_missing, false);
});
