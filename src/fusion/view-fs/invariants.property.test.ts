/**
 * Property: after any sequence of batches from any sources (upserts, deletes, type changes, audits,
 * session starts, sentinel feedback, sweeps, time passing), every directory's aggregates equal a
 * recomputation from the tree, no node is orphaned, and the suspect list and blind-spot marks agree
 * with the tree's flags.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { MessageSource } from '../../protocol/index.ts';
import { FLAG_BLIND_SPOT, FLAG_SUSPECT } from '../tree/tree-store.ts';
import type { FsView } from './fs-view.ts';
import { T0, makeView, remove, upsert } from './testing.ts';

const SOURCES: MessageSource[] = ['realtime', 'snapshot', 'audit', 'on_demand_job'];
const pathArb = fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 3 }).map((s) => `/${s.join('/')}`);
const rowArb = fc.record({
  path: pathArb,
  dir: fc.boolean(),
  size: fc.nat({ max: 1000 }),
  age: fc.integer({ min: -20, max: 100 }), // seconds before the wall clock (negative: future mtime)
  atomic: fc.option(fc.boolean(), { nil: undefined }),
  skipped: fc.boolean(),
});

interface RowSpec { path: string; dir: boolean; size: number; age: number; atomic: boolean | undefined; skipped: boolean }
type Command =
  | { kind: 'upsert'; source: MessageSource; rows: RowSpec[] }
  | { kind: 'delete'; source: MessageSource; paths: string[] }
  | { kind: 'auditStart' } | { kind: 'auditEnd' } | { kind: 'session' } | { kind: 'tick' }
  | { kind: 'advance'; seconds: number }
  | { kind: 'sentinel'; path: string; missing: boolean; age: number };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('upsert' as const), source: fc.constantFrom(...SOURCES), rows: fc.array(rowArb, { maxLength: 6 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), source: fc.constantFrom(...SOURCES), paths: fc.array(pathArb, { maxLength: 3 }) }) },
  fc.constant({ kind: 'auditStart' as const }),
  fc.constant({ kind: 'auditEnd' as const }),
  fc.constant({ kind: 'session' as const }),
  fc.constant({ kind: 'tick' as const }),
  fc.record({ kind: fc.constant('advance' as const), seconds: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('sentinel' as const), path: pathArb, missing: fc.boolean(), age: fc.integer({ min: 0, max: 60 }) }),
);

function run(view: FsView, clock: { t: number; advance(s: number): void }, cmd: Command): void {
  switch (cmd.kind) {
    case 'upsert':
      upsert(view, cmd.source, cmd.rows.map((r) => ({
        path: r.path, size: r.size, modified_time: clock.t - r.age, is_directory: r.dir,
        ...(r.atomic === undefined ? {} : { is_atomic_write: r.atomic }),
        ...(r.dir && r.skipped ? { audit_skipped: true } : {}),
      })));
      break;
    case 'delete': remove(view, cmd.source, cmd.paths); break;
    case 'auditStart': view.auditStart('p'); break;
    case 'auditEnd': view.auditEnd('p'); break;
    case 'session': view.sessionStart('p'); break;
    case 'tick': view.tick(); break;
    case 'advance': clock.advance(cmd.seconds); break;
    case 'sentinel':
      view.sentinelTasks();
      view.sentinelFeedback([cmd.missing ? { path: cmd.path, status: 'missing' } : { path: cmd.path, mtime: clock.t - cmd.age, status: 'exists' }]);
      break;
  }
}

function checkInvariants(view: FsView): void {
  const s = view.internals();
  const tree = s.tree;
  let reached = 0;
  const suspectPaths = new Set<string>();
  tree.walk(tree.root, (id) => {
    reached++;
    const path = tree.path(id);
    assert.equal(tree.lookup(path), id, `lookup(${path})`);
    if (id !== tree.root) assert.ok(tree.exists(tree.parent(id)) && tree.isDirectory(tree.parent(id)), `parent of ${path}`);
    if (tree.hasFlag(id, FLAG_SUSPECT)) {
      assert.ok(!tree.isDirectory(id), `directory ${path} is not suspect`);
      suspectPaths.add(path);
    }
    if (tree.hasFlag(id, FLAG_BLIND_SPOT)) assert.ok(!tree.isDirectory(id), `directory ${path} is not a blind-spot addition`);
    if (!tree.isDirectory(id)) return;
    // Recompute the aggregates below this directory.
    let files = 0, dirs = 0, size = 0, latest = 0, suspects = 0, blind = 0;
    tree.walk(id, (n) => {
      if (n === id) return;
      if (tree.isDirectory(n)) dirs++; else { files++; size += tree.size(n); }
      if (tree.mtime(n) > latest) latest = tree.mtime(n);
      if (tree.hasFlag(n, FLAG_SUSPECT) && !tree.isDirectory(n)) suspects++;
      if (tree.hasFlag(n, FLAG_BLIND_SPOT)) blind++;
    });
    const a = tree.aggregates(id);
    assert.deepEqual(
      { files: a.fileCount, dirs: a.dirCount, size: a.totalSize, latest: a.latestMtime, suspects: a.suspectCount, blind: a.blindSpotCount },
      { files, dirs, size, latest, suspects, blind }, `aggregates of ${path}`);
  });
  assert.equal(reached, tree.liveCount, 'every live node is reachable from the root');
  assert.deepEqual(new Set(s.suspects.paths()), suspectPaths, 'suspect list = nodes flagged suspect');
  assert.equal(view.stats({}).suspect_file_count, suspectPaths.size);
}

test('property — aggregates match a recomputation and nothing is orphaned, whatever the batches', () => {
  fc.assert(fc.property(fc.array(commandArb, { maxLength: 40 }), (cmds) => {
    const { view, clock } = makeView({ hotFileThreshold: 30, tombstoneTtlSeconds: 50, auditIntervalSec: 60 });
    clock.t = T0;
    for (const cmd of cmds) {
      run(view, clock, cmd);
      checkInvariants(view);
    }
  }), { numRuns: 300 });
});
