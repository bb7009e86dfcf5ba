/**
 * Session: one pipe's session with the gateway, kept alive for as long as the sender lives.
 *
 * Invariants:
 * - There is at most one current session; `epoch` counts the sessions this object created (1, 2, …),
 *   so data and runs can be tied to the session they belong to.
 * - The role is taken from every answer (create, heartbeat) and a change is reported through `onRole`;
 *   `promoted: true` means "this session has just become leader": the pipe must snapshot.
 * - 419 (from a heartbeat, or reported by the batch sender through `invalidate`) ends the session at
 *   once: listeners hear `reset`, and a new session is created without waiting.
 * - Any other failure never ends the loop: creation retries with exponential backoff and full jitter
 *   (0.5 s … 30 s); a failed heartbeat is retried sooner than the next regular one (the session may still
 *   be alive on the gateway), and only a 419 proves it is gone.
 * - The heartbeat never stops because of data-path errors, and callbacks that throw are logged, not
 *   propagated.
 */
import type { Logger } from '../../kernel/logger.ts';
import type { Disposable } from '../../kernel/disposable.ts';
import type { Role, ScanCommand, SessionCreateRequest } from '../../protocol/index.ts';
import { Backoff, Wakeup, type BackoffOptions } from './backoff.ts';
import { GatewayError, isGatewayError } from './errors.ts';
import type { GatewayClient } from './gateway-client.ts';

export interface SessionInfo {
  readonly id: string;
  /** 1 for the first session of this object, +1 for each new one. */
  readonly epoch: number;
  role: Role;
  /** The gateway's value (max of our hint and the pipe setting). */
  readonly timeoutSeconds: number;
  readonly auditIntervalSec: number;
  readonly sentinelIntervalSec: number;
  readonly createdAt: number;
}

export interface RoleChange {
  /** The session has just become leader (a new leader session, or a follower promoted): snapshot now. */
  promoted: boolean;
  /** Reported at session creation (the first role of this session). */
  initial: boolean;
  sessionId: string;
  epoch: number;
}

export interface SessionReset {
  /** The session that ended. */
  sessionId: string;
  epoch: number;
  reason: string;
}

export interface HeartbeatStatus {
  canRealtime: boolean;
  agentStatus?: Record<string, unknown>;
}

export interface SessionListener {
  created?(info: SessionInfo): void;
  reset?(reset: SessionReset): void;
}

export interface SessionOptions {
  client: GatewayClient;
  agentId: string;
  pipeId: string;
  /** `client_info.source_uri` (lineage on the gateway). */
  sourceUri: string;
  /** Timeout hint sent at creation; the gateway uses max(hint, pipe setting). */
  sessionTimeoutSeconds?: number;
  backoff?: BackoffOptions;
  /** What each heartbeat carries; default `{canRealtime: true}`. */
  heartbeatStatus?: () => HeartbeatStatus;
  onRole?(role: Role, change: RoleChange): void;
  onCommand?(command: ScanCommand, from: { sessionId: string; epoch: number }): void;
  onSessionReset?(reset: SessionReset): void;
  /** Every failed create/heartbeat (already handled; for status and logs). */
  onError?(error: GatewayError, phase: 'create' | 'heartbeat'): void;
  log?: Logger;
}

export type SessionState = 'idle' | 'connecting' | 'connected' | 'closed';

export interface SessionStatus {
  state: SessionState;
  sessionId: string | null;
  role: Role | null;
  epoch: number;
  sessionsCreated: number;
  resets: number;
  heartbeats: number;
  heartbeatFailures: number;
  lastHeartbeatAt: number | null;
  lastError: string | null;
}

const MIN_HEARTBEAT_MS = 100;
const CLOSE_DELETE_TIMEOUT_MS = 2000;

export class Session implements Disposable {
  readonly taskId: string;
  private info: SessionInfo | null = null;
  private epochCounter = 0;
  private started = false;
  private closed = false;
  private loop: Promise<void> | null = null;
  private readonly wakeup = new Wakeup();
  private readonly abort = new AbortController();
  private readonly createBackoff: Backoff;
  private readonly heartbeatBackoff: Backoff;
  private nextHeartbeatMs = 0;
  private tickWaiters: (() => void)[] = [];
  private readyWaiters: ((info: SessionInfo) => void)[] = [];
  private readonly listeners = new Set<SessionListener>();
  private readonly counters = { sessionsCreated: 0, resets: 0, heartbeats: 0, heartbeatFailures: 0, lastHeartbeatAt: null as number | null, lastError: null as string | null };

