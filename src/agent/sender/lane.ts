/**
 * A lane: the ordered stream of one batch source (realtime, snapshot, audit, on-demand jobs) inside a
 * BatchSender. Rows wait in `pending` until they are formed into a batch; formed batches stay in
 * `window` until the gateway acknowledged them (in flight, or waiting for a resend).
 *
 * Ordering rules (the reason lanes exist):
 * - An ordered lane (realtime) has at most one batch on the wire, and only the oldest unacknowledged one:
 *   an update followed by a delete of the same path can never arrive in the other order.
 * - A bulk lane (snapshot, audit, jobs) may have several batches on the wire: their order does not matter
 *   to the gateway's arbitration.
 * - A signal (snapshot end, audit end, job completion) is a barrier: it is formed only when every earlier
 *   batch of its lane has been acknowledged, and nothing after it is formed until it is acknowledged.
 * Lanes are independent of each other: a realtime row may overtake a snapshot row, which arbitration
 * handles (spec 20).
 */
import type { BatchSourceType, EventType, MessageSource } from '../../protocol/index.ts';
import { BATCH_OVERHEAD_BYTES, EVENT_OVERHEAD_BYTES, estimateBytes, explodeText, type EventPart, type PreEncodedRows } from './batch-encoding.ts';
import { Fifo } from './fifo.ts';

export type SendSource = MessageSource;

export interface PendingRows {
  kind: 'rows';
  part: EventPart;
  metadata: Record<string, unknown> | undefined;
  /** Rows with different metadata never share a batch (metadata is per batch on the wire). */
  metaKey: string;
  /** When the oldest row of this entry was queued (the linger clock). */
  enqueuedAt: number;
}

export interface Settle { resolve(): void; reject(error: Error): void }

export interface PendingSignal {
  kind: 'signal';
  sourceType: BatchSourceType;
  metadata: Record<string, unknown> | undefined;
  /** After the batch is acknowledged, POST audit/end too. */
  auditEnd: boolean;
  settle: Settle;
}

export interface OutBatch {
  lane: Lane;
  sourceType: BatchSourceType;
  isEnd: boolean;
  metadata: Record<string, unknown> | undefined;
  parts: EventPart[];
  rows: number;
  /** Size estimate, then the body's length once built. */
  bytes: number;
  /** The session epoch the seq belongs to (0: not assigned yet). */
  epoch: number;
  seq: number;
  /** Built once per (epoch, seq), reused by every resend: the body text in pieces (buildBodyPieces). */
  body: string[] | null;
  inFlight: boolean;
  /** Not to be sent before this time (Retry-After, backoff). */
  notBefore: number;
  /** When its oldest row was handed to the sender (NaN for a signal): the pipe's freshness lag is measured from it. */
  enqueuedAt: number;
  attempts: number;
  signal: PendingSignal | null;
  /** The batch was acknowledged; what remains is the audit/end call. */
  pushed: boolean;
  /** Discarded (session reset, close): a late answer is ignored. */
  dropped: boolean;
}

export interface Waiter {
  /** Rows the waiting send carries. */
  n: number;
  run: () => void;
  reject: (error: Error) => void;
}

export interface FormLimits { maxRows: number; maxBytes: number; maxWindow: number; flushing: boolean }

const BATCH_SOURCE: Record<SendSource, BatchSourceType> = { realtime: 'message', snapshot: 'snapshot', audit: 'audit', on_demand_job: 'on_demand_job' };

export class Lane {
  readonly pending = new Fifo<PendingRows | PendingSignal>();
  readonly window: OutBatch[] = [];
  readonly waiters = new Fifo<Waiter>();
  pendingRows = 0;
  pendingBytes = 0;
  signals = 0;
  windowRows = 0;
  /** A bulk run (rows sent, end not yet acknowledged) exists in this lane. */
  open = false;

  constructor(readonly source: SendSource, readonly ordered: boolean, readonly lingerMs: number) {}

  get sourceType(): BatchSourceType {
    return BATCH_SOURCE[this.source];
  }

  /** Rows not yet acknowledged. */
  get depth(): number {
    return this.pendingRows + this.windowRows;
  }

  get idle(): boolean {
    return this.pending.length === 0 && this.window.length === 0 && this.waiters.length === 0;
  }

