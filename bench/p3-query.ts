/**
 * P3 — query latency on the loaded view: `/tree` of one submission directory (the directory and its 1,004
 * nodes) and `/stats` of random directories, 20 concurrent keep-alive clients. Target p99 ≤ 5 ms.
 * Latency is measured by the client from sending the request to the last byte of the answer; the clients
 * run in the benchmark process, on the same machine as the gateway.
 *
 * The gateway caches `/tree` answers (src/fusion/view-fs/tree-cache.ts), so the one-submission rounds are
 * cache hits after the first request. The "cold" rounds ask for a different submission on every request,
 * cycling through all of them in order: with more submissions than the cache holds (64 MiB ≈ 200 answers of
 * 300 KiB) every request is a miss — the worst case, serialisation on every answer.
 */
import type { Benchmark } from './lib/context.ts';
import { HttpClient } from './lib/http.ts';
import type { Layout } from './lib/layout.ts';
import { int, median, ms, percentile } from './lib/report.ts';
import { seededRandom } from '../src/kernel/seeded-random.ts';

const TARGET_P99_MS = 5;
const CLIENTS = 20;
const REQUESTS_PER_CLIENT = 100;

/** Small deterministic PRNG (kernel's mulberry32). */
export const prng = seededRandom;

/** Every directory of the layout below /upload/submit, by index: buckets, submissions, sub-directories. */
function randomDirectory(layout: Layout, rnd: () => number): string {
  const i = Math.floor(rnd() * layout.opts.submissions);
  const pick = rnd();
  if (pick < 0.1) return layout.bucketPath(i);
  if (pick < 0.4) return layout.submissionPath(i);
  return `${layout.submissionPath(i)}/sub_${Math.floor(rnd() * layout.opts.subdirs)}`;
}

interface Round {
  p50: number;
  p99: number;
  max: number;
  requests: number;
  errors: number;
  seconds: number;
}

/** `CLIENTS` clients, each on its own keep-alive connection, each sending `perClient` requests back to back. */
async function round(url: string, key: string, path: (client: number, i: number) => string, perClient: number, clients = CLIENTS): Promise<Round> {
  const latencies: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    const http = new HttpClient(url, { 'x-api-key': key }, { maxSockets: 1 });
    try {
      for (let i = 0; i < perClient; i++) {
        const start = performance.now();
        const res = await http.request('GET', path(c, i));
        latencies.push(performance.now() - start);
        if (res.status !== 200) errors++;
      }
    } finally {
      http.close();
    }
  }));
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.max(...latencies), requests: latencies.length, errors, seconds: (performance.now() - t0) / 1000 };
}

