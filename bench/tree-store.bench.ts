/**
 * Tree store benchmark (standalone):
 *   node --expose-gc --import tsx bench/tree-store.bench.ts [N]     (default N = 1,000,000)
 *
 * Builds N file entries in the layout
 *   /upload/submit/c{1..10}/c{1..10}/{uuid}/sub_{0..3}/data_{0000..0249}.dat   (N / 1000 uuids)
 * with one upsert per file (ensurePath + setAttrs), then measures lookups in build order (parent
 * cache hits), lookups in random order, and a 4-level upsert workload (/d{i}/d{j}/d{k}/f{l}).
 * Paths are generated in untimed batches so that only the store is timed.
 * Prints upserts/s, lookups/s and bytes/entry (RSS growth / entries, plus the store's own count).
 */
import { getHeapSpaceStatistics } from 'node:v8';
import { TreeStore } from '../src/fusion/tree/tree-store.ts';

const N = Number(process.argv[2] ?? 1_000_000);
const BATCH = 1 << 12;
const gc = (globalThis as { gc?: () => void }).gc;
const settle = (): void => { if (gc) { gc(); gc(); } };

/** Deterministic uuid-looking name for index i. */
function uuid(i: number): string {
  let x = Math.imul(i + 1, 0x9e3779b1) >>> 0;
  let s = '';
  for (let k = 0; k < 32; k++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    s += (x & 15).toString(16);
    if (k === 7 || k === 11 || k === 15 || k === 19) s += '-';
  }
  return s;
}

const uuids: string[] = [];
function layoutPath(i: number): string {
  const file = i % 250;
  const sub = Math.floor(i / 250) % 4;
  const u = Math.floor(i / 1000);
  const c1 = (u % 10) + 1;
  const c2 = (Math.floor(u / 10) % 10) + 1;
  uuids[u] ??= uuid(u);
  return `/upload/submit/c${c1}/c${c2}/${uuids[u]}/sub_${sub}/data_${String(file).padStart(4, '0')}.dat`;
}

function timeBatches(n: number, make: (i: number) => string, run: (paths: string[]) => void): number {
  let elapsed = 0;
  const paths: string[] = new Array(Math.min(BATCH, n));
  for (let start = 0; start < n; start += BATCH) {
    const len = Math.min(BATCH, n - start);
    paths.length = len;
    for (let k = 0; k < len; k++) paths[k] = make(start + k);
    const t0 = process.hrtime.bigint();
    run(paths);
    elapsed += Number(process.hrtime.bigint() - t0) / 1e9;
  }
  return elapsed;
}

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
const mb = (x: number): string => (x / 1048576).toFixed(1) + ' MB';

// V8 grows its young generation (semi-spaces, up to ~2 x 16 MB) under the benchmark's allocation
// rate of short-lived path strings, and a full GC does not shrink it back. That is not the store's
// memory, so it is reported and subtracted separately.
const newSpace = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
settle();
const before = process.memoryUsage();
const newSpaceBefore = newSpace();
const tree = new TreeStore();
const lineage = tree.internLineage('agent-1', 'nfs://filer/upload');
let now = 1_700_000_000;

const upsertSecs = timeBatches(N, layoutPath, (paths) => {
  for (let k = 0; k < paths.length; k++) {
    const id = tree.ensurePath(paths[k], false, now);
    tree.setAttrs(id, 4096 + k, now - 100, now - 100, lineage, now);
    now += 0.000001;
  }
});
uuids.length = 0;
settle();
const after = process.memoryUsage();
const stats = tree.memoryStats();
console.log(`entries ${fmt(N)} files, ${fmt(tree.liveCount)} nodes, capacity ${fmt(stats.capacity)}, ${fmt(stats.distinctNames)} distinct names`);
console.log(`upserts (layout, 7-8 levels):  ${fmt(N / upsertSecs)} /s   (${upsertSecs.toFixed(2)} s)`);
const rssGrowth = after.rss - before.rss;
const youngGrowth = newSpace() - newSpaceBefore;
const perEntry = (bytes: number): string => `${(bytes / tree.liveCount).toFixed(1)} B/entry`;
console.log(`bytes/entry:  RSS growth ${mb(rssGrowth)} = ${perEntry(rssGrowth)};`
  + ` without V8 young-generation growth (${mb(youngGrowth)}): ${perEntry(rssGrowth - youngGrowth)};`
  + ` heapUsed+arrayBuffers growth ${perEntry((after.heapUsed + after.arrayBuffers) - (before.heapUsed + before.arrayBuffers))};`
  + ` store's own count ${stats.bytesPerNode.toFixed(1)} B/node (${mb(stats.bytes)})`
  + (gc ? '' : '  (run with --expose-gc for stable numbers)'));

let found = 0;
const seqSecs = timeBatches(N, layoutPath, (paths) => {
  for (let k = 0; k < paths.length; k++) if (tree.lookup(paths[k]) >= 0) found++;
});
uuids.length = 0;
console.log(`lookups (build order):         ${fmt(N / seqSecs)} /s`);

let seed = 12345;
const rnd = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed; };
const randSecs = timeBatches(N, () => layoutPath(rnd() % N), (paths) => {
  for (let k = 0; k < paths.length; k++) if (tree.lookup(paths[k]) >= 0) found++;
});
console.log(`lookups (random order):        ${fmt(N / randSecs)} /s`);
if (found !== 2 * N) throw new Error(`lookup mismatch: ${found} != ${2 * N}`);

// Small 4-level paths, random order, in a fresh tree: /d{0..99}/d{0..99}/d{0..9}/f{...}
tree.clear();
const M = Math.min(N, 1_000_000);
const fourLevel = (i: number): string => { const h = Math.imul(i, 0x9e3779b1) >>> 0; return `/d${h % 100}/d${(h >>> 8) % 100}/d${(h >>> 16) % 10}/f${i}`; };
const fourSecs = timeBatches(M, fourLevel, (paths) => {
  for (let k = 0; k < paths.length; k++) {
    const id = tree.ensurePath(paths[k], false, now);
    tree.setAttrs(id, k, now, now, lineage, now);
  }
});
console.log(`upserts (4 levels, random dirs): ${fmt(M / fourSecs)} /s  (${fmt(tree.liveCount)} nodes)`);
const fourUpdSecs = timeBatches(M, fourLevel, (paths) => {
  for (let k = 0; k < paths.length; k++) {
    const id = tree.ensurePath(paths[k], false, now);
    tree.setAttrs(id, k + 1, now + 1, now, lineage, now + 1);
  }
});
console.log(`upserts (4 levels, existing):    ${fmt(M / fourUpdSecs)} /s`);
