/**
 * P6 — freshness: a file closed on disk → visible in the view. Target p99 ≤ 250 ms.
 *
 * A real agent process watches the 1 M-file layout on disk (bench/lib/make-tree.ts) and pushes it to a real
 * gateway process; once the view is ready, a directory ROOT/p6-freshness is created and awaited in the view.
 * Then, per round, a separate writer process (plain `node -e`) creates 1,000 files there at a steady 50 files/s,
 * each opened, written (a size derived from its number) and closed; it prints the CLOCK_MONOTONIC time
 * right after each close. Meanwhile the bench process polls `/changes?since=CURSOR&path=/p6-freshness` every
 * 5 ms over a keep-alive connection and records, on receipt of an answer, the first time each path shows up
 * with its final size. Latency = first seen − closed (both on the machine-wide monotonic clock, so the
 * processes need no clock agreement); the poll adds up to one interval plus one request to each sample, so
 * the figures are an upper bound. Percentiles over every file of every round (3 rounds by default).
 * The directory is removed at the end.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { ChangesResult, FsNode } from '../src/protocol/index.ts';
import { startAgent } from './lib/agent-process.ts';
import type { Benchmark } from './lib/context.ts';
import { startGateway } from './lib/gateway-process.ts';
import { HttpClient } from './lib/http.ts';
import { waitReady } from './lib/ingest-client.ts';
import { ensureTree } from './lib/make-tree.ts';
import { int, median, ms, percentile } from './lib/report.ts';

/** Directory below the tree's root that P6 writes into (and removes). */
export const P6_DIR = 'p6-freshness';
const TARGET_P99_MS = 250;
const FILES_PER_ROUND = 1000;
const RATE_PER_S = 50;
const MAX_ROUNDS = 3;
const POLL_MS = 5;
/** After the writer is done, files not seen within this long count as missing. */
const GRACE_MS = 10_000;

/** Bytes written to file i (the poller waits for the final size). The writer below repeats the formula. */
const sizeOf = (i: number) => 1 + ((i * 7919) % 4093);

/** The writer process: one file every 1/rate s, on schedule; prints `i monotonic-ns` after each close. */
const WRITER = `
const fs = require('node:fs');
const path = require('node:path');
const [dir, prefix, count, rate] = process.argv.slice(1);
const n = Number(count);
const interval = 1000 / Number(rate);
const sizeOf = (i) => 1 + ((i * 7919) % 4093);
const start = performance.now() + 50;
let i = 0;
function step() {
  while (i < n && performance.now() >= start + i * interval) {
    const fd = fs.openSync(path.join(dir, prefix + i + '.dat'), 'w');
    fs.writeSync(fd, Buffer.alloc(sizeOf(i), 120));
    fs.closeSync(fd);
    const t = process.hrtime.bigint();
    process.stdout.write(i + ' ' + t + '\\n');
    i++;
  }
  if (i < n) setTimeout(step, Math.max(0, start + i * interval - performance.now()));
}
step();
`;

interface Round {
  files: number;
  seen: number;
  missing: string[];
  latencies_ms: number[];
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  writer_s: number;
  polls: number;
  poll_rtt_median_ms: number;
}

const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

