/**
 * PipeRunner: one pipe = one fs source + one PipeSender (spec 40 "Pipe lifecycle").
 *
 * - Realtime watch starts before the session opens, so nothing written during the snapshot is missed.
 * - Leader: snapshot when the session becomes leader (first leadership and every promotion, incl. a new
 *   session after a 419), then an audit every audit interval and a sentinel pass every sentinel interval.
 *   Leader work is one serial loop tied to the session epoch; demotion or a session reset cancels it (the
 *   next `compensating` call of the running walk rejects, which ends the walk).
 * - Follower: realtime only.
 * - `scan` commands run whatever the role, off the loop, and end with `job_complete` (sent by the source).
 * - Session reset → the audit cache is cleared; the new session's role decides about a new snapshot.
 * - Sender buffer full → degraded, and (leader) an audit is scheduled.
 * Nothing here throws into the event loop: errors become `lastError` and log lines.
 */
import { credentialFromFile } from '../sender/credential-file.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { Role, ScanCommand } from '../../protocol/index.ts';
import type { ResolvedPipe } from '../config/load-config.ts';
import type { CompensatingSource, Row, SourceOutput, SourceSignal } from '../fs/source/types.ts';
import { FsSource } from '../fs/source/index.ts';
import type { EncodedWalkRows } from '../fs/walker/index.ts';
import { PipeSender } from '../sender/index.ts';
import { compileFieldsMapping } from './fields-mapping.ts';
import type { LeaderWork, PipeSource, PipeStatus, SourceFactory } from './pipe-types.ts';

class Cancelled extends Error {
  constructor(reason: string) {
    super(`leader work cancelled: ${reason}`);
    this.name = 'Cancelled';
  }
}

interface LeaderRun { epoch: number; cancelled: string | null; wake: () => void }

export interface PipeRunnerOptions {
  log: Logger;
  /** Creates the fs source; default: the real FsSource (src/agent/fs/source). */
  createSource?: SourceFactory;
  /** Called on every sign of progress (a timer tick, a batch acknowledged, a walk batch). */
  onProgress?: () => void;
  /** Called when something the shell shows changed (role, session): report the status now. */
  onChange?: () => void;
}

/**
 * The pipe's batching, tuned for walks (P5): four bulk requests on the wire (plus the slot kept for
 * realtime) and a buffer that holds them. Bulk batches stay at 10,000 rows / 4 MiB: 32 k-row bodies cost
 * the gateway ~20 % more CPU per row (2.9 → 3.5 s for 1 M rows) for no gain in wall time.
 */
const PIPE_BATCHING = { maxBulkBatchRows: 10_000, maxBulkBatchBytes: 4 * 1024 * 1024, maxInFlight: 5, maxBufferRows: 200_000 } as const;

const defaultFactory: SourceFactory = (opts, output) => new FsSource(opts, output);

export class PipeRunner {
  private source: PipeSource | null = null;
  private sender: PipeSender | null = null;
  private leader: LeaderRun | null = null;
  private state: PipeStatus['state'] = 'starting';
  private leaderWork: LeaderWork = 'idle';
  private lastError: string | null = null;
  private senderDegraded: string | null = null;
  private auditRequested = false;
  private auditEpoch: number | null = null;
  private counts = { snapshots: 0, audits: 0, scans: 0 };
  private readonly scans = new Set<Promise<void>>();
  private closed = false;
  /** The pipe's fields_mapping projection (null = rows pass through); validated when the config was loaded. */
  private readonly mapRow: ((row: Row) => Row) | null;

  constructor(private readonly cfg: ResolvedPipe, private readonly opts: PipeRunnerOptions) {
    this.mapRow = compileFieldsMapping(cfg.fieldsMapping) as ((row: Row) => Row) | null;
  }

  private get log(): Logger {
    return this.opts.log;
  }

