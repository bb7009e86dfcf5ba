/**
 * Agent sessions of every pipe, leader election and per-session command queues (spec 10, "Sessions,
 * leadership, readiness").
 *
 * Invariants:
 * - One leader per election scope (`driver.electionKey(pipeId)`): first come, first served, never
 *   pre-empted. When the leader ends or expires, the oldest live session of the scope is promoted at
 *   once; it must snapshot again, so the scope's snapshot mark is cleared on every leader change.
 * - A scope is snapshot-complete only when `snapshotDoneBy === leader` (set by the pipe loop when the
 *   leader's `snapshot is_end` batch has been applied, i.e. the queue drained up to it).
 * - Only heartbeats refresh liveness. An expired session is treated as unknown from the moment it expires
 *   (the periodic sweep and every lookup terminate it).
 * - The principal that created a session (its API key, or `agent:<member id>` for a managed agent's
 *   credential, so the session survives the renewal of that credential) is kept to authorise later calls;
 *   it is never logged or returned.
 */
import { randomUUID } from 'node:crypto';
import { FustorError } from '../../kernel/errors.ts';
import type { Command, Role } from '../../protocol/index.ts';

export interface SessionClock {
  /** Monotonic milliseconds (liveness). */
  monoMs(): number;
  /** Wall clock, epoch seconds (reported times). */
  nowSec(): number;
}
export const systemSessionClock: SessionClock = { monoMs: () => performance.now(), nowSec: () => Date.now() / 1000 };

export interface Session {
  readonly id: string;
  readonly pipeId: string;
  readonly taskId: string;
  readonly agentId: string;
  readonly principal: string;
  /** The controller's member id of the agent when the session was created with a credential (managed mode). */
  readonly memberId: string | null;
  readonly scope: string;
  readonly sourceUri: string;
  readonly clientIp: string;
  readonly createdAt: number;
  readonly timeoutSeconds: number;
  lastHeartbeatAt: number;
  lastSeenMono: number;
  canRealtime: boolean;
  agentStatus: Record<string, unknown> | null;
  configReport: { filename: string | null; configYaml: string | null; receivedAt: number } | null;
  commands: Command[];
}

export interface SessionInit {
  pipeId: string;
  taskId: string;
  principal: string;
  memberId?: string | null;
  scope: string;
  timeoutSeconds: number;
  allowConcurrentPush: boolean;
  sourceUri: string;
  clientIp: string;
}

export type EndReason = 'deleted' | 'expired' | 'replaced' | 'pipe stopped' | 'view restarted' | 'view reset' | 'key revoked' | 'access revoked' | 'shutdown';

export interface SessionHooks {
  started(session: Session): void;
  /** After removal; `promoted` is the session that took over leadership, if any. */
  ended(session: Session, reason: EndReason, info: { wasLeader: boolean; promoted: Session | null }): void;
}

interface ScopeState { leader: string | null; snapshotDoneBy: string | null }

