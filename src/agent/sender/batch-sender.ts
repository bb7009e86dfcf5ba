/**
 * BatchSender: turns the rows a pipe produces into ingest batches and gets them acknowledged.
 *
 * Invariants:
 * - The producer is never blocked. `send()` answers at once; when the buffer (rows accepted and not yet
 *   acknowledged) is full, realtime rows are refused (`false`) and the sender reports
 *   `degraded: 'buffer full'` — the owner then schedules an audit. Bulk producers (snapshot, audit, jobs)
 *   use `sendAsync()`, which waits for room; bulk rows may fill only `bulkBufferShare` of the buffer, so a
 *   snapshot never starves realtime.
 * - A realtime row leaves within `realtimeLingerMs` (≤ MAX_REALTIME_LINGER_MS = 50 ms) unless the previous
 *   realtime batch is still unacknowledged (strict order, see lane.ts); bulk rows wait up to
 *   `bulkLingerMs` for company; a full batch or a queued signal leaves at once.
 * - At most `maxInFlight` requests are on the wire, and bulk lanes never take the last slot (when there is
 *   more than one): a realtime batch never queues behind snapshot requests.
 * - Every batch carries `metadata.batch_seq`, unique per session. A resend (timeout, lost answer,
 *   unreachable gateway) reuses the same body and seq, so a batch the gateway already applied is answered
 *   `duplicate: true` and not applied twice.
 * - 503 → resend after Retry-After; 413 → split in half (and lower the byte budget); 419 → the session is
 *   invalidated, realtime batches are resent on the new session (new seqs), bulk lanes are aborted:
 *   their rows are discarded and `onAborted` tells the owner to restart the run. Other failures → resend
 *   with exponential backoff and full jitter. Only batches the gateway refuses as malformed (400/422) and
 *   single rows over the body limit are dropped, counted in `rowsFailed` and reported as the last error.
 * - A signal (snapshot end, audit end + POST audit/end, job completion) is sent only after every earlier
 *   batch of its lane was acknowledged.
 *
 * Longer than the house target on purpose: queueing, dispatch and failure handling share the buffer
 * accounting (depth, waiters, degraded) and are easier to check for leaks in one place. Batch formation
 * lives in lane.ts, wire text in batch-encoding.ts, options in sender-options.ts.
 */
import type { Disposable } from '../../kernel/disposable.ts';
import { Backoff } from './backoff.ts';
import { buildBodyPieces, encodeRows, splitParts, type PreEncodedRows } from './batch-encoding.ts';
import { GatewayError, SenderClosedError, SessionResetError, isGatewayError } from './errors.ts';
import { Lane, type OutBatch, type PendingSignal, type SendSource, type Settle } from './lane.ts';
import { RateMeter, emptyCounters, type SenderCounters, type SenderStatus } from './sender-stats.ts';
import { MAX_REALTIME_LINGER_MS, type BatchSenderOptions, type SendOptions } from './sender-options.ts';
import type { SessionInfo, SessionReset } from './session.ts';

export type { SendSource } from './lane.ts';
export { MAX_REALTIME_LINGER_MS, type AbortInfo, type BatchSenderOptions, type SendOptions, type SessionSource } from './sender-options.ts';

/** A 413 never lowers the byte budget below this. */
const MIN_BATCH_BYTES = 1024;
const DEFAULT_BULK_BATCH_ROWS = 10_000;
const DEFAULT_BULK_BATCH_BYTES = 4 * 1024 * 1024;

function isPreEncoded(rows: readonly object[] | PreEncodedRows): rows is PreEncodedRows {
  return !Array.isArray(rows);
}

