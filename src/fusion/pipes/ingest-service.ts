/**
 * The ingest protocol's operations (spec 10), independent of HTTP: sessions (create, heartbeat, delete),
 * event batches, and the consistency signals. Routes authenticate and validate, then call in here.
 *
 * Ordering rule: everything that touches a view on behalf of a pipe (session start, audit start/end,
 * live-mode reset, job completion) goes through that pipe's queue, so it happens in arrival order
 * relative to the event batches before it.
 */
import { FustorError, busy } from '../../kernel/errors.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { EventBatch, HeartbeatRequest, HeartbeatResponse, IngestResponse, SentinelFeedback, SessionCreateRequest, SessionCreateResponse, SentinelTasks } from '../../protocol/index.ts';
import { JobStore } from '../sessions/job-store.ts';
import { SessionRegistry, type EndReason, type Session, type SessionClock } from '../sessions/session-registry.ts';
import type { PipeRuntime, PipeSignals } from './pipe-runtime.ts';
import { ReplayGuard, batchIdentity } from './replay-guard.ts';

/** What the service needs from the gateway: the running pipes, and word of a finished bulk load. */
export interface PipeDirectory {
  pipe(pipeId: string): PipeRuntime | undefined;
  pipes(): Iterable<PipeRuntime>;
  /** A snapshot made a view scope ready (the gateway may compact its heap, see kernel/heap-compaction.ts). */
  snapshotLoaded(): void;
}

const FORCED: ReadonlySet<EndReason> = new Set(['pipe stopped', 'view restarted', 'view reset', 'key revoked', 'access revoked', 'shutdown']);
const MAX_CONFIG_REPORT_CHARS = 1024 * 1024;

export class IngestService implements PipeSignals {
  readonly registry: SessionRegistry;
  readonly jobs = new JobStore();
  private readonly replay = new ReplayGuard();
  /** Per pipe: sessions created and closed (PipeInfo statistics). */
  readonly sessionCounts = new Map<string, { created: number; closed: number }>();

  constructor(private readonly dir: PipeDirectory, private readonly log: Logger, clock?: SessionClock) {
    this.registry = new SessionRegistry({
      started: (s) => this.onStarted(s),
      ended: (s, reason, info) => this.onEnded(s, reason, info.wasLeader, info.promoted),
    }, clock);
  }

  /** `principal`: the API key, or `agent:<member id>` (then `memberId` is set) for a managed agent's credential. */
  createSession(pipeId: string, principal: string, req: SessionCreateRequest, clientIp: string, memberId: string | null = null): SessionCreateResponse {
    const pipe = this.dir.pipe(pipeId);
    if (pipe === undefined) throw new FustorError('SESSION_CONFLICT', `pipe '${pipeId}' is not running (disabled, or none of its views is enabled)`);
    const cfg = pipe.config;
    const primary = pipe.viewDrivers()[0];
    const hint = req.session_timeout_seconds ?? 0;
    const session = this.registry.create({
      pipeId,
      taskId: req.task_id,
      principal,
      memberId,
      scope: primary.electionKey(pipeId),
      timeoutSeconds: Math.max(hint, cfg.sessionTimeoutSeconds),
      allowConcurrentPush: cfg.allowConcurrentPush,
      sourceUri: typeof req.client_info?.source_uri === 'string' ? req.client_info.source_uri : '',
      clientIp,
    });
    const role = this.registry.role(session);
    return {
      session_id: session.id,
      role,
      is_leader: role === 'leader',
      session_timeout_seconds: session.timeoutSeconds,
      audit_interval_sec: cfg.auditIntervalSec,
      sentinel_interval_sec: cfg.sentinelIntervalSec,
      message: 'Session created successfully',
    };
  }

  /** The live session `id`, checked against the principal that created it (419 unknown/expired, 403 other key). */
  session(id: string, principal: string): Session {
    const s = this.registry.get(id);
    if (s === undefined) throw new FustorError('SESSION_OBSOLETE', `Session ${id} not found or expired; create a new session`);
    if (s.principal !== principal) throw new FustorError('FORBIDDEN', `session ${id} belongs to another key or agent`);
    return s;
  }

