// Property test: random sequences of ensurePath / setAttrs / setFlag / removeSubtree against a
// plain Map model, then every structural and aggregate invariant is checked by brute force.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeName } from '../../protocol/paths.ts';
import {
  TreeStore, NotADirectoryError, FLAG_SUSPECT, FLAG_BLIND_SPOT, FLAG_AGENT_MISSING, FLAG_AUDIT_SKIPPED,
  type DirAggregates,
} from './tree-store.ts';

interface ModelNode { dir: boolean; size: number; mtime: number; ctime: number; lineage: number; flags: number; lastChangeAt: number }

const NAMES = ['a', 'b', 'c', 'a\udcffb', 'é'];
const FLAGS = [FLAG_SUSPECT, FLAG_BLIND_SPOT, FLAG_AGENT_MISSING, FLAG_AUDIT_SKIPPED];

// Few names and shallow paths, biased to 'a'/'b', so that operations often hit existing nodes.
const nameArb = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('a', 'b') }, { weight: 1, arbitrary: fc.constantFrom(...NAMES) });
const pathArb = fc.array(nameArb, { minLength: 1, maxLength: 4, size: 'max' }).map((s) => '/' + s.join('/'));
const opArb = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('ensure' as const), path: pathArb, dir: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('attrs' as const), path: pathArb, size: fc.nat(1000), mtime: fc.nat(50), lineage: fc.nat(2) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('flag' as const), path: pathArb, flag: fc.constantFrom(...FLAGS), on: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), path: pathArb }) },
);

const parentOf = (p: string): string => { const i = p.lastIndexOf('/'); return i <= 0 ? '/' : p.slice(0, i); };
const ancestors = (p: string): string[] => { const out: string[] = []; while (p !== '/') { p = parentOf(p); out.push(p); } return out; };

function bruteAggregates(model: Map<string, ModelNode>, dir: string): DirAggregates {
  const agg: DirAggregates = { fileCount: 0, dirCount: 0, totalSize: 0, latestMtime: 0, suspectCount: 0, blindSpotCount: 0, lastChangeAt: model.get(dir)?.lastChangeAt ?? 0 };
  const prefix = dir === '/' ? '/' : dir + '/';
  for (const [p, n] of model) {
    if (p === '/' || !p.startsWith(prefix)) continue;
    if (n.dir) agg.dirCount++;
    else { agg.fileCount++; agg.totalSize += n.size; if (n.flags & FLAG_SUSPECT) agg.suspectCount++; }
    if (n.flags & FLAG_BLIND_SPOT) agg.blindSpotCount++;
    agg.latestMtime = Math.max(agg.latestMtime, n.mtime);
  }
  return agg;
}

function checkTree(t: TreeStore, model: Map<string, ModelNode>, maxId: number): void {
  const reachable = new Set<number>();
  t.walk(0, (id) => { reachable.add(id); });
  assert.equal(reachable.size, t.liveCount, 'every live node is reachable');
  for (let id = 0; id <= maxId; id++) if (t.exists(id)) assert.ok(reachable.has(id), `orphan ${id}`);
  assert.equal(t.liveCount, model.size);
  let named = 0;
  for (const id of reachable) {
    const p = t.path(id);
    assert.equal(t.lookup(p), id, `lookup(path(${id}))`);
    const m = model.get(p);
    assert.ok(m !== undefined, `unexpected ${p}`);
    assert.equal(t.isDirectory(id), m.dir);
    assert.equal(t.size(id), m.size);
    assert.equal(t.mtime(id), m.mtime);
    assert.equal(t.flags(id) & ~1, m.flags);
    if (id !== 0) assert.ok([...t.nodesNamed(t.name(id))].includes(id));
    if (m.dir) {
      assert.deepEqual(t.aggregates(id), bruteAggregates(model, p), `aggregates of ${p}`);
      const kids = [...t.children(id)];
      assert.equal(t.childCount(id), kids.length);
      const sortedKids = [...t.sortedChildren(id)];
      assert.deepEqual([...sortedKids].sort(), [...kids].sort(), 'sortedChildren has the children');
      const bytes = sortedKids.map((c) => Buffer.from(encodeName(t.name(c))));
      for (let i = 1; i < bytes.length; i++) assert.ok(Buffer.compare(bytes[i - 1], bytes[i]) < 0, 'sorted by name bytes');
    }
  }
  for (const [, name] of t.distinctNames()) named += [...t.nodesNamed(name)].length;
  assert.equal(named, t.liveCount - 1, 'name chains cover every node but the root');
}