  async start(): Promise<void> {
    const cfg = this.cfg;
    const factory = this.opts.createSource ?? defaultFactory;
    const sender = new PipeSender({
      url: cfg.sender.uri,
      apiKey: cfg.sender.credentialFile === null ? cfg.sender.key : credentialFromFile(cfg.sender.credentialFile),
      managed: cfg.sender.credentialFile !== null,
      agentId: cfg.agentId,
      pipeId: cfg.pipeId,
      sourceUri: `fs://${cfg.source.uri}`,
      sessionTimeoutSeconds: cfg.sessionTimeoutSeconds ?? undefined,
      requestTimeoutMs: Math.min(10_000, cfg.sender.timeoutSec * 1000),
      pushTimeoutMs: cfg.sender.timeoutSec * 1000,
      batching: { clock: () => this.source?.clock?.() ?? Date.now(), ...PIPE_BATCHING },
      agentStatus: () => this.heartbeatStatus(),
      onRole: (role, change) => this.onRole(role, change.promoted, change.epoch),
      onCommand: (cmd) => this.onCommand(cmd),
      onSessionReset: (reset) => this.onSessionReset(reset.reason),
      onDegraded: (reason) => this.onDegraded(reason),
      onAborted: (source, info) => this.log.warn({ source, rows: info.rowsDiscarded, reason: info.reason }, 'bulk run aborted by a session reset'),
      onError: (e, where) => {
        this.lastError = `${where}: ${e.message}`;
      },
      log: this.log,
    });
    this.sender = sender;
    const output: SourceOutput = {
      realtime: (rows, kind) => this.realtime(rows, kind),
      compensating: (rows, source) => this.compensating(rows, source),
      signal: (sig) => this.signal(sig),
    };
    // Pre-encoded walk rows go to the sender as they are, unless fields_mapping has to rewrite them.
    if (this.mapRow === null) output.compensatingEncoded = (rows, source) => this.compensatingEncoded(rows, source);
    this.source = await factory({
      root: cfg.source.uri,
      pipeId: cfg.pipeId,
      watchLimit: cfg.source.watchLimit,
      throttleIntervalSec: cfg.source.throttleIntervalSec,
      maxScanWorkers: cfg.source.maxScanWorkers,
      filePattern: cfg.source.filePattern,
      log: this.log,
      onAuditNeeded: (reason, subPath) => this.requestAudit(`${reason} (${subPath})`),
    }, output);
    // Watch first (spec 40 §2), then open the session: its role decides about the snapshot.
    await this.source.startWatching();
    if (this.closed) return;
    sender.start();
    this.state = 'running';
    this.log.info({ pipe: cfg.pipeId, root: cfg.source.uri, gateway: cfg.sender.uri }, 'pipe started');
  }

  status(): PipeStatus {
    const s = this.sender?.status();
    let src: ReturnType<PipeSource['status']> | null = null;
    try {
      src = this.source?.status() ?? null;
    } catch (e) {
      this.lastError = `source status: ${errText(e)}`;
    }
    const degraded = [...(src?.degraded ?? [])];
    if (this.senderDegraded !== null && !degraded.includes(this.senderDegraded)) degraded.push(this.senderDegraded);
    if (s !== undefined && s.session.state === 'connecting' && s.session.lastError !== null) degraded.push(`gateway: ${s.session.lastError}`);
    return {
      pipeId: this.cfg.pipeId,
      state: this.state,
      role: s?.session.role ?? null,
      sessionId: s?.session.sessionId ?? null,
      sessionState: s?.session.state ?? 'none',
      leaderWork: this.leaderWork,
      ...this.counts,
      eventsPerSec: Math.round(s?.sender.eventsPerSec ?? 0),
      rowsSent: s?.sender.rowsSent ?? 0,
      bufferDepth: s?.sender.bufferDepth ?? 0,
      freshnessLagSec: Math.round((s?.sender.freshnessLagSec ?? 0) * 10) / 10,
      walk: src?.walk ?? null,
      watchCount: src?.watchCount ?? 0,
      watchLimit: src?.watchLimit ?? this.cfg.source.watchLimit,
      degraded,
      lastError: this.lastError ?? src?.lastError ?? s?.sender.lastError ?? s?.session.lastError ?? null,
      at: Date.now(),
    };
  }

  /** Stop leader work and scans, close the source, delete the session (best effort, bounded). */
  async stop(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.state = 'stopping';
    this.cancelLeader('pipe stopping');
    const source = this.source;
    const sender = this.sender;
    await Promise.allSettled([source?.close(), sender?.close({ drainMs: 1000 })]);
    this.log.info({ pipe: this.cfg.pipeId }, 'pipe stopped');
  }

  // ---- source output ----

  private project(rows: Row[]): Row[] {
    const map = this.mapRow;
    return map === null ? rows : rows.map(map);
  }

  private realtime(rows: Row[], kind: 'upsert' | 'delete'): boolean {
    const sender = this.sender;
    if (sender === null || this.closed) return true;
    return sender.send(this.project(rows), { source: 'realtime', eventType: kind === 'delete' ? 'delete' : 'update' });
  }

  private async compensating(rows: Row[], source: CompensatingSource): Promise<void> {
    const sender = this.requireSender();
    this.opts.onProgress?.();
    if (source === 'on_demand_job') return sender.sendAsync(this.project(rows), { source });
    const run = this.requireLeader();
    await sender.sendAsync(this.project(rows), { source, epoch: run.epoch });
    this.opts.onProgress?.();
  }

