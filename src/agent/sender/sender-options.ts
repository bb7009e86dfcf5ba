/** Options of a BatchSender and of each send. */
import type { Disposable } from '../../kernel/disposable.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { EventType } from '../../protocol/index.ts';
import type { BackoffOptions } from './backoff.ts';
import type { GatewayError } from './errors.ts';
import type { GatewayClient } from './gateway-client.ts';
import type { SendSource } from './lane.ts';
import type { SessionInfo, SessionListener } from './session.ts';

/** The design bound of the realtime batching timer: a realtime row leaves within 50 ms. */
export const MAX_REALTIME_LINGER_MS = 50;

export interface SendOptions {
  source: SendSource;
  /** Default `update`; delete rows carry only `{path}`. */
  eventType?: EventType;
  /**
   * End of the run: snapshot → `source_type: snapshot, is_end: true`; audit → `source_type: audit,
   * is_end: true` then POST audit/end; on_demand_job → `source_type: job_complete` with `metadata`
   * (`{job_id, scan_path}`). Sent after every earlier row of the lane was acknowledged. Ignored for realtime.
   */
  isEnd?: boolean;
  /** Batch metadata for these rows (and the end signal); `batch_seq` is added by the sender. */
  metadata?: Record<string, unknown>;
  /** Event `index` (ms, agent time + drift); default `clock()`. */
  index?: number;
  /** Refuse the send unless the current session has this epoch (a run started for an older session). */
  epoch?: number;
}

/** What the sender needs from the session (Session implements it). */
export interface SessionSource {
  readonly current: SessionInfo | null;
  subscribe(listener: SessionListener): Disposable;
  invalidate(sessionId: string, reason: string): boolean;
}

export interface AbortInfo { epoch: number; rowsDiscarded: number; reason: string }

export interface BatchSenderOptions {
  client: GatewayClient;
  session: SessionSource;
  /** Rows per batch; default 10 000. */
  maxBatchRows?: number;
  /** Body bytes per batch (estimate); default 4 MiB. Lowered automatically after a 413. */
  maxBatchBytes?: number;
  /** Rows per batch of the bulk lanes (snapshot, audit, jobs); default maxBatchRows (10 000). */
  maxBulkBatchRows?: number;
  /** Body bytes per batch of the bulk lanes; default maxBatchBytes (4 MiB). Lowered after a 413. */
  maxBulkBatchBytes?: number;
  /** Default 20 ms; clamped to MAX_REALTIME_LINGER_MS. */
  realtimeLingerMs?: number;
  /** Default 100 ms. */
  bulkLingerMs?: number;
  /** Requests on the wire, all lanes; default 3. One slot is kept for realtime (bulk lanes share the rest). */
  maxInFlight?: number;
  /** Rows accepted and not yet acknowledged; default 100 000. */
  maxBufferRows?: number;
  /** Share of the buffer bulk lanes may fill; default 0.5. */
  bulkBufferShare?: number;
  /** Upper bound on a Retry-After wait; default 30 s. */
  maxRetryAfterMs?: number;
  /** Resend backoff on errors (default 0.5 s … 30 s, full jitter). */
  backoff?: BackoffOptions;
  /** Event index clock (ms, agent time + drift); default Date.now. */
  clock?: () => number;
  eventSchema?: string;
  table?: string;
  /** `'buffer full'` when realtime rows start being refused, null when the buffer has room again. */
  onDegraded?(reason: string | null): void;
  /** A bulk run lost its data to a session reset: restart it for the new session if still wanted. */
  onAborted?(source: SendSource, info: AbortInfo): void;
  /** Every failed request (already handled; for status and logs). */
  onError?(error: GatewayError): void;
  log?: Logger;
}