export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();
  private readonly scopes = new Map<string, ScopeState>();
  private created = 0;
  private closed = 0;

  constructor(private readonly hooks: SessionHooks, private readonly clock: SessionClock = systemSessionClock) {}

  /** Create a session (replacing one of the same task); throws SESSION_LOCKED when the scope is locked. */
  create(init: SessionInit): Session {
    for (const old of [...this.sessions.values()]) {
      if (old.pipeId === init.pipeId && old.taskId === init.taskId) this.terminate(old.id, 'replaced');
    }
    if (!init.allowConcurrentPush) {
      const holder = this.live().find((s) => s.scope === init.scope);
      if (holder !== undefined) {
        throw new FustorError('SESSION_LOCKED', `pipe '${init.pipeId}' is locked by session ${holder.id} of task '${holder.taskId}' (allow_concurrent_push: false)`);
      }
    }
    const now = this.clock.nowSec();
    const colon = init.taskId.indexOf(':');
    const session: Session = {
      id: randomUUID(),
      pipeId: init.pipeId,
      taskId: init.taskId,
      agentId: colon > 0 ? init.taskId.slice(0, colon) : init.taskId,
      principal: init.principal,
      memberId: init.memberId ?? null,
      scope: init.scope,
      sourceUri: init.sourceUri,
      clientIp: init.clientIp,
      createdAt: now,
      timeoutSeconds: init.timeoutSeconds,
      lastHeartbeatAt: now,
      lastSeenMono: this.clock.monoMs(),
      canRealtime: false,
      agentStatus: null,
      configReport: null,
      commands: [],
    };
    this.sessions.set(session.id, session);
    this.created++;
    const scope = this.scopeState(init.scope);
    if (scope.leader === null) {
      scope.leader = session.id;
      scope.snapshotDoneBy = null;
    }
    this.hooks.started(session);
    return session;
  }

  /** A live session, or undefined (unknown, ended or expired — an expired one is terminated here). */
  get(id: string): Session | undefined {
    const s = this.sessions.get(id);
    if (s === undefined) return undefined;
    if (this.isExpired(s)) {
      this.terminate(id, 'expired');
      return undefined;
    }
    return s;
  }

  /** Refresh liveness, record the agent's flags and hand over pending commands. */
  heartbeat(s: Session, canRealtime: boolean | undefined, agentStatus: Record<string, unknown> | undefined): Command[] {
    s.lastSeenMono = this.clock.monoMs();
    s.lastHeartbeatAt = this.clock.nowSec();
    if (canRealtime !== undefined) s.canRealtime = canRealtime;
    if (agentStatus !== undefined) s.agentStatus = agentStatus;
    // Safety net: a scope without a leader (should not happen, promotion is immediate) elects this session.
    const scope = this.scopeState(s.scope);
    if (scope.leader === null) {
      scope.leader = s.id;
      scope.snapshotDoneBy = null;
    }
    const commands = s.commands;
    s.commands = [];
    return commands;
  }

  role(s: Session): Role {
    return this.scopes.get(s.scope)?.leader === s.id ? 'leader' : 'follower';
  }

  /** End a session. Returns false when it did not exist (idempotent DELETE). */
  terminate(id: string, reason: EndReason): boolean {
    const s = this.sessions.get(id);
    if (s === undefined) return false;
    this.sessions.delete(id);
    this.closed++;
    const scope = this.scopeState(s.scope);
    const wasLeader = scope.leader === s.id;
    let promoted: Session | null = null;
    if (wasLeader) {
      scope.leader = null;
      scope.snapshotDoneBy = null;
      promoted = this.live().find((o) => o.scope === s.scope) ?? null;
      if (promoted !== null) scope.leader = promoted.id;
    }
    if (scope.leader === null && !this.hasSessionIn(s.scope)) this.scopes.delete(s.scope);
    this.hooks.ended(s, reason, { wasLeader, promoted });
    return true;
  }

  /** Terminate every expired session; returns how many. */
  sweep(): number {
    let n = 0;
    for (const s of [...this.sessions.values()]) {
      if (this.sessions.has(s.id) && this.isExpired(s)) {
        this.terminate(s.id, 'expired');
        n++;
      }
    }
    return n;
  }

  /**
   * The pipe loop applied the `snapshot is_end` batch of this session. Marks the scope snapshot-complete
   * if the session is (still) its leader; a follower's or a former leader's end is ignored.
   */
  snapshotEnded(sessionId: string): boolean {
    const s = this.sessions.get(sessionId);
    if (s === undefined) return false;
    const scope = this.scopeState(s.scope);
    if (scope.leader !== sessionId) return false;
    scope.snapshotDoneBy = sessionId;
    return true;
  }

  /** Readiness of an election scope, with the reason when not ready. */
  scopeReadiness(scopeKey: string): { ready: boolean; reason: string | null; leader: string | null } {
    const scope = this.scopes.get(scopeKey);
    if (scope === undefined || scope.leader === null) return { ready: false, reason: 'no active leader session', leader: null };
    if (scope.snapshotDoneBy !== scope.leader) return { ready: false, reason: 'initial snapshot in progress', leader: scope.leader };
    return { ready: true, reason: null, leader: scope.leader };
  }

  leaderOf(scopeKey: string): string | null {
    return this.scopes.get(scopeKey)?.leader ?? null;
  }

  /** Sessions in creation order (expired ones that the sweep has not removed yet are skipped). */
  live(): Session[] {
    return [...this.sessions.values()].filter((s) => !this.isExpired(s));
  }

  ofPipe(pipeId: string): Session[] {
    return this.live().filter((s) => s.pipeId === pipeId);
  }

  counters(): { created: number; closed: number; active: number } {
    return { created: this.created, closed: this.closed, active: this.sessions.size };
  }

  private hasSessionIn(scopeKey: string): boolean {
    for (const s of this.sessions.values()) if (s.scope === scopeKey) return true;
    return false;
  }

  private isExpired(s: Session): boolean {
    return this.clock.monoMs() - s.lastSeenMono >= s.timeoutSeconds * 1000;
  }

  private scopeState(key: string): ScopeState {
    let st = this.scopes.get(key);
    if (st === undefined) {
      st = { leader: null, snapshotDoneBy: null };
      this.scopes.set(key, st);
    }
    return st;
  }
}
