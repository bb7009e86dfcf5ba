/**
 * Prometheus metrics of one gateway (prom-client, a private registry per gateway so several gateways —
 * tests — can live in one process). Values are read from the gateway state at scrape time; nothing on
 * the ingest path touches prom-client.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { PipeCounters } from '../pipes/pipe-runtime.ts';

/** What a scrape reads; implemented by the Gateway. */
export interface MetricsSource {
  pipeSamples(): { pipeId: string; depth: number; capacity: number; counters: PipeCounters; rowsPerSecond: number; sessions: { leader: number; follower: number } }[];
  viewSamples(): { viewId: string; items: number; ready: boolean }[];
}

export function createMetrics(source: MetricsSource): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'fustor_fusion_' });

  const pipeGauge = (name: string, help: string, read: (p: ReturnType<MetricsSource['pipeSamples']>[number]) => number) =>
    new Gauge({ name, help, labelNames: ['pipe'], registers: [registry], collect() { this.reset(); for (const p of source.pipeSamples()) this.set({ pipe: p.pipeId }, read(p)); } });
  const pipeCounter = (name: string, help: string, read: (c: PipeCounters) => number) =>
    new Counter({ name, help, labelNames: ['pipe'], registers: [registry], collect() { this.reset(); for (const p of source.pipeSamples()) this.inc({ pipe: p.pipeId }, read(p.counters)); } });

  pipeGauge('fustor_pipe_queue_depth', 'Event batches queued or being applied', (p) => p.depth);
  pipeGauge('fustor_pipe_queue_capacity', 'Queue capacity in batches (queue_capacity)', (p) => p.capacity);
  pipeGauge('fustor_pipe_rows_per_second', 'Rows applied per second over the last few seconds', (p) => p.rowsPerSecond);
  pipeCounter('fustor_pipe_events_received_total', 'Events accepted into the queue', (c) => c.eventsReceived);
  pipeCounter('fustor_pipe_events_processed_total', 'Events applied to the views', (c) => c.eventsProcessed);
  pipeCounter('fustor_pipe_rows_received_total', 'Rows accepted into the queue', (c) => c.rowsReceived);
  pipeCounter('fustor_pipe_rows_applied_total', 'Rows applied by the primary view', (c) => c.rowsApplied);
  pipeCounter('fustor_pipe_rows_rejected_total', 'Malformed rows rejected individually', (c) => c.rowsRejected);
  pipeCounter('fustor_pipe_batches_busy_total', 'Batches refused with 503 because the queue was full', (c) => c.batchesRejectedBusy);
  pipeCounter('fustor_pipe_batches_duplicate_total', 'Replayed batches acknowledged without applying', (c) => c.batchesDuplicate);
  pipeCounter('fustor_pipe_errors_total', 'Engine failures while applying (logged)', (c) => c.errors);
  new Gauge({
    name: 'fustor_pipe_sessions', help: 'Live agent sessions by role', labelNames: ['pipe', 'role'], registers: [registry],
    collect() {
      this.reset();
      for (const p of source.pipeSamples()) {
        this.set({ pipe: p.pipeId, role: 'leader' }, p.sessions.leader);
        this.set({ pipe: p.pipeId, role: 'follower' }, p.sessions.follower);
      }
    },
  });
  new Gauge({ name: 'fustor_view_items', help: 'Nodes in the view', labelNames: ['view'], registers: [registry], collect() { this.reset(); for (const v of source.viewSamples()) this.set({ view: v.viewId }, v.items); } });
  new Gauge({ name: 'fustor_view_ready', help: '1 when the view answers queries', labelNames: ['view'], registers: [registry], collect() { this.reset(); for (const v of source.viewSamples()) this.set({ view: v.viewId }, v.ready ? 1 : 0); } });
  return registry;
}
