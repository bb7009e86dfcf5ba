/**
 * The Fusion gateway runtime: views (engines), pipes (queues + loops), sessions, listeners and
 * housekeeping timers, built from a ResolvedConfig and reconciled on reload. The HTTP routes read this
 * object per request; the CLI (`fustor fusion`) composes it with the config loader and signals.
 *
 * Invariants:
 * - Every resource (socket, timer, pipe loop) is registered in `store` when created; `dispose()` frees all.
 * - A reload never disturbs an unchanged view: its engine, tree and sessions survive. A changed view gets
 *   a new engine and the sessions of the pipes feeding it are dropped (agents reconnect and re-snapshot);
 *   a changed pipe is restarted (new queue, its sessions dropped); its unchanged views keep their trees.
 * - Readiness is derived, never stored: leader + leader's snapshot end applied (sessions + pipe loop).
 */
import type { Registry } from 'prom-client';
import { DisposableStore, toDisposable } from '../kernel/disposable.ts';
import { notFound, notReady } from '../kernel/errors.ts';
import type { Logger } from '../kernel/logger.ts';
import { setServerTls, type TlsMaterial } from '../kernel/tls-files.ts';
import type { Job, PipeInfo } from '../protocol/index.ts';
import { diffConfig, type ConfigDiff } from './config/diff-config.ts';
import { KeyIndex, type KeyGrant } from './config/key-index.ts';
import type { ResolvedConfig, ResolvedPipe } from './config/resolved-config.ts';
import type { AuthSource, CredentialVerifier } from './http/auth.ts';
import { ListenError, ReceiverListeners, openListener, type Listener } from './http/listeners.ts';
import { createMetrics, type MetricsSource } from './http/metrics.ts';
import { HeapCompactor } from '../kernel/heap-compaction.ts';
import { IngestService, type PipeDirectory } from './pipes/ingest-service.ts';
import { PipeRuntime } from './pipes/pipe-runtime.ts';
import type { Session } from './sessions/session-registry.ts';
import type { ViewDriver } from './view/view-driver.ts';
import { createView } from './views/view-factory.ts';

export interface GatewayOptions {
  config: ResolvedConfig;
  log: Logger;
  /** CLI overrides of the main listener. */
  host?: string;
  port?: number;
  /** Managed mode: verifies the credentials agents present (the manifest in `config.access` says what they may do). */
  credentials?: CredentialVerifier;
  /** Every listener (main and receivers) serves HTTPS with this certificate and key; plain HTTP without. */
  tls?: TlsMaterial;
  /**
   * Compact the heap after a snapshot once this many rows were applied since the last compaction
   * (kernel/heap-compaction.ts); 0 = never. Default: FUSTOR_GATEWAY_COMPACT_AFTER_ROWS, else 100,000.
   */
  compactAfterRows?: number;
}

const COMPACT_AFTER_ROWS = 100_000;

export interface ScopeReadiness { pipe_id: string; scope: string; ready: boolean; reason: string | null; leader: string | null }
export interface ViewReadiness { ready: boolean; reason: string | null; kind: string; scopes: ScopeReadiness[] }

const TICK_MS = 500;
const REASON_NO_LEADER = 'no active leader session';

export class Gateway implements PipeDirectory, MetricsSource, AuthSource {
  readonly ingest: IngestService;
  readonly metrics: Registry;
  private current: ResolvedConfig;
  private keyIndex: KeyIndex;
  private readonly views = new Map<string, ViewDriver>();
  private readonly running = new Map<string, PipeRuntime>();
  private readonly rates = new Map<string, { samples: { t: number; rows: number }[]; perSecond: number }>();
  private readonly store = new DisposableStore();
  private readonly receiverListeners: ReceiverListeners;
  private main: Listener | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private lastTickError = 0;
  private readonly compactor: HeapCompactor;

  private constructor(private readonly opts: GatewayOptions) {
    this.current = opts.config;
    this.keyIndex = KeyIndex.build(opts.config);
    this.ingest = new IngestService(this, opts.log);
    this.compactor = new HeapCompactor({
      minRows: opts.compactAfterRows ?? compactAfterRowsFromEnv(opts.log),
      rowsApplied: () => {
        let n = 0;
        for (const p of this.running.values()) n += p.counters.rowsApplied;
        return n;
      },
      onCompacted: (c) => opts.log.info({ rows: c.rows, rss_before_mib: mib(c.rssBefore), rss_after_mib: mib(c.rssAfter), pause_ms: Math.round(c.pauseMs) }, 'heap compacted after a snapshot load'),
    });
    this.metrics = createMetrics(this);
    this.receiverListeners = new ReceiverListeners(this, opts.log, opts.tls);
  }

