/**
 * One pipe: a bounded queue of event batches and its own processing loop, fanning every event out to
 * all views of the pipe (spec 10). The HTTP handler validates and `offer`s; the loop applies.
 *
 * Invariants:
 * - Items are processed strictly in arrival order, controls included; a signal carried by a batch
 *   (snapshot/audit end, job completion) is acted on after that batch and everything before it has been
 *   applied, which is exactly "after the queue drained up to it".
 * - The loop never holds the event loop for more than ~SLICE_MS: large events are applied in row slices
 *   and the loop yields with setImmediate, so heartbeats, health checks and queries stay fast.
 * - An engine that throws is counted and logged (rate-limited); the loop carries on.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Logger } from '../../kernel/logger.ts';
import type { BatchSourceType, Event, MessageSource } from '../../protocol/index.ts';
import type { ResolvedPipe } from '../config/resolved-config.ts';
import type { Lineage, ViewDriver } from '../view/view-driver.ts';
import { WorkQueue } from './work-queue.ts';

const SLICE_MS = 8;
const SLICE_ROWS = 1024;

export interface PipeBatch {
  sessionId: string;
  lineage: Lineage;
  events: Event[];
  sourceType: BatchSourceType;
  isEnd: boolean;
  metadata: Record<string, unknown> | undefined;
  rows: number;
}

/** What the loop reports back to the gateway (sessions, jobs). */
export interface PipeSignals {
  snapshotEnded(pipeId: string, sessionId: string): void;
  jobCompleted(pipeId: string, sessionId: string, metadata: Record<string, unknown> | undefined): void;
}

type WorkItem =
  | { kind: 'batch'; batch: PipeBatch }
  | { kind: 'control'; label: string; run: () => void; done: (ok: boolean) => void };

export interface PipeCounters {
  eventsReceived: number;
  eventsProcessed: number;
  rowsReceived: number;
  rowsApplied: number;
  rowsRejected: number;
  batchesRejectedBusy: number;
  batchesDuplicate: number;
  errors: number;
}

const SOURCE_OF_BATCH: Record<BatchSourceType, MessageSource> = {
  message: 'realtime',
  snapshot: 'snapshot',
  audit: 'audit',
  on_demand_job: 'on_demand_job',
  job_complete: 'on_demand_job',
  config_report: 'realtime',
};

export class PipeRuntime {
  readonly counters: PipeCounters = { eventsReceived: 0, eventsProcessed: 0, rowsReceived: 0, rowsApplied: 0, rowsRejected: 0, batchesRejectedBusy: 0, batchesDuplicate: 0, errors: 0 };
  private readonly queue = new WorkQueue<WorkItem>();
  private queuedBatches = 0;
  private processing = false;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private lastErrorLog = 0;

  constructor(
    readonly config: ResolvedPipe,
    private views: ViewDriver[],
    private readonly signals: PipeSignals,
    private readonly log: Logger,
  ) {}

  get id(): string {
    return this.config.id;
  }

  /** Batches waiting or being applied (what the capacity bounds). */
  depth(): number {
    return this.queuedBatches + (this.processing ? 1 : 0);
  }

  setViews(views: ViewDriver[]): void {
    this.views = views;
  }

  viewDrivers(): readonly ViewDriver[] {
    return this.views;
  }

  start(): void {
    if (this.loop === null) this.loop = this.run();
  }

  /** Stop the loop and drop what is queued; controls still waiting are resolved as not run. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const item of this.queue.drain()) if (item.kind === 'control') item.done(false);
    this.queuedBatches = 0;
    this.queue.wake();
    await this.loop;
  }

  /** Enqueue a batch; false when the queue is full (the caller answers 503 + Retry-After). */
  offer(batch: PipeBatch): boolean {
    if (this.stopped) return false;
    if (this.depth() >= this.config.queueCapacity) {
      this.counters.batchesRejectedBusy++;
      return false;
    }
    this.counters.eventsReceived += batch.events.length;
    this.counters.rowsReceived += batch.rows;
    this.queuedBatches++;
    this.queue.push({ kind: 'batch', batch });
    return true;
  }

  /**
   * Run `fn` in queue order (after everything queued before it). Resolves true once it ran, false if
   * the pipe stopped first.
   */
  control(label: string, fn: () => void): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => this.queue.push({ kind: 'control', label, run: fn, done: resolve }));
  }

  /** Drop queued batches of a session whose data must not be applied any more (forced session end). */
  discardSession(sessionId: string): number {
    const removed = this.queue.remove((item) => item.kind === 'batch' && item.batch.sessionId === sessionId);
    this.queuedBatches -= removed.length;
    return removed.length;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const item = this.queue.shift();
      if (item === undefined) {
        await this.queue.wait();
        continue;
      }
      if (item.kind === 'control') {
        let ok = true;
        try {
          item.run();
        } catch (e) {
          ok = false;
          this.fault(`control '${item.label}' failed`, e);
        }
        item.done(ok);
        continue;
      }
      this.queuedBatches--;
      this.processing = true;
      try {
        await this.apply(item.batch);
      } catch (e) {
        this.fault('batch processing failed', e);
      } finally {
        this.processing = false;
      }
    }
  }

  private async apply(batch: PipeBatch): Promise<void> {
    const pipeId = this.config.id;
    let t0 = performance.now();
    for (const event of batch.events) {
      const source = event.message_source ?? SOURCE_OF_BATCH[batch.sourceType];
      const rows = event.rows;
      for (let start = 0; start < rows.length || (start === 0 && rows.length === 0); start += SLICE_ROWS) {
        const slice = rows.length <= SLICE_ROWS ? event : { ...event, rows: rows.slice(start, start + SLICE_ROWS) };
        const views = this.views;
        for (let v = 0; v < views.length; v++) {
          try {
            const r = views[v].applyEvent(slice, source, batch.lineage);
            // Rows are counted once, on the primary view; the others see the same rows.
            if (v === 0) {
              this.counters.rowsApplied += r.applied;
              this.counters.rowsRejected += r.rejected;
              if (r.rejected > 0 && r.errors.length > 0) this.log.debug({ pipe: pipeId, rejected: r.rejected, reasons: r.errors.slice(0, 3) }, 'rows rejected');
            }
          } catch (e) {
            this.fault(`view '${views[v].viewId}' failed to apply an event`, e);
          }
        }
        if (performance.now() - t0 > SLICE_MS) {
          await yieldToLoop();
          if (this.stopped) return;
          t0 = performance.now();
        }
        if (rows.length === 0) break;
      }
      this.counters.eventsProcessed++;
    }
    this.afterBatch(batch);
  }

  private afterBatch(batch: PipeBatch): void {
    const pipeId = this.config.id;
    if (batch.isEnd && batch.sourceType === 'snapshot') this.signals.snapshotEnded(pipeId, batch.sessionId);
    if (batch.isEnd && batch.sourceType === 'audit') {
      for (const view of this.views) {
        try {
          view.auditEnd(pipeId);
        } catch (e) {
          this.fault(`view '${view.viewId}' failed at audit end`, e);
        }
      }
    }
    if (batch.sourceType === 'job_complete') this.signals.jobCompleted(pipeId, batch.sessionId, batch.metadata);
  }

  private fault(what: string, e: unknown): void {
    this.counters.errors++;
    const now = Date.now();
    if (now - this.lastErrorLog < 1000) return;
    this.lastErrorLog = now;
    this.log.error({ pipe: this.config.id, err: e instanceof Error ? { message: e.message, stack: e.stack } : String(e) }, what);
  }
}
