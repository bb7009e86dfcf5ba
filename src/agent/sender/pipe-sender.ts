/**
 * PipeSender: the agent side of the ingest protocol for one pipe — a GatewayClient, the pipe's Session
 * and its BatchSender, wired together. This is what a pipe owns; the parts stay usable on their own.
 *
 *   const sender = new PipeSender({ url, apiKey, agentId, pipeId, sourceUri,
 *     onRole: (role, { promoted, epoch }) => { if (promoted) startSnapshot(epoch); if (role === 'follower') stopLeaderWork(); },
 *     onCommand: (cmd) => runScan(cmd), onAborted: (source) => restart(source), onDegraded: (r) => r && scheduleAudit() });
 *   sender.start();
 *   sender.send([row], { source: 'realtime' });                       // never blocks; false = buffer full
 *   await sender.sendAsync(rows, { source: 'snapshot', epoch });      // waits for room
 *   await sender.sendAsync([], { source: 'snapshot', isEnd: true, epoch }); // resolves when acknowledged
 *   await sender.close();
 */
import type { Disposable } from '../../kernel/disposable.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { Role, ScanCommand } from '../../protocol/index.ts';
import type { BackoffOptions } from './backoff.ts';
import type { PreEncodedRows } from './batch-encoding.ts';
import { BatchSender, type AbortInfo, type BatchSenderOptions, type SendOptions, type SendSource } from './batch-sender.ts';
import type { GatewayError } from './errors.ts';
import { GatewayClient } from './gateway-client.ts';
import type { SenderStatus } from './sender-stats.ts';
import { Session, type RoleChange, type SessionReset, type SessionStatus } from './session.ts';

export type BatchingOptions = Omit<BatchSenderOptions, 'client' | 'session' | 'onDegraded' | 'onAborted' | 'onError' | 'log' | 'backoff'>;

export interface PipeSenderOptions {
  /** Gateway base URL (a receiver listener or the main port). */
  url: string;
  /** See GatewayClientOptions.apiKey. */
  apiKey: string | (() => string);
  /** Managed mode: push with the member credential for this pipe (GatewayClientOptions.managedPipe). */
  managed?: boolean;
  agentId: string;
  pipeId: string;
  /** Source URI reported as `client_info.source_uri`. */
  sourceUri: string;
  /** Session timeout hint (the gateway uses max(hint, pipe setting)). */
  sessionTimeoutSeconds?: number;
  /** Control request timeout; default 10 s. */
  requestTimeoutMs?: number;
  /** Push timeout; default 30 s. */
  pushTimeoutMs?: number;
  /** Reconnect and resend backoff; default 0.5 s … 30 s, full jitter. */
  backoff?: BackoffOptions;
  batching?: BatchingOptions;
  /** `can_realtime` of each heartbeat; default true. */
  canRealtime?: () => boolean;
  /** Extra `agent_status` fields of each heartbeat (state, walk progress, …). */
  agentStatus?: () => Record<string, unknown>;
  onRole?(role: Role, change: RoleChange): void;
  onCommand?(command: ScanCommand, from: { sessionId: string; epoch: number }): void;
  onSessionReset?(reset: SessionReset): void;
  onDegraded?(reason: string | null): void;
  onAborted?(source: SendSource, info: AbortInfo): void;
  onError?(error: GatewayError, where: 'create' | 'heartbeat' | 'push'): void;
  log?: Logger;
}

export interface PipeSenderStatus {
  agentId: string;
  pipeId: string;
  session: SessionStatus;
  sender: SenderStatus;
}

export class PipeSender implements Disposable {
  readonly client: GatewayClient;
  readonly session: Session;
  readonly batches: BatchSender;

  constructor(private readonly opts: PipeSenderOptions) {
    this.client = new GatewayClient({ baseUrl: opts.url, apiKey: opts.apiKey, ...(opts.managed === true ? { managedPipe: opts.pipeId } : {}), timeoutMs: opts.requestTimeoutMs, pushTimeoutMs: opts.pushTimeoutMs });
    this.session = new Session({
      client: this.client,
      agentId: opts.agentId,
      pipeId: opts.pipeId,
      sourceUri: opts.sourceUri,
      sessionTimeoutSeconds: opts.sessionTimeoutSeconds,
      backoff: opts.backoff,
      heartbeatStatus: () => ({ canRealtime: opts.canRealtime?.() ?? true, agentStatus: this.agentStatus() }),
      onRole: opts.onRole,
      onCommand: opts.onCommand,
      onSessionReset: opts.onSessionReset,
      onError: (e, phase) => opts.onError?.(e, phase),
      log: opts.log,
    });
    this.batches = new BatchSender({
      ...opts.batching,
      client: this.client,
      session: this.session,
      backoff: opts.backoff,
      onDegraded: opts.onDegraded,
      onAborted: opts.onAborted,
      onError: (e) => opts.onError?.(e, 'push'),
      log: opts.log,
    });
  }

  /** Open the session (in the background; retried until it succeeds or the sender is closed). */
  start(): void {
    this.session.start();
  }

  /** Epoch of the current session: pass it in the send options of a run to tie the run to the session. */
  get epoch(): number {
    return this.session.epoch;
  }

  get role(): Role | null {
    return this.session.current?.role ?? null;
  }

  get sessionId(): string | null {
    return this.session.current?.id ?? null;
  }

  send(rows: readonly object[], opts: SendOptions): boolean {
    return this.batches.send(rows, opts);
  }

  sendAsync(rows: readonly object[], opts: SendOptions): Promise<void> {
    return this.batches.sendAsync(rows, opts);
  }

  /** Rows the walker's threads already serialised (snapshot, audit, jobs): see BatchSender.sendEncodedAsync. */
  sendEncodedAsync(enc: PreEncodedRows, opts: SendOptions): Promise<void> {
    return this.batches.sendEncodedAsync(enc, opts);
  }

    drained(): Promise<void> {
    return this.batches.drained();
  }

  status(): PipeSenderStatus {
    return { agentId: this.opts.agentId, pipeId: this.opts.pipeId, session: this.session.status(), sender: this.batches.status() };
  }

  /** Stop sending (after up to `drainMs` of draining), stop heartbeating, delete the session (best effort). */
  async close(opts: { drainMs?: number } = {}): Promise<void> {
    await this.batches.close(opts);
    await this.session.close();
  }

  dispose(): Promise<void> {
    return this.close();
  }

  private agentStatus(): Record<string, unknown> {
    const s = this.batches.status();
    let extra: Record<string, unknown> = {};
    try {
      extra = this.opts.agentStatus?.() ?? {};
    } catch {
      // A broken status callback must not stop the heartbeat.
    }
    return {
      agent_id: this.opts.agentId,
      pipe_id: this.opts.pipeId,
      role: this.session.current?.role ?? null,
      events_pushed: s.rowsSent,
      events_per_sec: Math.round(s.eventsPerSec),
      buffer_depth: s.bufferDepth,
      degraded: s.degraded,
      ...extra,
    };
  }
}
