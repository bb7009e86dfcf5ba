/** Counters of a BatchSender, and the per-second rate of rows acknowledged by the gateway. */

export interface SenderCounters {
  /** Rows acknowledged by the gateway (duplicates included: they were applied by an earlier attempt). */
  rowsSent: number;
  /** Batches acknowledged (row batches and signals). */
  batches: number;
  /** Attempts after the first one of a batch, whatever the reason. */
  retries: number;
  /** 503 answers (queue full). */
  busy: number;
  /** 413 answers that made the sender split a batch. */
  splits: number;
  /** Batches the gateway had already applied (`duplicate: true`): a resend after a lost answer. */
  duplicates: number;
  /** Rows the gateway accepted the batch of but rejected one by one as malformed. */
  rowsRejected: number;
  /** Rows of batches the gateway refused as malformed (400/422), or single rows over the body limit: dropped. */
  rowsFailed: number;
  /** Realtime rows refused because the buffer was full (the owner schedules an audit). */
  rowsRefused: number;
  /** Bulk rows discarded because their session ended (reported through onAborted). */
  rowsAborted: number;
  lastError: string | null;
  lastErrorAt: number | null;
}

export interface SenderStatus extends SenderCounters {
  /** Rows acknowledged per second, over the last few seconds. */
  eventsPerSec: number;
  /** Requests on the wire. */
  inFlight: number;
  /** Rows accepted by `send` and not yet acknowledged (queued, in flight or waiting to be resent). */
  bufferDepth: number;
  /** Seconds since the oldest realtime row not yet acknowledged was handed over (0: none waiting). */
  freshnessLagSec: number;
  bufferCapacity: number;
  /** Rows per lane not yet acknowledged. */
  lanes: Record<string, number>;
  /** Why the pipe is degraded (`buffer full`), or null. */
  degraded: string | null;
  /** The byte budget per batch now (lowered after a 413). */
  maxBatchBytes: number;
}

export function emptyCounters(): SenderCounters {
  return { rowsSent: 0, batches: 0, retries: 0, busy: 0, splits: 0, duplicates: 0, rowsRejected: 0, rowsFailed: 0, rowsRefused: 0, rowsAborted: 0, lastError: null, lastErrorAt: null };
}

/** Rows per second over a sliding window of whole seconds (no timer: buckets are rolled on use). */
export class RateMeter {
  private readonly buckets: Float64Array;
  private readonly seconds: Float64Array;

  constructor(private readonly windowSec = 5, private readonly now: () => number = Date.now) {
    this.buckets = new Float64Array(windowSec + 1);
    this.seconds = new Float64Array(windowSec + 1).fill(-1);
  }

  add(n: number): void {
    const sec = Math.floor(this.now() / 1000);
    const i = sec % this.buckets.length;
    if (this.seconds[i] !== sec) {
      this.seconds[i] = sec;
      this.buckets[i] = 0;
    }
    this.buckets[i] += n;
  }

  /** Average over the last `windowSec` complete seconds plus the current one, pro rata. */
  rate(): number {
    const t = this.now();
    const sec = Math.floor(t / 1000);
    let sum = 0;
    for (let i = 0; i < this.buckets.length; i++) if (this.seconds[i] > sec - this.buckets.length && this.seconds[i] <= sec) sum += this.buckets[i];
    const span = this.windowSec + (t / 1000 - sec);
    return sum / span;
  }
}