  constructor(private readonly opts: SessionOptions) {
    this.taskId = `${opts.agentId}:${opts.pipeId}`;
    this.createBackoff = new Backoff(opts.backoff);
    this.heartbeatBackoff = new Backoff(opts.backoff);
  }

  /** The live session, or null while (re)connecting. */
  get current(): SessionInfo | null {
    return this.info;
  }

  /** Epoch of the current session (0 before the first, and the last one's while reconnecting). */
  get epoch(): number {
    return this.epochCounter;
  }

  /** Heartbeat period: a third of the session timeout. */
  get heartbeatIntervalMs(): number {
    return this.info === null ? 0 : Math.max(MIN_HEARTBEAT_MS, (this.info.timeoutSeconds * 1000) / 3);
  }

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.loop = this.run();
  }

  subscribe(listener: SessionListener): Disposable {
    this.listeners.add(listener);
    return { dispose: () => { this.listeners.delete(listener); } };
  }

  /** Resolves with the current session, or the next one once created (never rejects; pending until close). */
  ready(): Promise<SessionInfo> {
    if (this.info !== null) return Promise.resolve(this.info);
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /**
   * The gateway no longer knows `sessionId` (a 419 seen elsewhere): end it and create a new one at once.
   * A no-op when `sessionId` is not the current session (already handled). Returns whether it acted.
   */
  invalidate(sessionId: string, reason: string): boolean {
    const info = this.info;
    if (info === null || info.id !== sessionId || this.closed) return false;
    this.info = null;
    this.counters.resets++;
    this.createBackoff.reset();
    this.opts.log?.warn({ task: this.taskId, session: sessionId, reason }, 'session lost; creating a new one');
    const reset: SessionReset = { sessionId, epoch: info.epoch, reason };
    for (const l of [...this.listeners]) this.safe(() => l.reset?.(reset), 'session reset listener');
    this.safe(() => this.opts.onSessionReset?.(reset), 'onSessionReset');
    this.wakeup.wake();
    return true;
  }

  /** Heartbeat (or create, while there is no session) now; resolves once that attempt finished. */
  heartbeatNow(): Promise<void> {
    if (this.closed || !this.started) return Promise.resolve();
    return new Promise((resolve) => {
      this.tickWaiters.push(resolve);
      this.wakeup.wake();
    });
  }

  status(): SessionStatus {
    const state: SessionState = this.closed ? 'closed' : !this.started ? 'idle' : this.info === null ? 'connecting' : 'connected';
    return { state, sessionId: this.info?.id ?? null, role: this.info?.role ?? null, epoch: this.epochCounter, ...this.counters };
  }

  /** Stop heartbeating and delete the session on the gateway (best effort, bounded wait). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    this.wakeup.dispose();
    await this.loop;
    const info = this.info;
    this.info = null;
    for (const w of this.tickWaiters.splice(0)) w();
    if (info !== null) await this.opts.client.deleteSession(info.id, AbortSignal.timeout(CLOSE_DELETE_TIMEOUT_MS)).catch(() => undefined);
  }

  dispose(): Promise<void> {
    return this.close();
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      const info = this.info;
      if (info === null) {
        const waiters = this.tickWaiters.splice(0);
        const ok = await this.create();
        waiters.forEach((w) => w());
        if (!ok && !this.closed) await this.wakeup.wait(this.createBackoff.next());
        continue;
      }
      // Sleep until the next heartbeat is due; heartbeatNow/invalidate/close cut the sleep short.
      if (this.tickWaiters.length === 0) await this.wakeup.wait(this.nextHeartbeatMs);
      else this.wakeup.clear();
      if (this.closed || this.info !== info) continue;
      const waiters = this.tickWaiters.splice(0);
      await this.beat(info);
      waiters.forEach((w) => w());
    }
  }

  private async create(): Promise<boolean> {
    const req: SessionCreateRequest = { task_id: this.taskId, client_info: { source_uri: this.opts.sourceUri }, source_type: 'fs' };
    if (this.opts.sessionTimeoutSeconds !== undefined) req.session_timeout_seconds = this.opts.sessionTimeoutSeconds;
    try {
      const res = await this.opts.client.createSession(req, this.abort.signal);
      if (this.closed) {
        await this.opts.client.deleteSession(res.session_id, AbortSignal.timeout(CLOSE_DELETE_TIMEOUT_MS)).catch(() => undefined);
        return true;
      }
      const info: SessionInfo = {
        id: res.session_id,
        epoch: ++this.epochCounter,
        role: res.role,
        timeoutSeconds: res.session_timeout_seconds,
        auditIntervalSec: res.audit_interval_sec,
        sentinelIntervalSec: res.sentinel_interval_sec,
        createdAt: Date.now(),
      };
      this.info = info;
      this.counters.sessionsCreated++;
      this.createBackoff.reset();
      this.heartbeatBackoff.reset();
      this.nextHeartbeatMs = this.heartbeatIntervalMs;
      this.opts.log?.info({ task: this.taskId, session: info.id, role: info.role, epoch: info.epoch, timeout: info.timeoutSeconds }, 'session created');
      for (const l of [...this.listeners]) this.safe(() => l.created?.(info), 'session created listener');
      for (const w of this.readyWaiters.splice(0)) w(info);
      this.safe(() => this.opts.onRole?.(info.role, { promoted: info.role === 'leader', initial: true, sessionId: info.id, epoch: info.epoch }), 'onRole');
      return true;
    } catch (e) {
      if (this.closed) return true;
      this.failed(e, 'create');
      return false;
    }
  }

  private async beat(info: SessionInfo): Promise<void> {
    let st: HeartbeatStatus = { canRealtime: true };
    try {
      st = this.opts.heartbeatStatus?.() ?? st;
    } catch (e) {
      this.opts.log?.warn({ err: String(e) }, 'heartbeatStatus threw; sending the defaults');
    }
    try {
      const res = await this.opts.client.heartbeat(info.id, { can_realtime: st.canRealtime, agent_status: st.agentStatus ?? {} }, this.abort.signal);
      if (this.closed || this.info !== info) return;
      this.counters.heartbeats++;
      this.counters.lastHeartbeatAt = Date.now();
      this.heartbeatBackoff.reset();
      this.nextHeartbeatMs = this.heartbeatIntervalMs;
      if (res.role !== info.role) {
        const promoted = res.role === 'leader';
        info.role = res.role;
        this.opts.log?.info({ task: this.taskId, session: info.id, role: res.role }, promoted ? 'promoted to leader' : 'demoted to follower');
        this.safe(() => this.opts.onRole?.(res.role, { promoted, initial: false, sessionId: info.id, epoch: info.epoch }), 'onRole');
      }
      for (const cmd of res.commands) {
        if (this.info !== info) break;
        this.safe(() => this.opts.onCommand?.(cmd, { sessionId: info.id, epoch: info.epoch }), 'onCommand');
      }
    } catch (e) {
      if (this.closed || this.info !== info) return;
      if (isGatewayError(e, 'session_obsolete')) {
        this.invalidate(info.id, 'heartbeat answered 419 (session unknown or expired)');
        return;
      }
      this.counters.heartbeatFailures++;
      this.failed(e, 'heartbeat');
      // Retry sooner than the regular period while the gateway may still hold the session.
      this.nextHeartbeatMs = Math.min(this.heartbeatBackoff.next(), this.heartbeatIntervalMs);
    }
  }

  private failed(e: unknown, phase: 'create' | 'heartbeat'): void {
    const err = isGatewayError(e) ? e : new GatewayError('server', e instanceof Error ? e.message : String(e), { cause: e });
    this.counters.lastError = `${phase}: ${err.message}`;
    this.opts.log?.warn({ task: this.taskId, kind: err.kind, err: err.message }, `session ${phase} failed`);
    this.safe(() => this.opts.onError?.(err, phase), 'onError');
  }

  private safe(fn: () => void, what: string): void {
    try {
      fn();
    } catch (e) {
      this.opts.log?.error({ err: e instanceof Error ? { message: e.message, stack: e.stack } : String(e) }, `${what} threw`);
    }
  }
}