  /** Build everything and open the listeners. Throws ListenError (one line) when a port cannot be bound. */
  static async start(opts: GatewayOptions): Promise<Gateway> {
    const gw = new Gateway(opts);
    try {
      await gw.open();
    } catch (e) {
      await gw.dispose();
      throw e;
    }
    return gw;
  }

  private async open(): Promise<void> {
    const cfg = this.current;
    for (const v of cfg.views.values()) if (!v.disabled) this.views.set(v.id, createView(v.id, v.driver, v.settings));
    for (const p of cfg.pipes.values()) if (!p.disabled) this.startPipe(p);
    this.store.add(toDisposable(async () => {
      for (const p of this.running.values()) await p.stop();
    }));
    this.store.add(toDisposable(() => this.ingest.dropAll('shutdown')));

    this.main = await openListener(this, this.opts.log, 'main', this.mainHost(), this.mainPort(), { receivers: null }, cfg.maxBodyBytes, 'pass --port', this.opts.tls);
    this.store.add(toDisposable(() => this.main?.app.close()));
    this.store.add(toDisposable(() => this.receiverListeners.closeAll()));
    const { errors } = await this.receiverListeners.sync(cfg, this.mainPort(), cfg.maxBodyBytes);
    if (errors.length > 0) throw new ListenError(errors[0]);

    this.store.addTimer(setInterval(() => this.tick(), TICK_MS));
    this.restartSweep();
    this.store.add(toDisposable(() => { if (this.sweepTimer !== null) clearInterval(this.sweepTimer); }));
  }

  get url(): string {
    return this.main?.url ?? '';
  }

  get config(): ResolvedConfig {
    return this.current;
  }

  receiverUrls(): { url: string; receivers: string[] }[] {
    return this.receiverListeners.list().map((l) => ({ url: l.url, receivers: [...(l.scope.receivers ?? [])] }));
  }

  keys(): KeyIndex {
    return this.keyIndex;
  }

  credentials(): CredentialVerifier | null {
    return this.opts.credentials ?? null;
  }

  view(id: string): ViewDriver | undefined {
    return this.views.get(id);
  }

  pipe(id: string): PipeRuntime | undefined {
    return this.running.get(id);
  }

  pipes(): Iterable<PipeRuntime> {
    return this.running.values();
  }

  /** A renewed certificate (the CLI watches the files): every listener serves it to new connections. */
  setTls(tls: TlsMaterial): void {
    if (this.opts.tls === undefined) return; // a plain-HTTP gateway stays plain
    if (this.main !== null) setServerTls(this.main.app.server, tls);
    this.receiverListeners.setTls(tls);
  }

  snapshotLoaded(): void {
    this.compactor.loadFinished();
  }

  // ---- readiness ----

  viewReadiness(viewId: string): ViewReadiness {
    const driver = this.views.get(viewId);
    if (driver === undefined) return { ready: false, reason: 'view is not running', kind: 'unknown', scopes: [] };
    const scopes: ScopeReadiness[] = [];
    for (const pipe of this.running.values()) {
      const drivers = pipe.viewDrivers();
      if (!drivers.includes(driver)) continue;
      const scope = drivers[0].electionKey(pipe.id);
      if (scopes.some((s) => s.scope === scope)) continue;
      scopes.push({ pipe_id: pipe.id, scope, ...this.ingest.registry.scopeReadiness(scope) });
    }
    const ready = scopes.length > 0 && scopes.every((s) => s.ready);
    const reason = ready ? null : scopes.find((s) => !s.ready && s.leader !== null)?.reason ?? REASON_NO_LEADER;
    return { ready, reason, kind: driver.kind, scopes };
  }

  /**
   * 503 unless the view may answer data queries. An fs view needs every feeding scope ready; a forest
   * view answers as soon as one member is ready (members are shown side by side), while /readyz still
   * waits for all of them.
   */
  assertServable(viewId: string): void {
    const r = this.viewReadiness(viewId);
    const servable = r.kind === 'forest-fs' ? r.scopes.some((s) => s.ready) : r.ready;
    if (servable) return;
    const reason = r.reason ?? REASON_NO_LEADER;
    throw notReady(reason, reason === REASON_NO_LEADER ? 10 : 5);
  }

  readiness(): { ready: boolean; views: Record<string, ViewReadiness> } {
    const views: Record<string, ViewReadiness> = {};
    for (const id of this.views.keys()) views[id] = this.viewReadiness(id);
    return { ready: Object.values(views).every((v) => v.ready), views };
  }

  // ---- pipes, sessions, jobs ----

  visiblePipes(grant: KeyGrant): string[] {
    if (grant.pipe !== null) return [grant.pipe.pipeId];
    return [...this.current.pipes.values()].filter((p) => p.viewIds.some((v) => grant.views.has(v))).map((p) => p.id);
  }

