// Memory test: 1,000,000 files in the upload layout must cost <= 120 B per node, names and indexes
// included. Runs in ~2-5 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TreeStore } from './tree-store.ts';

/** global.gc when node runs with --expose-gc, else enable it at runtime (works on Node 20). */
function getGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function uuid(i: number): string {
  const h = (k: number): string => (Math.imul(i + 1, 0x9e3779b1 + k * 0x1234567) >>> 0).toString(16).padStart(8, '0');
  const s = h(0) + h(1) + h(2) + h(3);
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

test('memory: 1 M entries in /upload/submit/c/c/{uuid}/sub_n/data_nnnn.dat cost <= 120 B/node', (t) => {
  const gc = getGc();
  gc(); gc();
  const before = process.memoryUsage();
  const tree = new TreeStore();
  const lineage = tree.internLineage('agent-1', 'nfs://filer/upload');
  let files = 0;
  for (let u = 0; u < 1000; u++) {
    const dir = `/upload/submit/c${(u % 10) + 1}/c${(Math.floor(u / 10) % 10) + 1}/${uuid(u)}`;
    for (let sub = 0; sub < 4; sub++) {
      for (let f = 0; f < 250; f++) {
        const id = tree.ensurePath(`${dir}/sub_${sub}/data_${String(f).padStart(4, '0')}.dat`, false, 1000);
        tree.setAttrs(id, f * 1000, 900 + f, 900 + f, lineage, 1000);
        files++;
      }
    }
  }
  gc(); gc();
  const after = process.memoryUsage();
  const stats = tree.memoryStats();
  const nodes = tree.liveCount;
  const rssPerNode = (after.rss - before.rss) / nodes;
  const buffersPerNode = (after.arrayBuffers - before.arrayBuffers) / nodes;
  t.diagnostic(`${files} files, ${nodes} nodes: store ${stats.bytesPerNode.toFixed(1)} B/node (capacity ${stats.capacity}),`
    + ` arrayBuffers growth ${buffersPerNode.toFixed(1)} B/node, RSS growth ${rssPerNode.toFixed(1)} B/node`);

  assert.equal(files, 1_000_000);
  assert.equal(nodes, 1 + 1 + 1 + 10 + 100 + 1000 + 4000 + 1_000_000);
  assert.ok(stats.bytesPerNode <= 120, `store ${stats.bytesPerNode} B/node`);
  // The store's own accounting matches what V8 sees (typed arrays live in ArrayBuffers).
  assert.ok(buffersPerNode <= 120, `arrayBuffers ${buffersPerNode} B/node`);
  assert.ok(Math.abs(buffersPerNode - stats.bytesPerNode) < 5);
  const agg = tree.aggregates(tree.lookup('/upload/submit'));
  assert.equal(agg.fileCount, 1_000_000);
  assert.equal(agg.dirCount, 10 + 100 + 1000 + 4000);
  assert.equal(agg.latestMtime, 900 + 249);
  assert.equal(tree.path(tree.lookup(`/upload/submit/c1/c1/${uuid(0)}/sub_3/data_0249.dat`)), `/upload/submit/c1/c1/${uuid(0)}/sub_3/data_0249.dat`);
});