test('property: random mutations keep aggregates, reachability and lookup(path(id)) right', () => {
  fc.assert(fc.property(fc.array(opArb, { minLength: 5, maxLength: 80, size: 'max' }), fc.boolean(), (ops, listEarly) => {
    const t = new TreeStore({ initialCapacity: 16 });
    const lineages = [0, t.internLineage('x', 'y'), t.internLineage('z', 'w')];
    const model = new Map<string, ModelNode>([['/', { dir: true, size: 0, mtime: 0, ctime: 0, lineage: 0, flags: 0, lastChangeAt: 0 }]]);
    const touch = (p: string, now: number): void => {
      for (const a of ancestors(p)) { const n = model.get(a); if (n && now > n.lastChangeAt) n.lastChangeAt = now; }
    };
    let maxId = 0;
    ops.forEach((o, step) => {
      const now = step % 7 === 3 ? 1 : step + 10; // sometimes an older `now`: lastChangeAt must not go back
      if (listEarly) for (const p of model.keys()) if (model.get(p)?.dir) t.sortedChildren(t.lookup(p));
      if (o.op === 'ensure') {
        const created: number[] = [];
        let id: number;
        try { id = t.ensurePath(o.path, o.dir, now, (c) => created.push(c)); } catch (e) {
          assert.ok(e instanceof NotADirectoryError);
          assert.ok(ancestors(o.path).some((a) => model.get(a)?.dir === false));
          return;
        }
        const missing = [...ancestors(o.path).reverse(), o.path].filter((p) => p !== '/' && !model.has(p));
        assert.deepEqual(created.map((c) => t.path(c)), missing);
        for (const p of missing) {
          model.set(p, { dir: p === o.path ? o.dir : true, size: 0, mtime: 0, ctime: 0, lineage: 0, flags: 0, lastChangeAt: 0 });
          touch(p, now);
        }
        maxId = Math.max(maxId, id);
        return;
      }
      const id = t.lookup(o.path);
      const m = model.get(o.path);
      assert.equal(id >= 0, m !== undefined);
      if (m === undefined) return;
      if (o.op === 'attrs') {
        const lineage = lineages[o.lineage];
        t.setAttrs(id, o.size, o.mtime, o.mtime + 1, lineage, now);
        if (m.size !== o.size || m.mtime !== o.mtime || m.ctime !== o.mtime + 1 || m.lineage !== lineage) touch(o.path, now);
        Object.assign(m, { size: o.size, mtime: o.mtime, ctime: o.mtime + 1, lineage });
        assert.equal(t.lineage(id).agentId, ['', 'x', 'z'][o.lineage]);
      } else if (o.op === 'flag') {
        t.setFlag(id, o.flag, o.on, now);
        const flags = o.on ? m.flags | o.flag : m.flags & ~o.flag;
        if (flags !== m.flags) touch(o.path, now);
        m.flags = flags;
      } else {
        const visited: string[] = [];
        const n = t.removeSubtree(id, now, (v) => visited.push(t.path(v)));
        if (o.path === '/') { assert.equal(n, 0); return; }
        const gone = [...model.keys()].filter((p) => p === o.path || p.startsWith(o.path + '/'));
        assert.equal(n, gone.length);
        assert.deepEqual(visited.sort(), gone.sort());
        for (const p of gone) model.delete(p);
        touch(o.path, now);
      }
    });
    checkTree(t, model, maxId + 64);
  }), { numRuns: 300 });
});