  pipeInfo(id: string): PipeInfo {
    const cfg = this.current.pipes.get(id);
    if (cfg === undefined) throw notFound('Pipe not found');
    const pipe = this.running.get(id);
    const c = pipe?.counters;
    const counts = this.ingest.sessionCounts.get(id) ?? { created: 0, closed: 0 };
    const primary = pipe?.viewDrivers()[0];
    return {
      id,
      view_id: cfg.viewIds[0] ?? '',
      views: cfg.viewIds,
      state: pipe === undefined ? 'disabled' : 'running',
      active_sessions: this.ingest.registry.ofPipe(id).length,
      leader_session: primary === undefined ? null : this.ingest.registry.leaderOf(primary.electionKey(id)),
      statistics: {
        events_received: c?.eventsReceived ?? 0,
        events_processed: c?.eventsProcessed ?? 0,
        rows_rejected: c?.rowsRejected ?? 0,
        batches_rejected_busy: c?.batchesRejectedBusy ?? 0,
        sessions_created: counts.created,
        sessions_closed: counts.closed,
        errors: c?.errors ?? 0,
      },
      queue_size: pipe?.depth() ?? 0,
      queue_capacity: cfg.queueCapacity,
    };
  }

  /** Running pipes that feed a view. */
  private feeding(viewId: string): PipeRuntime[] {
    const driver = this.views.get(viewId);
    return driver === undefined ? [] : [...this.running.values()].filter((p) => p.viewDrivers().includes(driver));
  }

  /** Live sessions of the pipes feeding a view. */
  sessionsFeeding(viewId: string): Session[] {
    const pipes = new Set(this.feeding(viewId).map((p) => p.id));
    return this.ingest.registry.live().filter((s) => pipes.has(s.pipeId));
  }

  sessionsOfView(viewId: string) {
    const reg = this.ingest.registry;
    return this.sessionsFeeding(viewId).map((s) => ({
      session_id: s.id,
      task_id: s.taskId,
      agent_id: s.agentId,
      pipe_id: s.pipeId,
      role: reg.role(s),
      can_realtime: s.canRealtime,
      client_ip: s.clientIp,
      source_uri: s.sourceUri,
      created_at: s.createdAt,
      last_heartbeat_at: s.lastHeartbeatAt,
      session_timeout_seconds: s.timeoutSeconds,
    }));
  }

  /** Queue a `scan` command to every live session feeding the view (reusing a running job for the path). */
  onDemandScan(viewId: string, path: string, recursive: boolean): Job {
    const running = this.ingest.jobs.running(viewId, path);
    if (running !== undefined) return running;
    const sessions = this.sessionsFeeding(viewId);
    const job = this.ingest.jobs.create(viewId, path, sessions.map((s) => s.id));
    const createdAt = Date.now() / 1000;
    for (const s of sessions) s.commands.push({ type: 'scan', path, recursive, job_id: job.job_id, created_at: createdAt });
    this.opts.log.info({ view: viewId, job: job.job_id, sessions: sessions.length }, 'on-demand scan requested');
    return job;
  }

  /** DELETE /reset: empty the view and drop the sessions feeding it, so its agents reconnect and snapshot. */
  resetView(viewId: string): void {
    const driver = this.views.get(viewId);
    if (driver === undefined) throw notFound(`view '${viewId}' unknown`);
    for (const pipe of this.feeding(viewId)) this.ingest.dropPipeSessions(pipe.id, 'view reset');
    driver.reset();
    this.opts.log.info({ view: viewId }, 'view reset by an admin key');
  }

  // ---- reload ----

  /** Reconcile with a new (already validated) config. Returns the diff that was applied. */
  async reload(next: ResolvedConfig): Promise<ConfigDiff> {
    const diff = diffConfig(this.current, next);
    const log = this.opts.log;

    // Views first: pipes are then (re)built against the new engines.
    for (const id of [...diff.views.removed, ...diff.views.changed]) {
      for (const pipe of this.feeding(id)) this.ingest.dropPipeSessions(pipe.id, 'view restarted');
      this.views.delete(id);
      this.ingest.jobs.dropView(id);
    }
    for (const id of [...diff.views.added, ...diff.views.changed]) {
      const v = next.views.get(id)!;
      if (!v.disabled) this.views.set(id, createView(id, v.driver, v.settings));
    }

    for (const id of [...diff.pipes.removed, ...diff.pipes.changed]) await this.stopPipe(id);
    this.current = next;
    for (const id of [...diff.pipes.added, ...diff.pipes.changed]) {
      const p = next.pipes.get(id)!;
      if (!p.disabled) this.startPipe(p);
    }
    for (const id of diff.pipes.unchanged) {
      const pipe = this.running.get(id);
      if (pipe !== undefined) pipe.setViews(this.driversOf(pipe.config));
    }

    this.keyIndex = KeyIndex.build(next);
    for (const s of this.ingest.registry.live()) {
      if (!this.keyIndex.allows(s)) this.ingest.registry.terminate(s.id, s.memberId === null ? 'key revoked' : 'access revoked');
    }

    if (diff.global.includes('sessionCleanupInterval')) this.restartSweep();
    const needRestart = diff.global.filter((k) => k === 'host' || k === 'port' || k === 'maxBodyBytes' || k === 'tls');
    if (needRestart.length > 0) log.warn({ settings: needRestart }, 'these settings apply at the next restart of the gateway');
    const { opened, errors } = await this.receiverListeners.sync(next, this.mainPort(), next.maxBodyBytes);
    for (const l of opened) process.stdout.write(`fusion ingest listening on ${l.url} (receivers: ${[...(l.scope.receivers ?? [])].join(', ')})\n`);
    for (const e of errors) log.error({ problem: e }, 'reload: a receiver listener could not be opened');
    return diff;
  }