  private async compensatingEncoded(rows: EncodedWalkRows, source: CompensatingSource): Promise<void> {
    const sender = this.requireSender();
    this.opts.onProgress?.();
    if (source === 'on_demand_job') return sender.sendEncodedAsync(rows, { source });
    const run = this.requireLeader();
    await sender.sendEncodedAsync(rows, { source, epoch: run.epoch });
    this.opts.onProgress?.();
  }

  private async signal(sig: SourceSignal): Promise<void> {
    const sender = this.requireSender();
    switch (sig.type) {
      case 'snapshot_end':
        await sender.sendAsync([], { source: 'snapshot', isEnd: true, epoch: this.requireLeader().epoch });
        return;
      case 'audit_start':
        this.auditEpoch = this.requireLeader().epoch;
        await sender.client.auditStart();
        return;
      case 'audit_end':
        // The end of an audit must go out even if leader work was cancelled meanwhile (the walk's `finally`),
        // but only on the session the audit started on.
        await sender.sendAsync([], { source: 'audit', isEnd: true, epoch: this.auditEpoch ?? undefined });
        return;
      case 'job_complete':
        await sender.sendAsync([], { source: 'on_demand_job', isEnd: true, metadata: { job_id: sig.jobId, scan_path: sig.scanPath } });
        return;
    }
  }

  private requireSender(): PipeSender {
    if (this.sender === null || this.closed) throw new Cancelled('pipe stopping');
    return this.sender;
  }

  private requireLeader(): LeaderRun {
    const run = this.leader;
    if (run === null) throw new Cancelled('not leader');
    if (run.cancelled !== null) throw new Cancelled(run.cancelled);
    return run;
  }

  // ---- session events ----

  private onRole(role: Role, promoted: boolean, epoch: number): void {
    if (this.closed) return;
    queueMicrotask(() => this.opts.onChange?.());
    if (role === 'leader') {
      if (promoted || this.leader === null || this.leader.epoch !== epoch) this.startLeader(epoch);
    } else {
      this.cancelLeader('demoted to follower');
    }
  }

  private onSessionReset(reason: string): void {
    this.log.warn({ pipe: this.cfg.pipeId, reason }, 'session reset: a new session will be opened');
    this.cancelLeader(`session reset (${reason})`);
    queueMicrotask(() => this.opts.onChange?.());
    this.safe(() => this.source?.resetAuditCache());
  }

  private onDegraded(reason: string | null): void {
    this.senderDegraded = reason;
    if (reason !== null) this.requestAudit(reason);
  }

  private onCommand(cmd: ScanCommand): void {
    const source = this.source;
    if (source === null || this.closed) return;
    this.counts.scans++;
    const p = source.scan(cmd.path, cmd.recursive, cmd.job_id).catch((e: unknown) => {
      this.lastError = `scan ${cmd.path}: ${errText(e)}`;
      this.log.warn({ pipe: this.cfg.pipeId, path: cmd.path, err: errText(e) }, 'on-demand scan failed');
    });
    this.scans.add(p);
    void p.finally(() => this.scans.delete(p));
  }

  /**
   * The controller's `rescan` command: the leader clears its audit cache and audits the whole tree now
   * (deletions included); a follower does not audit (the leader does), so it scans the whole root on
   * demand instead. Answers at once with what was started — a walk of a large tree takes minutes.
   */
  rescan(id: string): { ok: boolean; message: string } {
    const source = this.source;
    if (source === null || this.closed || this.state !== 'running') return { ok: false, message: `pipe ${this.cfg.pipeId} is ${this.closed ? 'stopping' : 'starting'}; retry when it runs` };
    const role = this.sender?.role ?? null;
    if (role === 'leader' && this.leader !== null && this.leader.cancelled === null) {
      if (this.leaderWork === 'snapshot') return { ok: true, message: `pipe ${this.cfg.pipeId}: the initial snapshot is running; it covers the whole tree` };
      this.safe(() => source.resetAuditCache());
      this.requestAudit('rescan requested by the controller');
      return { ok: true, message: `pipe ${this.cfg.pipeId}: full audit started (leader; audit cache cleared)` };
    }
    if (role === 'follower') {
      this.onCommand({ type: 'scan', path: '/', recursive: true, job_id: `rescan-${id}`, created_at: Date.now() / 1000 });
      return { ok: true, message: `pipe ${this.cfg.pipeId}: scan of the whole root started (follower; the leader audits)` };
    }
    return { ok: false, message: `pipe ${this.cfg.pipeId} has no gateway session yet; retry when it is connected` };
  }

  private requestAudit(reason: string): void {
    if (this.leader === null || this.leader.cancelled !== null) return; // followers: the leader audits
    this.log.info({ pipe: this.cfg.pipeId, reason }, 'audit requested');
    this.auditRequested = true;
    this.leader.wake();
  }

  // ---- leader work ----