  heartbeat(s: Session, req: HeartbeatRequest): HeartbeatResponse {
    const commands = this.registry.heartbeat(s, req.can_realtime, req.agent_status);
    const role = this.registry.role(s);
    return { status: 'ok', session_id: s.id, role, is_leader: role === 'leader', commands };
  }

  /** Idempotent: an unknown session is "already terminated"; a live one of another key is 403. */
  deleteSession(id: string, principal: string): { status: 'ok'; message: string } {
    const s = this.registry.get(id);
    if (s === undefined) return { status: 'ok', message: `Session ${id} already terminated` };
    if (s.principal !== principal) throw new FustorError('FORBIDDEN', `session ${id} belongs to another key or agent`);
    this.registry.terminate(id, 'deleted');
    return { status: 'ok', message: `Session ${id} terminated successfully` };
  }

  ingest(s: Session, batch: EventBatch): IngestResponse {
    const pipe = this.dir.pipe(s.pipeId);
    if (pipe === undefined) throw new FustorError('SESSION_OBSOLETE', `pipe '${s.pipeId}' is not running; create a new session`);
    // Static<> of the protocol's mapped literal unions collapses to `undefined`; the runtime schema is right.
    const sourceType = batch.source_type ?? 'message';
    if (sourceType === 'config_report') {
      const md = batch.metadata ?? {};
      const yaml = typeof md.config_yaml === 'string' ? md.config_yaml.slice(0, MAX_CONFIG_REPORT_CHARS) : null;
      s.configReport = { filename: typeof md.filename === 'string' ? md.filename : null, configYaml: yaml, receivedAt: Date.now() / 1000 };
      return { status: 'ok', count: 0, phase: 'config_report' };
    }
    let rows = 0;
    for (const e of batch.events) rows += e.rows.length;
    const identity = batchIdentity(batch);
    if (this.replay.isDuplicate(s.id, identity)) {
      pipe.counters.batchesDuplicate++;
      return { status: 'ok', count: rows, duplicate: true };
    }
    const accepted = pipe.offer({
      sessionId: s.id,
      lineage: { pipeId: s.pipeId, agentId: s.agentId, sourceUri: s.sourceUri },
      events: batch.events,
      sourceType,
      isEnd: batch.is_end === true,
      metadata: batch.metadata,
      rows,
    });
    if (!accepted) throw busy(`pipe '${s.pipeId}' queue is full (${pipe.config.queueCapacity} batches); retry later`, 1);
    this.replay.remember(s.id, identity);
    return sourceType === 'job_complete' ? { status: 'ok', count: rows, phase: 'job_complete' } : { status: 'ok', count: rows };
  }

  /** Explicit audit window start for every view of the pipe, in queue order. */
  async auditStart(pipeId: string): Promise<number> {
    const pipe = this.requirePipe(pipeId);
    const views = pipe.viewDrivers();
    await pipe.control('audit start', () => views.forEach((v) => v.auditStart(pipeId)));
    return views.length;
  }