export class BatchSender implements Disposable {
  readonly config: Readonly<{ maxBatchRows: number; maxBulkBatchRows: number; realtimeLingerMs: number; bulkLingerMs: number; maxInFlight: number; bulkInFlight: number; maxBufferRows: number; bulkBufferRows: number; maxRetryAfterMs: number }>;
  private maxBatchBytes: number;
  private maxBulkBatchBytes: number;
  private readonly lanes: Record<SendSource, Lane>;
  private readonly bulk: Lane[];
  private readonly counters: SenderCounters = emptyCounters();
  private readonly rate = new RateMeter();
  private readonly failures: Backoff;
  private readonly abort = new AbortController();
  private readonly subscription: Disposable;
  private readonly clock: () => number;
  private depth = 0;
  private inFlight = 0;
  private bulkInFlight = 0;
  private seqEpoch = -1;
  private seq = 0;
  private rr = 0;
  private degraded: string | null = null;
  private flushing = 0;
  private drainWaiters: Settle[] = [];
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private closed = false;

  constructor(private readonly opts: BatchSenderOptions) {
    const maxBufferRows = Math.max(1, opts.maxBufferRows ?? 100_000);
    const maxInFlight = Math.max(1, opts.maxInFlight ?? 3);
    this.config = Object.freeze({
      maxBatchRows: Math.max(1, opts.maxBatchRows ?? 10_000),
      maxBulkBatchRows: Math.max(1, opts.maxBulkBatchRows ?? opts.maxBatchRows ?? DEFAULT_BULK_BATCH_ROWS),
      realtimeLingerMs: Math.max(0, Math.min(MAX_REALTIME_LINGER_MS, opts.realtimeLingerMs ?? 20)),
      bulkLingerMs: Math.max(0, opts.bulkLingerMs ?? 100),
      maxInFlight,
      bulkInFlight: Math.max(1, maxInFlight - 1),
      maxBufferRows,
      bulkBufferRows: Math.max(1, Math.floor(maxBufferRows * Math.min(1, Math.max(0, opts.bulkBufferShare ?? 0.5)))),
      maxRetryAfterMs: opts.maxRetryAfterMs ?? 30_000,
    });
    this.maxBatchBytes = Math.max(MIN_BATCH_BYTES, opts.maxBatchBytes ?? 4 * 1024 * 1024);
    this.maxBulkBatchBytes = Math.max(MIN_BATCH_BYTES, opts.maxBulkBatchBytes ?? opts.maxBatchBytes ?? DEFAULT_BULK_BATCH_BYTES);
    this.clock = opts.clock ?? Date.now;
    this.failures = new Backoff(opts.backoff);
    this.lanes = {
      realtime: new Lane('realtime', true, this.config.realtimeLingerMs),
      snapshot: new Lane('snapshot', false, this.config.bulkLingerMs),
      audit: new Lane('audit', false, this.config.bulkLingerMs),
      on_demand_job: new Lane('on_demand_job', false, this.config.bulkLingerMs),
    };
    this.bulk = [this.lanes.snapshot, this.lanes.audit, this.lanes.on_demand_job];
    this.subscription = opts.session.subscribe({
      created: () => this.pump(),
      reset: (r) => this.sessionReset(r),
    });
  }

  /**
   * Queue rows (and/or an end signal) without waiting. False when refused: the buffer is full (realtime:
   * the sender is then degraded), a `sendAsync` of the same lane is still waiting, the epoch is not the
   * current session's, or the sender is closed.
   */
  send(rows: readonly object[], opts: SendOptions): boolean {
    const lane = this.lanes[opts.source];
    if (this.closed || !this.epochOk(opts) || lane.waiters.length > 0) return false;
    if (!this.hasRoom(lane, rows.length)) {
      if (opts.source === 'realtime') this.refuse(rows.length);
      return false;
    }
    this.enqueue(lane, rows, rows.length, opts)?.catch(() => undefined);
    return true;
  }

  /**
   * `sendAsync` for rows the producer already serialised (PreEncodedRows: the walker's threads write the
   * wire text of snapshot, audit and scan rows). Bulk lanes only; the wire text is the same as for the
   * row objects.
   */
  sendEncodedAsync(enc: PreEncodedRows, opts: SendOptions): Promise<void> {
    if (opts.source === 'realtime') return Promise.reject(new TypeError('pre-encoded rows are for bulk lanes only'));
    return this.sendPayload(enc, enc.rows, opts);
  }