  /** Queue rows; merges with the last entry when they can share an event (same type, metadata, index). */
  addRows(eventType: EventType, index: number, fields: string, texts: string[], metadata: Record<string, unknown> | undefined, now: number, maxRows: number): void {
    const metaKey = metadata === undefined ? '' : JSON.stringify(metadata);
    let i = 0;
    const tail = this.pending.last();
    if (tail !== undefined && tail.kind === 'rows' && tail.metaKey === metaKey && tail.part.eventType === eventType
      && (this.ordered || tail.part.index === index) && tail.part.counts === null && tail.part.n < maxRows) {
      const take = Math.min(maxRows - tail.part.n, texts.length);
      for (; i < take; i++) {
        tail.part.rows.push(texts[i]);
        tail.part.bytes += texts[i].length + 1;
        this.pendingBytes += texts[i].length + 1;
      }
      tail.part.n += take;
      if (this.ordered) tail.part.index = Math.max(tail.part.index, index);
    }
    while (i < texts.length) {
      const chunk = texts.slice(i, i + maxRows);
      i += chunk.length;
      let bytes = 0;
      for (const t of chunk) bytes += t.length + 1;
      this.pending.push({ kind: 'rows', part: { eventType, source: this.source, index, fields, rows: chunk, counts: null, n: chunk.length, bytes }, metadata, metaKey, enqueuedAt: now });
      this.pendingBytes += bytes;
    }
    this.pendingRows += texts.length;
  }

  /**
   * Queue pre-encoded rows (multi-row texts, kept whole): merged with the last entry when it is
   * pre-encoded too and they can share an event. Batches are cut between texts (see `form`).
   */
  addEncoded(eventType: EventType, index: number, enc: PreEncodedRows, metadata: Record<string, unknown> | undefined, now: number, maxRows: number): void {
    if (enc.rows === 0) return;
    const metaKey = metadata === undefined ? '' : JSON.stringify(metadata);
    let bytes = 0;
    for (const t of enc.texts) bytes += t.length + 1;
    const tail = this.pending.last();
    if (tail !== undefined && tail.kind === 'rows' && tail.metaKey === metaKey && tail.part.eventType === eventType
      && (this.ordered || tail.part.index === index) && tail.part.counts !== null && tail.part.n < maxRows) {
      const part = tail.part;
      const counts = part.counts as number[];
      for (let k = 0; k < enc.texts.length; k++) {
        part.rows.push(enc.texts[k]);
        counts.push(enc.counts[k]);
      }
      part.n += enc.rows;
      part.bytes += bytes;
      if (this.ordered) part.index = Math.max(part.index, index);
    } else {
      this.pending.push({
        kind: 'rows',
        part: { eventType, source: this.source, index, fields: enc.fields, rows: enc.texts.slice(), counts: enc.counts.slice(), n: enc.rows, bytes },
        metadata, metaKey, enqueuedAt: now,
      });
    }
    this.pendingBytes += bytes;
    this.pendingRows += enc.rows;
  }

  addSignal(signal: PendingSignal): void {
    this.pending.push(signal);
    this.signals++;
  }

  /** When the oldest pending row is due (linger), or null. */
  dueAt(): number | null {
    const head = this.pending.peek();
    if (head === undefined) return null;
    return head.kind === 'signal' ? 0 : head.enqueuedAt + this.lingerMs;
  }