  /** Audit end after the queue drained up to now (bounded wait: the agent must not hang on us). */
  async auditEnd(pipeId: string, waitMs = 10_000): Promise<number> {
    const pipe = this.requirePipe(pipeId);
    const views = pipe.viewDrivers();
    const done = pipe.control('audit end', () => views.forEach((v) => v.auditEnd(pipeId)));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise((r) => { timer = setTimeout(r, waitMs); })]);
    clearTimeout(timer);
    return views.length;
  }

  sentinelTasks(pipeId: string): SentinelTasks {
    const pipe = this.requirePipe(pipeId);
    const paths = new Set<string>();
    for (const v of pipe.viewDrivers()) for (const p of v.sentinelTasks(pipeId)) paths.add(p);
    if (paths.size === 0) return {};
    return { type: 'suspect_check', paths: [...paths], view_id: pipe.config.viewIds[0] };
  }

  sentinelFeedback(pipeId: string, body: SentinelFeedback): { status: 'processed' | 'ignored'; drivers_updated?: number; reason?: string } {
    const pipe = this.requirePipe(pipeId);
    if (body.type !== 'suspect_update') return { status: 'ignored', reason: 'unknown_type' };
    let n = 0;
    for (const v of pipe.viewDrivers()) {
      v.sentinelFeedback(body.updates, pipeId);
      n++;
    }
    return { status: 'processed', drivers_updated: n };
  }

  // ---- PipeSignals (called from the pipe loops) ----

  snapshotEnded(pipeId: string, sessionId: string): void {
    if (this.registry.snapshotEnded(sessionId)) this.log.info({ pipe: pipeId, session: sessionId }, 'snapshot complete: view scope ready');
    this.dir.snapshotLoaded();
  }

  jobCompleted(_pipeId: string, sessionId: string, metadata: Record<string, unknown> | undefined): void {
    const jobId = typeof metadata?.job_id === 'string' ? metadata.job_id : undefined;
    const scanPath = typeof metadata?.scan_path === 'string' ? metadata.scan_path : undefined;
    this.jobs.complete(sessionId, jobId, scanPath);
  }

  /** End the sessions of a pipe (pipe stopped or restarted, one of its views restarted or reset). */
  dropPipeSessions(pipeId: string, reason: EndReason): number {
    const list = this.registry.ofPipe(pipeId);
    for (const s of list) this.registry.terminate(s.id, reason);
    return list.length;
  }

  dropAll(reason: EndReason): void {
    for (const s of this.registry.live()) this.registry.terminate(s.id, reason);
  }

  private requirePipe(pipeId: string): PipeRuntime {
    const pipe = this.dir.pipe(pipeId);
    if (pipe === undefined) throw new FustorError('NOT_FOUND', `pipe '${pipeId}' is not running`);
    return pipe;
  }

  private counts(pipeId: string): { created: number; closed: number } {
    let c = this.sessionCounts.get(pipeId);
    if (c === undefined) {
      c = { created: 0, closed: 0 };
      this.sessionCounts.set(pipeId, c);
    }
    return c;
  }

  private onStarted(s: Session): void {
    this.counts(s.pipeId).created++;
    const pipe = this.dir.pipe(s.pipeId);
    if (pipe !== undefined) {
      const views = pipe.viewDrivers();
      void pipe.control('session start', () => views.forEach((v) => v.sessionStart(s.pipeId)));
    }
    this.log.info({ session: s.id, pipe: s.pipeId, task: s.taskId, role: this.registry.role(s), timeout: s.timeoutSeconds }, 'session created');
  }

  private onEnded(s: Session, reason: EndReason, wasLeader: boolean, promoted: Session | null): void {
    this.counts(s.pipeId).closed++;
    this.jobs.sessionEnded(s.id);
    this.replay.forget(s.id);
    const pipe = this.dir.pipe(s.pipeId);
    if (pipe !== undefined && FORCED.has(reason)) pipe.discardSession(s.id);
    this.log.info({ session: s.id, pipe: s.pipeId, task: s.taskId, reason, was_leader: wasLeader, promoted: promoted?.id ?? null }, 'session ended');
    if (promoted !== null) this.log.info({ session: promoted.id, pipe: promoted.pipeId }, 'session promoted to leader: a fresh snapshot is required');
    if (pipe !== undefined && pipe.config.liveMode && reason !== 'shutdown') this.liveModeReset(pipe);
  }

  /** Live mode: a view whose last feeding session ended is emptied (and is 503 for lack of a leader). */
  private liveModeReset(pipe: PipeRuntime): void {
    const live = this.registry.live();
    for (const view of pipe.viewDrivers()) {
      if (view.kind === 'forest-fs') {
        if (live.some((o) => o.pipeId === pipe.id)) continue;
        void pipe.control('live-mode reset', () => view.reset(pipe.id));
      } else {
        const feeding = [...this.dir.pipes()].filter((p) => p.viewDrivers().includes(view)).map((p) => p.id);
        if (live.some((o) => feeding.includes(o.pipeId))) continue;
        void pipe.control('live-mode reset', () => view.reset());
      }
      this.log.info({ view: view.viewId, pipe: pipe.id }, 'live mode: last session ended, view reset');
    }
  }
}