export const p3: Benchmark = {
  name: 'p3',
  title: 'P3 /tree of a submission and /stats of random directories, 20 concurrent clients',
  async run(ctx) {
    const { gateway, layout, query } = await ctx.loadedView();
    const base = `/api/v1/views/${gateway.view}`;
    const submission = layout.submissionPath(Math.floor(layout.opts.submissions / 2));
    const treePath = `${base}/tree?path=${encodeURIComponent(submission)}`;
    // Sanity: the answer is the whole submission.
    const treeText = (await query.request('GET', treePath)).text;
    const treeBytes = Buffer.byteLength(treeText);
    const tree = JSON.parse(treeText) as { children?: unknown[] };
    const count = (n: { children?: unknown[] }): number => 1 + (n.children ?? []).reduce<number>((s, c) => s + count(c as { children?: unknown[] }), 0);
    const nodes = count(tree);
    if (nodes !== layout.submissionNodes + 1) throw new Error(`/tree of ${submission} returned ${nodes} nodes, expected ${layout.submissionNodes + 1}`);

    const rnd = prng(7);
    const statsPath = () => `${base}/stats?path=${encodeURIComponent(randomDirectory(layout, rnd))}`;
    await round(gateway.url, gateway.queryKey, () => treePath, 10); // warm-up
    await round(gateway.url, gateway.queryKey, statsPath, 10);
    let next = 0;
    const coldPath = () => `${base}/tree?path=${encodeURIComponent(layout.submissionPath(next++ % layout.opts.submissions))}`;
    const cacheStats = async () => (JSON.parse((await query.request('GET', `${base}/stats`)).text) as { tree_cache?: Record<string, number> }).tree_cache;
    const cacheBefore = await cacheStats();
    const trees: Round[] = [];
    const stats: Round[] = [];
    const colds: Round[] = [];
    for (let r = 0; r < ctx.args.repeats; r++) {
      trees.push(await round(gateway.url, gateway.queryKey, () => treePath, REQUESTS_PER_CLIENT));
      stats.push(await round(gateway.url, gateway.queryKey, statsPath, REQUESTS_PER_CLIENT));
      colds.push(await round(gateway.url, gateway.queryKey, coldPath, REQUESTS_PER_CLIENT));
      process.stderr.write(`  p3 round ${r + 1}/${ctx.args.repeats}: tree p99 ${ms(trees[r].p99)}, stats p99 ${ms(stats[r].p99)}, cold tree p99 ${ms(colds[r].p99)}\n`);
    }
    const cacheAfter = await cacheStats();
    const summary = (rs: Round[]) => ({
      p50: median(rs.map((x) => x.p50)),
      p99: median(rs.map((x) => x.p99)),
      max: Math.max(...rs.map((x) => x.max)),
      rps: median(rs.map((x) => x.requests / x.seconds)),
      errors: rs.reduce((n, x) => n + x.errors, 0),
    });
    // Service time without queueing: one client, requests back to back.
    const single = await round(gateway.url, gateway.queryKey, () => treePath, 200, 1);
    const singleCold = await round(gateway.url, gateway.queryKey, coldPath, 200, 1);
    const t = summary(trees);
    const s = summary(stats);
    const c = summary(colds);
    const cache = cacheBefore !== undefined && cacheAfter !== undefined
      ? `${int(cacheAfter.hits - cacheBefore.hits)} hits, ${int(cacheAfter.misses - cacheBefore.misses)} misses, ${int(cacheAfter.evictions - cacheBefore.evictions)} evictions (${int(cacheAfter.entries)} entries, ${int(cacheAfter.bytes / 1048576)} MiB at the end)`
      : 'no tree_cache in /stats';
    return {
      rows: [
        ['view entries', int(layout.entryCount)],
        ['clients × requests per round', `${CLIENTS} × ${REQUESTS_PER_CLIENT}, ${ctx.args.repeats} rounds`],
        [`/tree (${nodes} nodes, ${int(treeBytes / 1024)} KiB) p50 / p99`, `${ms(t.p50)} / ${ms(t.p99)}  (max ${ms(t.max)}, ${int(t.rps)} req/s)`],
        ['/stats p50 / p99', `${ms(s.p50)} / ${ms(s.p99)}  (max ${ms(s.max)}, ${int(s.rps)} req/s)`],
        ['/tree cold: a different submission each request, p50 / p99', `${ms(c.p50)} / ${ms(c.p99)}  (max ${ms(c.max)}, ${int(c.rps)} req/s)`],
        ['/tree cache over the measured rounds', cache],
        ['/tree with 1 client (service time) p50 / p99', `${ms(single.p50)} / ${ms(single.p99)}`],
        ['/tree cold with 1 client (service time) p50 / p99', `${ms(singleCold.p50)} / ${ms(singleCold.p99)}`],
        ['non-200 answers', String(t.errors + s.errors + c.errors)],
      ],
      targets: [
        { id: 'P3', what: '/tree of a submission, p99', target: `≤ ${TARGET_P99_MS} ms`, measured: ms(t.p99), met: t.p99 <= TARGET_P99_MS && t.errors === 0 },
        { id: 'P3', what: '/stats of a directory, p99', target: `≤ ${TARGET_P99_MS} ms`, measured: ms(s.p99), met: s.p99 <= TARGET_P99_MS && s.errors === 0 },
        { id: 'P3', what: '/tree, a different submission each request (cache-cold), p99', target: `≤ ${TARGET_P99_MS} ms`, measured: ms(c.p99), met: c.p99 <= TARGET_P99_MS && c.errors === 0 },
      ],
      data: { entries: layout.entryCount, clients: CLIENTS, requests_per_client: REQUESTS_PER_CLIENT, tree_nodes: nodes, tree_bytes: treeBytes, tree: { ...t, rounds: trees }, stats: { ...s, rounds: stats }, tree_cold: { ...c, rounds: colds }, tree_cache: { before: cacheBefore, after: cacheAfter }, tree_single_client: single, tree_cold_single_client: singleCold },
      notes: ['p50/p99 are medians over rounds of per-round percentiles; latencies are client-side (send → last byte), clients on the same 2-core machine as the gateway'],
    };
  },
};