  /**
   * Form the next batch if the rules allow it: a batch, or the time at which rows become due, or null
   * (nothing to form, or blocked by the window).
   */
  form(now: number, limits: FormLimits): OutBatch | number | null {
    const head = this.pending.peek();
    if (head === undefined) return null;
    if (this.window.some((b) => b.signal !== null)) return null;
    if (head.kind === 'signal') {
      if (this.window.length > 0) return null;
      this.pending.shift();
      this.signals--;
      return this.batch([], head.sourceType, true, head.metadata, head);
    }
    const oldest = head.enqueuedAt;
    if (this.ordered ? this.window.length > 0 : this.window.length >= limits.maxWindow) return null;
    const full = this.pendingRows >= limits.maxRows || this.pendingBytes >= limits.maxBytes;
    const due = head.enqueuedAt + this.lingerMs;
    if (!full && now < due && this.signals === 0 && !limits.flushing) return due;

    const parts: EventPart[] = [];
    let rows = 0;
    let bytes = BATCH_OVERHEAD_BYTES + head.metaKey.length;
    const metadata = head.metadata;
    for (;;) {
      const e = this.pending.peek();
      if (e === undefined || e.kind !== 'rows' || e.metaKey !== head.metaKey) break;
      const roomRows = limits.maxRows - rows;
      const roomBytes = limits.maxBytes - bytes - EVENT_OVERHEAD_BYTES;
      if (roomRows <= 0 || (rows > 0 && roomBytes <= 0)) break;
      const part = e.part;
      const texts = part.rows;
      const counts = part.counts;
      let k = 0; // texts taken
      let r = 0; // rows taken
      let b = 0; // bytes taken
      while (k < texts.length) {
        const c = counts === null ? 1 : counts[k];
        const len = texts[k].length + 1;
        if (r + c <= roomRows && b + len <= roomBytes) {
          k++;
          r += c;
          b += len;
          continue;
        }
        if (rows === 0 && k === 0) {
          if (c > 1) {
            // A multi-row text that fits no batch on its own: cut it into single rows (same bytes).
            const single = explodeText(texts[k]);
            texts.splice(k, 1, ...single);
            (counts as number[]).splice(k, 1, ...single.map(() => 1));
            continue;
          }
          // One oversized row still forms a batch of its own.
          k = 1;
          r = 1;
          b = len;
        }
        break;
      }
      if (k === 0) break;
      const whole = k === texts.length;
      if (whole) {
        this.pending.shift();
        parts.push(part);
      } else {
        parts.push({ ...part, rows: texts.slice(0, k), counts: counts === null ? null : counts.slice(0, k), n: r, bytes: b });
        part.rows = texts.slice(k);
        part.counts = counts === null ? null : counts.slice(k);
        part.n -= r;
        part.bytes -= b;
      }
      rows += r;
      bytes += b + EVENT_OVERHEAD_BYTES;
      this.pendingRows -= r;
      this.pendingBytes -= b;
      if (!whole) break; // the batch is full
    }
    return this.batch(parts, this.sourceType, false, metadata, null, oldest);
  }

  /** Put a formed batch in the window (after `form`). */
  admit(b: OutBatch): void {
    this.window.push(b);
    this.windowRows += b.rows;
  }

  remove(b: OutBatch): void {
    const i = this.window.indexOf(b);
    if (i < 0) return;
    this.window.splice(i, 1);
    this.windowRows -= b.rows;
  }

  /** Replace `b` by its halves, in place (order kept). */
  replace(b: OutBatch, halves: OutBatch[]): void {
    const i = this.window.indexOf(b);
    if (i < 0) return;
    this.window.splice(i, 1, ...halves);
  }

  /** Drop everything queued or unacknowledged; returns what was dropped. */
  clear(): { rows: number; batches: OutBatch[]; signals: PendingSignal[] } {
    const rows = this.depth;
    const batches = this.window.splice(0);
    const signals: PendingSignal[] = [];
    for (const e of this.pending.drain()) if (e.kind === 'signal') signals.push(e);
    for (const b of batches) {
      b.dropped = true;
      if (b.signal !== null) signals.push(b.signal);
    }
    this.pendingRows = 0;
    this.pendingBytes = 0;
    this.signals = 0;
    this.windowRows = 0;
    this.open = false;
    return { rows, batches, signals };
  }

  /** `enqueuedAt`: when its oldest row was handed to the sender (NaN for a signal, which carries no row). */
  batch(parts: EventPart[], sourceType: BatchSourceType, isEnd: boolean, metadata: Record<string, unknown> | undefined, signal: PendingSignal | null, enqueuedAt = Number.NaN): OutBatch {
    let rows = 0;
    for (const p of parts) rows += p.n;
    return {
      lane: this, sourceType, isEnd, metadata, parts, rows, bytes: estimateBytes(parts, metadata),
      epoch: 0, seq: 0, body: null, inFlight: false, notBefore: 0, attempts: 0, signal, pushed: false, dropped: false, enqueuedAt,
    };
  }

  /** When the oldest row not yet acknowledged was handed to the sender; null when every row is acknowledged. */
  oldestUnacknowledged(): number | null {
    let t = Infinity;
    for (const b of this.window) if (b.rows > 0 && b.enqueuedAt < t) t = b.enqueuedAt;
    const head = this.pending.peek();
    if (head !== undefined && head.kind === 'rows' && head.enqueuedAt < t) t = head.enqueuedAt;
    return t === Infinity ? null : t;
  }
}
