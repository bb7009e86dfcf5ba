/**
 * P1 — gateway ingest: the layout's snapshot rows pushed through the real HTTP ingest endpoint into a
 * separate gateway process, a few batches in flight, until the view is ready (snapshot ended and every row
 * applied). Target ≥ 200,000 rows/s. Bodies are serialised before the clock starts, so the figure measures
 * the gateway (HTTP, parsing, validation, arbitration, tree), not the benchmark's JSON.stringify.
 */
import type { Benchmark } from './lib/context.ts';
import { startGateway } from './lib/gateway-process.ts';
import { HttpClient } from './lib/http.ts';
import { closeSession, openSession, preSerialise, pushSnapshot, waitReady } from './lib/ingest-client.ts';
import { int, median } from './lib/report.ts';

const TARGET = 200_000;

export const p1: Benchmark = {
  name: 'p1',
  title: 'P1 ingest: snapshot rows through HTTP into a gateway process',
  async run(ctx) {
    const { batchSize, concurrency, repeats } = ctx.args;
    const layout = ctx.layout;
    const t0 = performance.now();
    const bodies = preSerialise(layout, batchSize);
    const serialiseSeconds = (performance.now() - t0) / 1000;
    const bodyBytes = bodies.reduce((n, b) => n + b.text.length, 0);
    const runs: { accepted_rows_per_s: number; indexed_rows_per_s: number; push_s: number; ready_s: number; busy_retries: number }[] = [];
    for (let r = 0; r < repeats; r++) {
      const gw = await startGateway();
      try {
        const ingest = new HttpClient(gw.url, { 'x-api-key': gw.receiverKey });
        const query = new HttpClient(gw.url, { 'x-api-key': gw.queryKey });
        const session = await openSession(ingest, 'bench-agent:bench-pipe');
        const start = performance.now();
        const push = await pushSnapshot(ingest, session.id, bodies, concurrency);
        await waitReady(query, gw.view, { minItems: layout.entryCount, intervalMs: 10 });
        const ready = (performance.now() - start) / 1000;
        runs.push({ accepted_rows_per_s: push.rows / push.seconds, indexed_rows_per_s: push.rows / ready, push_s: push.seconds, ready_s: ready, busy_retries: push.busyRetries });
        process.stderr.write(`  p1 run ${r + 1}/${repeats}: ${int(push.rows / ready)} rows/s to ready (${ready.toFixed(2)} s)\n`);
        await closeSession(ingest, session);
        ingest.close();
        query.close();
      } finally {
        await gw.stop();
      }
    }
    const indexed = median(runs.map((x) => x.indexed_rows_per_s));
    const accepted = median(runs.map((x) => x.accepted_rows_per_s));
    return {
      rows: [
        ['rows (entries)', int(layout.entryCount)],
        ['batch size × in flight', `${batchSize} × ${concurrency}`],
        ['body bytes', `${int(bodyBytes)} (${(bodyBytes / layout.entryCount).toFixed(0)} B/row)`],
        ['repeats', String(runs.length)],
        ['accepted rows/s (median)', int(accepted)],
        ['indexed rows/s to ready (median)', int(indexed)],
        ['indexed rows/s min … max', `${int(Math.min(...runs.map((x) => x.indexed_rows_per_s)))} … ${int(Math.max(...runs.map((x) => x.indexed_rows_per_s)))}`],
        ['503 retries (total)', String(runs.reduce((n, x) => n + x.busy_retries, 0))],
      ],
      targets: [{ id: 'P1', what: 'ingest to a ready view', target: `≥ ${int(TARGET)} rows/s`, measured: `${int(indexed)} rows/s`, met: indexed >= TARGET }],
      data: { entries: layout.entryCount, batch_size: batchSize, concurrency, body_bytes: bodyBytes, serialise_seconds: serialiseSeconds, median_indexed_rows_per_s: indexed, median_accepted_rows_per_s: accepted, runs },
      notes: ['time runs from the first POST to the first 200 of /stats (snapshot ended, queue drained, every row applied)'],
    };
  },
};