  // ---- lifecycle helpers ----

  private driversOf(p: ResolvedPipe): ViewDriver[] {
    return p.viewIds.map((v) => this.views.get(v)).filter((d): d is ViewDriver => d !== undefined);
  }

  private startPipe(p: ResolvedPipe): void {
    const drivers = this.driversOf(p);
    if (drivers.length === 0) return;
    const pipe = new PipeRuntime(p, drivers, this.ingest, this.opts.log);
    this.running.set(p.id, pipe);
    pipe.start();
  }

  private async stopPipe(id: string): Promise<void> {
    const pipe = this.running.get(id);
    if (pipe === undefined) return;
    this.ingest.dropPipeSessions(id, 'pipe stopped');
    this.running.delete(id);
    this.rates.delete(id);
    await pipe.stop();
  }

  private mainHost(): string {
    return this.opts.host ?? this.current.host;
  }

  private mainPort(): number {
    return this.opts.port ?? this.current.port;
  }

  private restartSweep(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = setInterval(() => this.ingest.registry.sweep(), this.current.sessionCleanupInterval * 1000);
  }

  private tick(): void {
    for (const view of this.views.values()) {
      try {
        view.tick();
      } catch (e) {
        const now = Date.now();
        if (now - this.lastTickError > 5000) {
          this.lastTickError = now;
          this.opts.log.error({ view: view.viewId, err: e instanceof Error ? { message: e.message, stack: e.stack } : String(e) }, 'view housekeeping failed');
        }
      }
    }
    this.ingest.jobs.purge();
    const t = performance.now();
    for (const pipe of this.running.values()) {
      const r = this.rates.get(pipe.id) ?? { samples: [], perSecond: 0 };
      r.samples.push({ t, rows: pipe.counters.rowsApplied });
      if (r.samples.length > 10) r.samples.shift();
      const first = r.samples[0];
      r.perSecond = t > first.t ? ((pipe.counters.rowsApplied - first.rows) * 1000) / (t - first.t) : 0;
      this.rates.set(pipe.id, r);
    }
  }

  // ---- metrics ----

  pipeSamples() {
    const reg = this.ingest.registry;
    return [...this.running.values()].map((p) => {
      const sessions = { leader: 0, follower: 0 };
      for (const s of reg.ofPipe(p.id)) sessions[reg.role(s)]++;
      return { pipeId: p.id, depth: p.depth(), capacity: p.config.queueCapacity, counters: p.counters, rowsPerSecond: this.rates.get(p.id)?.perSecond ?? 0, sessions };
    });
  }

  viewSamples() {
    return [...this.views.entries()].map(([viewId, v]) => ({ viewId, items: v.itemCount(), ready: this.viewReadiness(viewId).ready }));
  }

  async dispose(): Promise<void> {
    this.compactor.dispose();
    await this.store.dispose();
  }
}

const mib = (bytes: number) => Math.round(bytes / 1048576);

/** FUSTOR_GATEWAY_COMPACT_AFTER_ROWS, or the default with a warning when it is not a whole number ≥ 0. */
function compactAfterRowsFromEnv(log: Logger): number {
  const raw = process.env.FUSTOR_GATEWAY_COMPACT_AFTER_ROWS;
  if (raw === undefined || raw === '') return COMPACT_AFTER_ROWS;
  const n = Number(raw);
  if (Number.isInteger(n) && n >= 0) return n;
  log.warn(`FUSTOR_GATEWAY_COMPACT_AFTER_ROWS must be a whole number of rows (0 = never compact), not ${JSON.stringify(raw)}: using ${COMPACT_AFTER_ROWS}`);
  return COMPACT_AFTER_ROWS;
}