  private startLeader(epoch: number): void {
    this.cancelLeader('new leadership');
    let wake: () => void = () => undefined;
    const run: LeaderRun = { epoch, cancelled: null, wake: () => wake() };
    this.leader = run;
    this.safe(() => this.source?.resetAuditCache());
    const sleep = (ms: number) => new Promise<void>((resolve) => {
      const t = setTimeout(done, Math.max(0, ms));
      function done() {
        clearTimeout(t);
        wake = () => undefined;
        resolve();
      }
      wake = done;
    });
    void this.leaderLoop(run, sleep);
  }

  private cancelLeader(reason: string): void {
    const run = this.leader;
    if (run === null) return;
    if (run.cancelled === null) {
      run.cancelled = reason;
      this.log.info({ pipe: this.cfg.pipeId, reason }, 'leader work cancelled');
    }
    this.leader = null;
    run.wake();
  }

  private intervals(): { audit: number; sentinel: number } {
    const info = this.sender?.session.current;
    const audit = this.cfg.auditIntervalSec ?? info?.auditIntervalSec ?? 43_200;
    const sentinel = this.cfg.sentinelIntervalSec ?? info?.sentinelIntervalSec ?? 300;
    return { audit: audit * 1000, sentinel: sentinel * 1000 };
  }

  private async leaderLoop(run: LeaderRun, sleep: (ms: number) => Promise<void>): Promise<void> {
    const source = this.source;
    if (source === null) return;
    const live = () => run.cancelled === null && !this.closed;
    if (!await this.leaderStep(run, 'snapshot', () => source.snapshot())) return;
    this.counts.snapshots++;
    this.auditRequested = false;
    let { audit, sentinel } = this.intervals();
    let nextAudit = audit > 0 ? Date.now() + audit : Infinity;
    let nextSentinel = sentinel > 0 ? Date.now() + sentinel : Infinity;
    while (live()) {
      const wait = Math.min(nextAudit, nextSentinel) - Date.now();
      if (!this.auditRequested && wait > 0) await sleep(Math.min(wait, 2 ** 31 - 1));
      if (!live()) return;
      ({ audit, sentinel } = this.intervals());
      const now = Date.now();
      if (this.auditRequested || now >= nextAudit) {
        this.auditRequested = false;
        // A silent directory (unchanged mtime) is not listed, so an in-place edit of a file in a directory
        // no watch covers would never be seen; every Nth audit therefore lists everything again.
        const every = this.cfg.fullAuditEvery;
        if (every > 0 && this.counts.audits % every === every - 1) this.safe(() => source.resetAuditCache());
        if (await this.leaderStep(run, 'audit', () => source.audit())) this.counts.audits++;
        nextAudit = audit > 0 ? Date.now() + audit : Infinity;
      }
      if (live() && Date.now() >= nextSentinel) {
        await this.leaderStep(run, 'sentinel', () => this.sentinel(source));
        nextSentinel = sentinel > 0 ? Date.now() + sentinel : Infinity;
      }
    }
  }

  /** One piece of leader work; false when it failed or was cancelled. */
  private async leaderStep(run: LeaderRun, work: LeaderWork, fn: () => Promise<void>): Promise<boolean> {
    if (run.cancelled !== null || this.closed) return false;
    this.leaderWork = work;
    try {
      await fn();
      return run.cancelled === null;
    } catch (e) {
      if (run.cancelled === null && !(e instanceof Cancelled)) {
        this.lastError = `${work}: ${errText(e)}`;
        this.log.warn({ pipe: this.cfg.pipeId, work, err: errText(e) }, 'leader work failed');
        if (work === 'snapshot') {
          // A snapshot that failed for another reason than a session reset: try again on a fresh session.
          this.sender?.session.heartbeatNow().catch(() => undefined);
          setTimeout(() => { if (this.leader === run) this.startLeader(run.epoch); }, 2000).unref();
        }
      }
      return false;
    } finally {
      if (this.leader === run || this.leader === null) this.leaderWork = 'idle';
    }
  }

  private async sentinel(source: PipeSource): Promise<void> {
    const sender = this.requireSender();
    const tasks = await sender.client.sentinelTasks();
    if (tasks.type !== 'suspect_check' || tasks.paths === undefined || tasks.paths.length === 0) return;
    const updates = await source.sentinel(tasks.paths);
    this.requireLeader();
    await sender.client.sentinelFeedback({ type: 'suspect_update', updates });
  }

  private heartbeatStatus(): Record<string, unknown> {
    const st = this.status();
    return { state: st.state, leader_work: st.leaderWork, walk: st.walk, watch_count: st.watchCount, degraded: st.degraded };
  }

  private safe(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.lastError = errText(e);
    }
  }
}

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