  /**
   * Queue rows, waiting for room first (backpressure for bulk producers). Resolves once queued — or, with
   * `isEnd`, once the end signal was acknowledged. Rejects with SessionResetError when the run's session
   * ended (epoch mismatch, or a reset while waiting/before the end was acknowledged), SenderClosedError
   * after close().
   */
  sendAsync(rows: readonly object[], opts: SendOptions): Promise<void> {
    return this.sendPayload(rows, rows.length, opts);
  }

  private sendPayload(rows: readonly object[] | PreEncodedRows, n: number, opts: SendOptions): Promise<void> {
    if (this.closed) return Promise.reject(new SenderClosedError());
    if (!this.epochOk(opts)) return Promise.reject(new SessionResetError(opts.epoch ?? null));
    const lane = this.lanes[opts.source];
    if (lane.waiters.length === 0 && this.hasRoom(lane, n)) return this.enqueue(lane, rows, n, opts) ?? Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      lane.waiters.push({
        n,
        reject,
        run: () => {
          if (!this.epochOk(opts)) return reject(new SessionResetError(opts.epoch ?? null));
          const end = this.enqueue(lane, rows, n, opts);
          if (end === null) resolve();
          else end.then(resolve, reject);
        },
      });
    });
  }

  /** Resolves when everything queued so far (and since) has been acknowledged; pending rows leave at once. */
  drained(): Promise<void> {
    if (this.closed) return Promise.reject(new SenderClosedError());
    if (this.isIdle()) return Promise.resolve();
    this.flushing++;
    this.schedule(0);
    return new Promise<void>((resolve, reject) => this.drainWaiters.push({ resolve, reject })).finally(() => { this.flushing--; });
  }

  status(): SenderStatus {
    const lanes: Record<string, number> = {};
    for (const [k, l] of Object.entries(this.lanes)) lanes[k] = l.depth;
    return {
      ...this.counters,
      eventsPerSec: this.rate.rate(),
      inFlight: this.inFlight,
      bufferDepth: this.depth,
      freshnessLagSec: freshnessLag(this.lanes.realtime.oldestUnacknowledged()),
      bufferCapacity: this.config.maxBufferRows,
      lanes,
      degraded: this.degraded,
      maxBatchBytes: this.maxBatchBytes,
    };
  }

  /** Stop: timers cleared, requests aborted, waiters rejected. `drainMs` > 0 first waits that long for the queue to empty. */
  async close(opts: { drainMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    if ((opts.drainMs ?? 0) > 0 && !this.isIdle()) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([this.drained().catch(() => undefined), new Promise((r) => { t = setTimeout(r, opts.drainMs); })]);
      clearTimeout(t);
    }
    this.closed = true;
    this.clearTimer();
    this.abort.abort();
    void this.subscription.dispose();
    const closedErr = new SenderClosedError();
    for (const lane of Object.values(this.lanes)) {
      for (const w of lane.waiters.drain()) w.reject(closedErr);
      const { signals } = lane.clear();
      for (const s of signals) s.settle.reject(closedErr);
    }
    this.depth = 0;
    for (const d of this.drainWaiters.splice(0)) d.reject(closedErr);
  }

  dispose(): Promise<void> {
    return this.close();
  }

  // ---- queueing ----

  /** Batch limits of a lane: realtime batches stay small, bulk ones may be larger (fewer requests). */
  private maxRowsOf(lane: Lane): number {
    return lane.ordered ? this.config.maxBatchRows : this.config.maxBulkBatchRows;
  }

  private maxBytesOf(lane: Lane): number {
    return lane.ordered ? this.maxBatchBytes : this.maxBulkBatchBytes;
  }

  private epochOk(opts: SendOptions): boolean {
    return opts.epoch === undefined || this.opts.session.current?.epoch === opts.epoch;
  }

  private bulkDepth(): number {
    return this.depth - this.lanes.realtime.depth;
  }

  private hasRoom(lane: Lane, n: number): boolean {
    if (n === 0) return true;
    if (lane.source === 'realtime') return this.depth + n <= this.config.maxBufferRows;
    const bulk = this.bulkDepth();
    const share = this.config.bulkBufferRows;
    if (bulk + n <= share) return this.depth + n <= this.config.maxBufferRows;
    // A chunk larger than the whole share is admitted when the share is empty and free, rather than never.
    return bulk === 0 && this.depth + share <= this.config.maxBufferRows;
  }

  private refuse(n: number): void {
    this.counters.rowsRefused += n;
    if (this.degraded === null) {
      this.degraded = 'buffer full';
      this.opts.log?.warn({ depth: this.depth, capacity: this.config.maxBufferRows }, 'sender buffer full: realtime rows refused');
      this.safe(() => this.opts.onDegraded?.('buffer full'), 'onDegraded');
    }
  }

  /** Queue rows and the end signal; returns the end's promise (null without an end). */
  private enqueue(lane: Lane, rows: readonly object[] | PreEncodedRows, n: number, opts: SendOptions): Promise<void> | null {
    const now = Date.now();
    const maxRows = this.maxRowsOf(lane);
    if (n > 0) {
      if (isPreEncoded(rows)) {
        lane.addEncoded(opts.eventType ?? 'update', opts.index ?? this.clock(), rows, opts.metadata, now, maxRows);
      } else {
        const enc = encodeRows(rows);
        lane.addRows(opts.eventType ?? 'update', opts.index ?? this.clock(), enc.fields, enc.texts, opts.metadata, now, maxRows);
      }
      this.depth += n;
      if (lane.source !== 'realtime') lane.open = true;
    }
    let end: Promise<void> | null = null;
    if (opts.isEnd === true && lane.source !== 'realtime') {
      let settle: Settle = { resolve: () => undefined, reject: () => undefined };
      end = new Promise<void>((resolve, reject) => { settle = { resolve, reject }; });
      const signal: PendingSignal = lane.source === 'snapshot'
        ? { kind: 'signal', sourceType: 'snapshot', metadata: opts.metadata, auditEnd: false, settle }
        : lane.source === 'audit'
          ? { kind: 'signal', sourceType: 'audit', metadata: opts.metadata, auditEnd: true, settle }
          : { kind: 'signal', sourceType: 'job_complete', metadata: opts.metadata, auditEnd: false, settle };
      lane.addSignal(signal);
      lane.open = true;
    }
    const due = lane.dueAt();
    const full = lane.pendingRows >= maxRows || lane.pendingBytes >= this.maxBytesOf(lane) || lane.signals > 0;
    if (due !== null) this.schedule(full ? now : due);
    return end;
  }

  // ---- dispatch ----

  private schedule(at: number): void {
    if (this.closed) return;
    if (this.timer !== null && this.timerAt <= at) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.pump();
    }, Math.max(0, at - Date.now()));
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  /** Start every batch the rules allow; arm the timer for the next one that is not due yet. */
  private pump(): void {
    if (this.closed) return;
    const session = this.opts.session.current;
    if (session === null) return; // resumed by the session's `created`
    const now = Date.now();
    let wake = Infinity;
    const start = this.rr++ % this.bulk.length;
    const order = [this.lanes.realtime, ...this.bulk.slice(start), ...this.bulk.slice(0, start)];
    let progressed = true;
    while (progressed && this.inFlight < this.config.maxInFlight) {
      progressed = false;
      for (const lane of order) {
        if (this.inFlight >= this.config.maxInFlight) break;
        if (!lane.ordered && this.bulkInFlight >= this.config.bulkInFlight) continue;
        const next = this.nextOf(lane, now);
        if (typeof next === 'number') wake = Math.min(wake, next);
        else if (next !== null) {
          this.launch(next, session);
          progressed = true;
        }
      }
    }
    // When every slot is taken, the next completion pumps again.
    if (wake < Infinity && this.inFlight < this.config.maxInFlight) this.schedule(wake);
  }

  /** The lane's next batch to put on the wire, or when to look again, or null. */
  private nextOf(lane: Lane, now: number): OutBatch | number | null {
    let wake = Infinity;
    for (const b of lane.window) {
      if (b.inFlight) {
        if (lane.ordered) return null;
        continue;
      }
      if (b.notBefore <= now) return b;
      if (lane.ordered) return b.notBefore;
      wake = Math.min(wake, b.notBefore);
    }
    const formed = lane.form(now, { maxRows: this.maxRowsOf(lane), maxBytes: this.maxBytesOf(lane), maxWindow: this.config.bulkInFlight, flushing: this.flushing > 0 });
    if (formed !== null && typeof formed === 'object') {
      lane.admit(formed);
      return formed;
    }
    if (typeof formed === 'number') wake = Math.min(wake, formed);
    return wake < Infinity ? wake : null;
  }

  private launch(first: OutBatch, session: SessionInfo): void {
    let b = first;
    // Formed before a 413 lowered the budget and never sent: halve it here instead of learning it again.
    while (b.attempts === 0 && b.rows > 1 && b.bytes > this.maxBytesOf(b.lane)) b = this.halve(b)[0];
    b.inFlight = true;
    this.inFlight++;
    if (!b.lane.ordered) this.bulkInFlight++;
    if (b.epoch !== session.epoch) {
      // First send, or a resend on a new session: a fresh identity for that session.
      if (this.seqEpoch !== session.epoch) {
        this.seqEpoch = session.epoch;
        this.seq = 0;
      }
      b.epoch = session.epoch;
      b.seq = ++this.seq;
      b.body = null;
    }
    void this.attempt(b, session);
  }

  private async attempt(b: OutBatch, session: SessionInfo): Promise<void> {
    b.attempts++;
    if (b.attempts > 1) this.counters.retries++;
    try {
      if (b.pushed) {
        await this.opts.client.auditEnd(this.abort.signal);
        if (!b.dropped) this.complete(b);
      } else {
        if (b.body === null) {
          b.body = buildBodyPieces(b.parts, { sourceType: b.sourceType, isEnd: b.isEnd, metadata: { ...b.metadata, batch_seq: b.seq }, eventSchema: this.opts.eventSchema ?? 'fs', table: this.opts.table ?? 'files' });
          let length = 0;
          for (const piece of b.body) length += piece.length;
          b.bytes = length;
        }
        const res = await this.opts.client.pushRaw(session.id, b.body, this.abort.signal);
        if (b.dropped) return;
        if (res.duplicate === true) this.counters.duplicates++;
        if (typeof res.rejected === 'number') this.counters.rowsRejected += res.rejected;
        b.pushed = true;
        if (b.signal?.auditEnd === true) {
          b.attempts = 0; // the audit/end call is a new step with its own retries
        } else {
          this.complete(b);
        }
      }
      this.failures.reset();
    } catch (e) {
      if (!b.dropped && !this.closed) this.failed(b, e, session);
    } finally {
      b.inFlight = false;
      this.inFlight--;
      if (!b.lane.ordered) this.bulkInFlight--;
      this.pump();
    }
  }

  private complete(b: OutBatch): void {
    const lane = b.lane;
    lane.remove(b);
    this.depth -= b.rows;
    this.counters.rowsSent += b.rows;
    this.counters.batches++;
    this.rate.add(b.rows);
    if (b.signal !== null) {
      if (lane.pending.length === 0 && lane.window.length === 0) lane.open = false;
      b.signal.settle.resolve();
    }
    this.changed();
  }

  private failed(b: OutBatch, e: unknown, session: SessionInfo): void {
    const err = isGatewayError(e) ? e : new GatewayError('server', e instanceof Error ? e.message : String(e), { cause: e });
    if (err.kind === 'aborted') return;
    this.counters.lastError = err.message;
    this.counters.lastErrorAt = Date.now();
    this.safe(() => this.opts.onError?.(err), 'onError');
    const now = Date.now();
    switch (err.kind) {
      case 'session_obsolete':
        // Realtime batches stay and are resent on the next session; the reset aborts the bulk lanes.
        b.notBefore = 0;
        this.opts.session.invalidate(session.id, 'push answered 419 (session unknown or expired)');
        return;
      case 'busy':
        this.counters.busy++;
        b.notBefore = now + Math.min((err.retryAfterSec ?? 1) * 1000, this.config.maxRetryAfterMs) + Math.floor(Math.random() * 100);
        return;
      case 'too_large':
        this.split(b, err);
        return;
      case 'rejected':
        this.drop(b, err);
        return;
      default:
        b.notBefore = now + this.failures.next();
        this.opts.log?.warn({ kind: err.kind, err: err.message, attempt: b.attempts }, 'batch failed; will resend');
    }
  }

  /** 413: halve the batch (and the byte budget); a single row that is still too large is dropped. */
  private split(b: OutBatch, err: GatewayError): void {
    const size = b.bytes;
    this.maxBatchBytes = Math.max(MIN_BATCH_BYTES, Math.min(this.maxBatchBytes, Math.floor(size / 2)));
    this.maxBulkBatchBytes = Math.max(MIN_BATCH_BYTES, Math.min(this.maxBulkBatchBytes, Math.floor(size / 2)));
    if (b.rows <= 1) {
      this.drop(b, err);
      return;
    }
    this.counters.splits++;
    this.halve(b);
    this.opts.log?.info({ rows: b.rows, bytes: size, budget: this.maxBatchBytes }, 'batch over the body limit: split in half');
  }

  /** Replace `b` in its lane by two halves (fresh identities: `b` was never accepted). */
  private halve(b: OutBatch): OutBatch[] {
    const [head, tail] = splitParts(b.parts, Math.ceil(b.rows / 2));
    const halves = [head, tail].map((parts) => b.lane.batch(parts, b.sourceType, b.isEnd, b.metadata, null, b.enqueuedAt));
    b.lane.replace(b, halves);
    return halves;
  }

  /** The gateway refused the batch itself: resending cannot help. */
  private drop(b: OutBatch, err: GatewayError): void {
    b.dropped = true;
    b.lane.remove(b);
    this.depth -= b.rows;
    this.counters.rowsFailed += b.rows;
    this.opts.log?.error({ rows: b.rows, source: b.sourceType, err: err.message }, 'batch refused by the gateway: dropped');
    b.signal?.settle.reject(err);
    this.changed();
  }

  private sessionReset(r: SessionReset): void {
    for (const lane of this.bulk) {
      if (!lane.open && lane.idle) continue;
      const resetErr = new SessionResetError(r.epoch);
      for (const w of lane.waiters.drain()) w.reject(resetErr);
      const { rows, signals } = lane.clear();
      for (const s of signals) s.settle.reject(resetErr);
      this.depth -= rows;
      this.counters.rowsAborted += rows;
      this.opts.log?.warn({ source: lane.source, rows, session: r.sessionId }, 'session reset: bulk run aborted');
      this.safe(() => this.opts.onAborted?.(lane.source, { epoch: r.epoch, rowsDiscarded: rows, reason: r.reason }), 'onAborted');
    }
    this.changed();
  }

  /** After the buffer shrank: admit waiting producers, clear `degraded`, settle drain waiters. */
  private changed(): void {
    for (const lane of Object.values(this.lanes)) {
      for (let w = lane.waiters.peek(); w !== undefined && this.hasRoom(lane, w.n); w = lane.waiters.peek()) {
        lane.waiters.shift();
        w.run();
      }
    }
    if (this.degraded !== null && this.depth <= this.config.maxBufferRows / 2) {
      this.degraded = null;
      this.opts.log?.info({ depth: this.depth }, 'sender buffer has room again');
      this.safe(() => this.opts.onDegraded?.(null), 'onDegraded');
    }
    if (this.drainWaiters.length > 0 && this.isIdle()) for (const d of this.drainWaiters.splice(0)) d.resolve();
  }

  private isIdle(): boolean {
    return Object.values(this.lanes).every((l) => l.idle);
  }

  private safe(fn: () => void, what: string): void {
    try {
      fn();
    } catch (e) {
      this.opts.log?.error({ err: e instanceof Error ? { message: e.message, stack: e.stack } : String(e) }, `${what} threw`);
    }
  }
}

/** Seconds the oldest unacknowledged realtime row has waited (0 when all are acknowledged): what a reader of the view misses. */
function freshnessLag(oldest: number | null): number {
  return oldest === null ? 0 : Math.max(0, (Date.now() - oldest) / 1000);
}