async function runRound(query: HttpClient, base: string, dir: string, round: number): Promise<Round> {
  const scope = `/${P6_DIR}`;
  const prefix = `r${round}-`;
  let cursor = (await query.json<ChangesResult>('GET', `${base}/changes?since=now`)).cursor;
  const closed = new Map<string, bigint>();
  const seen = new Map<string, bigint>();
  const writerStart = performance.now();
  const writer = spawn(process.execPath, ['-e', WRITER, dir, prefix, String(FILES_PER_ROUND), String(RATE_PER_S)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buffered = '';
  writer.stdout.setEncoding('utf8');
  writer.stdout.on('data', (d: string) => {
    buffered += d;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      const [i, t] = line.split(' ');
      closed.set(`${scope}/${prefix}${i}.dat`, BigInt(t));
    }
  });
  let writerDoneAt: number | null = null;
  let writerCode: number | null = null;
  writer.once('close', (code) => {
    writerCode = code;
    writerDoneAt = performance.now();
  });
  const rtts: number[] = [];
  const expectedSize = (path: string): number => sizeOf(Number(path.slice(scope.length + 1 + prefix.length, -'.dat'.length)));
  for (;;) {
    const t0 = performance.now();
    const res = await query.request('GET', `${base}/changes?since=${encodeURIComponent(cursor)}&path=${encodeURIComponent(scope)}&limit=10000`);
    const at = process.hrtime.bigint();
    rtts.push(performance.now() - t0);
    if (res.status !== 200) throw new Error(`/changes answered ${res.status}: ${res.text.slice(0, 200)}`);
    const body = JSON.parse(res.text) as ChangesResult;
    if (body.fresh_instance === true) throw new Error('/changes answered fresh_instance: the view was reset during P6');
    for (const c of body.changes) {
      if (c.op !== 'upsert' || seen.has(c.path) || !c.path.startsWith(`${scope}/${prefix}`)) continue;
      if (c.node?.size === expectedSize(c.path)) seen.set(c.path, at);
    }
    cursor = body.cursor;
    if (writerDoneAt !== null && (seen.size >= FILES_PER_ROUND || performance.now() - writerDoneAt > GRACE_MS)) break;
    await sleep(POLL_MS);
  }
  if (writerCode !== 0) throw new Error(`the writer process exited with ${writerCode}`);
  const latencies: number[] = [];
  const missing: string[] = [];
  for (const [path, t] of closed) {
    const s = seen.get(path);
    if (s === undefined) missing.push(path);
    else latencies.push(Number(s - t) / 1e6);
  }
  return {
    files: closed.size, seen: latencies.length, missing, latencies_ms: latencies,
    p50_ms: percentile(latencies, 50), p99_ms: percentile(latencies, 99), max_ms: Math.max(...latencies),
    writer_s: ((writerDoneAt ?? performance.now()) - writerStart) / 1000, polls: rtts.length, poll_rtt_median_ms: median(rtts),
  };
}

export const p6: Benchmark = {
  name: 'p6',
  title: 'P6 freshness: file closed on disk → visible in the view',
  async run(ctx) {
    const layout = ctx.layout;
    const { root } = await ensureTree(layout, { log: (s) => process.stderr.write(`  ${s}\n`) });
    const dir = join(root, P6_DIR);
    rmSync(dir, { recursive: true, force: true });
    const loadBefore = os.loadavg();
    const gw = await startGateway();
    const query = new HttpClient(gw.url, { 'x-api-key': gw.queryKey });
    const base = `/api/v1/views/${gw.view}`;
    const rounds: Round[] = [];
    let viewEntries: number;
    let readySeconds: number;
    let treeCount: number;
    try {
      const agent = await startAgent({ root, gatewayUrl: gw.url });
      try {
        const stats = await waitReady(query, gw.view, { timeoutMs: 240_000, intervalMs: 50 });
        readySeconds = (performance.now() - agent.spawnedAt) / 1000;
        viewEntries = Number(stats.item_count ?? NaN);
        process.stderr.write(`  view ready: ${int(viewEntries)} entries after ${readySeconds.toFixed(1)} s\n`);
        mkdirSync(dir);
        const deadline = Date.now() + 30_000;
        while ((await query.request('GET', `${base}/metadata?path=${encodeURIComponent(`/${P6_DIR}`)}`)).status !== 200) {
          if (Date.now() > deadline) throw new Error(`/${P6_DIR} did not appear in the view within 30 s`);
          await sleep(20);
        }
        await sleep(1000); // the new directory's watch is in place; what follows is the steady state
        const n = Math.min(MAX_ROUNDS, ctx.args.repeats);
        for (let r = 0; r < n; r++) {
          const round = await runRound(query, base, dir, r);
          rounds.push(round);
          process.stderr.write(`  p6 round ${r + 1}/${n}: ${round.seen}/${round.files} seen, p50 ${ms(round.p50_ms)}, p99 ${ms(round.p99_ms)}, max ${ms(round.max_ms)}`
            + ` (${round.polls} polls, median poll ${ms(round.poll_rtt_median_ms)})\n`);
        }
        const tree = await query.json<FsNode>('GET', `${base}/tree?path=${encodeURIComponent(`/${P6_DIR}`)}&max_depth=1`);
        treeCount = tree.children?.length ?? 0;
      } finally {
        await agent.stop();
      }
    } finally {
      query.close();
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    const all = rounds.flatMap((r) => r.latencies_ms);
    const missing = rounds.reduce((s, r) => s + r.missing.length, 0);
    const files = rounds.reduce((s, r) => s + r.files, 0);
    const p50 = percentile(all, 50);
    const p99 = percentile(all, 99);
    const loadAfter = os.loadavg();
    return {
      rows: [
        ['view (agent on the layout tree on disk)', `${int(viewEntries)} entries, ready ${readySeconds.toFixed(1)} s after the agent's spawn`],
        ['files written (rounds × files @ rate)', `${files} (${rounds.length} × ${FILES_PER_ROUND} @ ${RATE_PER_S}/s)`],
        ['seen / missing', `${all.length} / ${missing}`],
        ['close → visible p50', ms(p50)],
        ['close → visible p90', ms(percentile(all, 90))],
        ['close → visible p99', ms(p99)],
        ['close → visible max', ms(Math.max(...all))],
        ['p99 per round', rounds.map((r) => ms(r.p99_ms)).join(', ')],
        ['poll interval / median poll round trip', `${POLL_MS} ms / ${ms(median(rounds.map((r) => r.poll_rtt_median_ms)))}`],
        ['files in /tree of the directory at the end', `${treeCount}`],
        ['load average before / after (1 min)', `${loadBefore[0].toFixed(2)} / ${loadAfter[0].toFixed(2)}`],
      ],
      targets: [{
        id: 'P6', what: 'freshness, file closed → visible', target: `p99 ≤ ${TARGET_P99_MS} ms`,
        measured: `p99 ${ms(p99)}, p50 ${ms(p50)} over ${all.length} files${missing > 0 ? `, ${missing} never seen` : ''}`,
        met: missing === 0 && p99 <= TARGET_P99_MS,
      }],
      data: {
        root, view_entries: viewEntries, ready_seconds: readySeconds, files, seen: all.length, missing, p50_ms: p50, p90_ms: percentile(all, 90), p99_ms: p99,
        max_ms: Math.max(...all), tree_count: treeCount, poll_ms: POLL_MS, rate_per_s: RATE_PER_S, load_before: loadBefore, load_after: loadAfter,
        rounds: rounds.map(({ latencies_ms, missing: m, ...r }) => ({ ...r, missing: m.slice(0, 20), latencies_ms: latencies_ms.map((x) => Math.round(x * 100) / 100) })),
      },
      notes: [
        `latency = first /changes answer showing the file with its final size − the writer's close (monotonic clock); polling every ${POLL_MS} ms makes it an upper bound`,
        'default driver_params (throttle_interval_sec 5 does not delay close_write); agent, gateway, writer and poller share the 2 cores',
        `load average (1/5/15 min) ${loadBefore.map((x) => x.toFixed(2)).join(' / ')} before, ${loadAfter.map((x) => x.toFixed(2)).join(' / ')} after`,
      ],
    };
  },
};
