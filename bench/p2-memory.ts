/**
 * P2 — gateway memory per indexed entry: RSS growth of the gateway process (VmRSS in /proc/PID/status)
 * from "started, empty view" to "layout loaded, ready, settled", divided by the entries. Target ≤ 120 B.
 *
 * Default: 1 M entries. 10 M: `npm run bench -- p2 --entries 10000000` (the bench generates the rows on the
 * fly, so it needs little memory itself; the gateway needs ~entries × bytes/entry). Entry counts above
 * `--p2-max` (default 10 M) or above what free memory can hold at 300 B/entry are refused. Results go to
 * bench/results/p2.json for the default 1 M, to p2-<entries>.json otherwise (p2-10m.json), so a 10 M run
 * does not replace the 1 M figures.
 */
import os from 'node:os';
import type { Benchmark } from './lib/context.ts';
import { startGateway, type Gateway } from './lib/gateway-process.ts';
import { HttpClient } from './lib/http.ts';
import { closeSession, layoutBodies, openSession, pushSnapshot, waitReady } from './lib/ingest-client.ts';
import { Layout, layoutForFiles } from './lib/layout.ts';
import { int, median, type TargetCheck } from './lib/report.ts';

const TARGET = 120;
const SETTLE_SECONDS = 5;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** RSS a few seconds after load, once V8's memory reducer has had a chance to return garbage. */
async function settledRss(gw: Gateway): Promise<{ rss: number; samples: number[] }> {
  const samples: number[] = [];
  for (let i = 0; i < SETTLE_SECONDS; i++) {
    await sleep(1000);
    samples.push(gw.memory().rss);
  }
  return { rss: samples[samples.length - 1], samples };
}

const short = (n: number) => (n % 1_000_000 === 0 ? `${n / 1_000_000}m` : String(n));

export const p2: Benchmark = {
  name: 'p2',
  resultName: (args) => (args.entries.length === 1 && args.entries[0] === 1_000_000 ? 'p2' : `p2-${args.entries.map(short).join('-')}`),
  title: 'P2 gateway memory per indexed entry (RSS growth ÷ entries)',
  async run(ctx) {
    const rows: [string, string][] = [];
    const targets: TargetCheck[] = [];
    const data: Record<string, unknown> = {};
    const notes: string[] = [`RSS read ${SETTLE_SECONDS} s after the view became ready; baseline = RSS of the started gateway with an empty view`];
    for (const wanted of ctx.args.entries) {
      const layout = new Layout(layoutForFiles(wanted));
      const n = layout.entryCount;
      const budget = os.freemem() / 300;
      if (wanted > ctx.args.p2Max || n > budget) {
        const why = wanted > ctx.args.p2Max ? `above --p2-max ${int(ctx.args.p2Max)}` : `free memory holds about ${int(budget)} entries at 300 B`;
        rows.push([`${int(n)} entries`, `skipped (${why})`]);
        notes.push(`${int(n)} entries skipped: ${why}; raise --p2-max or free memory`);
        continue;
      }
      const repeats = n <= 2_000_000 ? ctx.args.repeats : 1;
      const runs: { baseline_rss: number; loaded_rss: number; hwm: number; bytes_per_entry: number; load_s: number; samples: number[] }[] = [];
      for (let r = 0; r < repeats; r++) {
        const gw = await startGateway({ nodeOptions: n > 2_000_000 ? '--max-old-space-size=16384' : undefined });
        try {
          await sleep(1000);
          const baseline = gw.memory().rss;
          const ingest = new HttpClient(gw.url, { 'x-api-key': gw.receiverKey });
          const query = new HttpClient(gw.url, { 'x-api-key': gw.queryKey });
          const session = await openSession(ingest, 'bench-agent:bench-pipe');
          const t0 = performance.now();
          await pushSnapshot(ingest, session.id, layoutBodies(layout, ctx.args.batchSize), ctx.args.concurrency);
          await waitReady(query, gw.view, { minItems: n, timeoutMs: 1_800_000 });
          const loadSeconds = (performance.now() - t0) / 1000;
          const { rss, samples } = await settledRss(gw);
          const perEntry = (rss - baseline) / n;
          runs.push({ baseline_rss: baseline, loaded_rss: rss, hwm: gw.memory().hwm, bytes_per_entry: perEntry, load_s: loadSeconds, samples });
          process.stderr.write(`  p2 ${int(n)} run ${r + 1}/${repeats}: ${perEntry.toFixed(1)} B/entry (RSS ${int(baseline / 2 ** 20)} → ${int(rss / 2 ** 20)} MiB)\n`);
          await closeSession(ingest, session);
          ingest.close();
          query.close();
        } finally {
          await gw.stop();
        }
      }
      const perEntry = median(runs.map((x) => x.bytes_per_entry));
      const label = `${int(n)} entries`;
      rows.push(
        [`${label}: bytes/entry (median of ${runs.length})`, perEntry.toFixed(1)],
        [`${label}: RSS baseline → loaded`, `${int(median(runs.map((x) => x.baseline_rss)) / 2 ** 20)} → ${int(median(runs.map((x) => x.loaded_rss)) / 2 ** 20)} MiB (peak ${int(Math.max(...runs.map((x) => x.hwm)) / 2 ** 20)} MiB)`],
      );
      targets.push({ id: 'P2', what: `memory per entry at ${int(n)}`, target: `≤ ${TARGET} B`, measured: `${perEntry.toFixed(1)} B`, met: perEntry <= TARGET });
      data[String(n)] = { entries: n, median_bytes_per_entry: perEntry, runs };
    }
    return { rows, targets, data, notes };
  },
};
