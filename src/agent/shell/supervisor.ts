/**
 * Supervisor: keeps one worker thread per desired pipe running (spec 40 "Shell and payload").
 *
 * One reconciler shape: `apply(desired)` records the desired pipes and `reconcile()` compares them with the
 * running slots and acts (start missing, stop removed, restart changed) — idempotent, serialised.
 * A worker that throws ('error'), exits on its own, runs out of memory (resourceLimits →
 * ERR_WORKER_OUT_OF_MEMORY) or hangs (no heartbeat for `hangTimeoutMs` → terminated) is reported and
 * restarted after an exponential backoff (1 s → 60 s, full jitter applied after the cap); the failure
 * count resets once a worker has run `healthyMs` without failing; 3+ consecutive failures make the pipe
 * `degraded`. Nothing here exits the process or throws into the event loop.
 */
import type { Worker } from 'node:worker_threads';
import type { Logger } from '../../kernel/logger.ts';
import { isDeepStrictEqual } from 'node:util';
import type { ResolvedPipe } from '../config/load-config.ts';
import type { FromPipeWorker, PipeStatus, ToPipeWorker } from '../pipe/pipe-types.ts';
import { startPipeWorker } from '../pipe/worker-boot.ts';
import { backoffDelay } from '../sender/backoff.ts';

export type SlotState = 'starting' | 'running' | 'restarting' | 'stopping';

export interface SupervisedPipeStatus {
  pipeId: string;
  state: SlotState;
  /** From the worker's last status report (null before the first one). */
  pipe: PipeStatus | null;
  restarts: number;
  /** Failures since the last healthy period. */
  consecutiveFailures: number;
  failures: number;
  lastFailure: { reason: string; at: number } | null;
  nextRestartAt: number | null;
  degraded: string[];
  lastError: string | null;
  startedAt: number | null;
}

export interface SupervisorOptions {
  log: Logger;
  logFormat: 'json' | 'pretty';
  hangTimeoutMs?: number;
  /** Time a new worker has to send its first heartbeat (loading the code takes a while on a busy host); default max(30 s, hang timeout). */
  startTimeoutMs?: number;
  healthyMs?: number;
  backoff?: { baseMs: number; capMs: number };
  stopGraceMs?: number;
  /** Tests: start something else than the real worker. */
  spawn?: (pipe: ResolvedPipe) => Worker;
}

interface Slot {
  pipe: ResolvedPipe;
  worker: Worker | null;
  state: SlotState;
  status: PipeStatus | null;
  lastBeat: number;
  /** A heartbeat arrived from the current worker. */
  beating: boolean;
  startedAt: number | null;
  restarts: number;
  failures: number;
  consecutive: number;
  lastFailure: { reason: string; at: number } | null;
  lastError: string | null;
  timer: NodeJS.Timeout | null;
  nextRestartAt: number | null;
  /** Resolves when the current worker has exited. */
  exited: Promise<void>;
  /** Set when we asked the worker to go (stop / restart): its exit is not a failure. */
  expectExit: boolean;
  everStarted: boolean;
}

const DEGRADED_AFTER = 3;

export class Supervisor {
  private desired = new Map<string, ResolvedPipe>();
  private readonly slots = new Map<string, Slot>();
  private chain: Promise<void> = Promise.resolve();
  private readonly watchdog: NodeJS.Timeout;
  private closed = false;
  private readonly hangTimeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly healthyMs: number;
  private readonly backoff: { baseMs: number; capMs: number };

  constructor(private readonly opts: SupervisorOptions) {
    this.hangTimeoutMs = opts.hangTimeoutMs ?? 20_000;
    this.startTimeoutMs = opts.startTimeoutMs ?? Math.max(30_000, this.hangTimeoutMs);
    this.healthyMs = opts.healthyMs ?? 60_000;
    this.backoff = opts.backoff ?? { baseMs: 1000, capMs: 60_000 };
    this.watchdog = setInterval(() => this.checkHangs(), Math.min(1000, this.hangTimeoutMs / 4));
  }

  /** Set the desired pipes and reconcile. Resolves when the started/stopped/restarted workers were handled. */
  apply(desired: Map<string, ResolvedPipe>): Promise<void> {
    this.desired = new Map(desired);
    return this.reconcile();
  }

  reconcile(): Promise<void> {
    const run = this.chain.then(() => this.reconcileOnce());
    this.chain = run.catch((e: unknown) => this.opts.log.error({ err: String(e) }, 'reconcile failed'));
    return this.chain;
  }

  status(): SupervisedPipeStatus[] {
    return [...this.slots.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([pipeId, s]) => {
      const degraded = [...(s.status?.degraded ?? [])];
      if (s.consecutive >= DEGRADED_AFTER) degraded.unshift(`${s.consecutive} consecutive failures (last: ${s.lastFailure?.reason ?? '?'})`);
      return {
        pipeId,
        state: s.state,
        pipe: s.state === 'running' || s.state === 'starting' ? s.status : null,
        restarts: s.restarts,
        consecutiveFailures: s.consecutive,
        failures: s.failures,
        lastFailure: s.lastFailure,
        nextRestartAt: s.nextRestartAt,
        degraded,
        lastError: s.status?.lastError ?? s.lastError,
        startedAt: s.startedAt,
      };
    });
  }

  /**
   * Restart one pipe's worker now (the controller's `restart_pipe` command): same configuration, a fresh
   * thread and session. Serialised with reconciliation so it never races a manifest change of that pipe.
   */
  restartPipe(id: string): Promise<{ ok: boolean; message: string }> {
    const run = this.chain.then(async () => {
      const slot = this.slots.get(id);
      if (slot === undefined || !this.desired.has(id)) return { ok: false, message: `this agent runs no pipe '${id}'` };
      this.opts.log.info({ pipe: id }, 'pipe restart requested');
      await this.stopWorker(slot);
      slot.consecutive = 0;
      slot.lastFailure = null;
      if (this.slots.get(id) === slot && !this.closed) this.startSlot(slot);
      return { ok: true, message: `pipe ${id} restarted (restart #${slot.restarts})` };
    });
    this.chain = run.then(() => undefined, (e: unknown) => this.opts.log.error({ err: String(e) }, 'pipe restart failed'));
    return run;
  }

  /** Ask a running pipe worker to rescan (see PipeRunner.rescan); answers with what the pipe started. */
  rescan(id: string, commandId: string, timeoutMs = 10_000): Promise<{ ok: boolean; message: string }> {
    const slot = this.slots.get(id);
    const worker = slot?.worker ?? null;
    if (slot === undefined) return Promise.resolve({ ok: false, message: `this agent runs no pipe '${id}'` });
    if (worker === null || slot.state !== 'running') return Promise.resolve({ ok: false, message: `pipe ${id} is ${slot.state}; retry when it runs` });
    return new Promise((resolve) => {
      const done = (r: { ok: boolean; message: string }) => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        resolve(r);
      };
      const onMessage = (m: FromPipeWorker) => {
        if (m.type === 'rescan_done' && m.id === commandId) done({ ok: m.ok, message: m.message });
      };
      const onExit = () => done({ ok: false, message: `pipe ${id} stopped before it could rescan` });
      const timer = setTimeout(() => done({ ok: false, message: `pipe ${id} did not answer the rescan within ${timeoutMs / 1000} s` }), timeoutMs);
      worker.on('message', onMessage);
      worker.on('exit', onExit);
      worker.postMessage({ type: 'rescan', id: commandId } satisfies ToPipeWorker);
    });
  }

  /** Stop every pipe (each deletes its session) and the watchdog. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.watchdog);
    this.desired = new Map();
    await this.chain;
    await Promise.all([...this.slots.keys()].map((id) => this.stopSlot(id)));
  }

  // ---- reconciliation ----

  private async reconcileOnce(): Promise<void> {
    const work: Promise<void>[] = [];
    for (const id of [...this.slots.keys()]) {
      if (!this.desired.has(id)) work.push(this.stopSlot(id));
    }
    for (const [id, pipe] of this.desired) {
      const slot = this.slots.get(id);
      if (slot === undefined) {
        this.startSlot(this.newSlot(pipe));
      } else if (!isDeepStrictEqual(slot.pipe, pipe)) {
        work.push(this.restartForChange(id, slot, pipe));
      } else if (slot.worker === null && slot.state !== 'restarting' && slot.state !== 'stopping') {
        this.startSlot(slot);
      }
    }
    await Promise.all(work);
  }

  private newSlot(pipe: ResolvedPipe): Slot {
    const slot: Slot = {
      pipe, worker: null, state: 'starting', status: null, lastBeat: Date.now(), beating: false, startedAt: null, restarts: 0, failures: 0,
      consecutive: 0, lastFailure: null, lastError: null, timer: null, nextRestartAt: null, exited: Promise.resolve(), expectExit: false, everStarted: false,
    };
    this.slots.set(pipe.pipeId, slot);
    return slot;
  }

  private async restartForChange(id: string, slot: Slot, pipe: ResolvedPipe): Promise<void> {
    this.opts.log.info({ pipe: id }, 'pipe configuration changed: restarting it');
    await this.stopWorker(slot);
    slot.pipe = pipe;
    slot.consecutive = 0;
    slot.lastFailure = null;
    if (this.slots.get(id) === slot && !this.closed) this.startSlot(slot);
  }

  private startSlot(slot: Slot): void {
    if (this.closed) return;
    if (slot.timer !== null) clearTimeout(slot.timer);
    slot.timer = null;
    slot.nextRestartAt = null;
    if (slot.everStarted) slot.restarts++;
    slot.everStarted = true;
    slot.state = 'starting';
    slot.status = null;
    slot.expectExit = false;
    slot.lastBeat = Date.now();
    slot.beating = false;
    slot.startedAt = Date.now();
    let worker: Worker;
    try {
      worker = (this.opts.spawn ?? ((p) => startPipeWorker(p, { logFormat: this.opts.logFormat })))(slot.pipe);
    } catch (e) {
      this.failed(slot, `could not start the worker: ${String(e)}`);
      return;
    }
    slot.worker = worker;
    let failure: string | null = null;
    slot.exited = new Promise<void>((resolve) => {
      worker.on('exit', (code) => {
        if (slot.worker === worker) slot.worker = null;
        resolve();
        if (slot.expectExit || this.slots.get(slot.pipe.pipeId) !== slot) return;
        this.failed(slot, failure ?? (code === 0 ? 'worker exited' : `worker exited with code ${code}`));
      });
    });
    worker.on('error', (err: Error & { code?: string }) => {
      failure = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'out of memory' : `crashed: ${err.message}`;
    });
    worker.on('message', (m: FromPipeWorker) => {
      if (slot.worker !== worker) return;
      slot.lastBeat = Date.now();
      slot.beating = true;
      if (m.type === 'status') {
        slot.status = m.status;
        if (slot.state === 'starting' && m.status.state === 'running') slot.state = 'running';
        if (slot.consecutive > 0 && slot.startedAt !== null && Date.now() - slot.startedAt >= this.healthyMs) {
          this.opts.log.info({ pipe: slot.pipe.pipeId }, 'pipe healthy again: failure count reset');
          slot.consecutive = 0;
        }
      } else if (m.type === 'fatal') {
        failure = `failed to start: ${m.error}`;
        slot.lastError = m.error;
      }
    });
    this.opts.log.info({ pipe: slot.pipe.pipeId, restarts: slot.restarts }, 'pipe worker started');
  }

  private failed(slot: Slot, reason: string): void {
    const id = slot.pipe.pipeId;
    if (slot.startedAt !== null && Date.now() - slot.startedAt >= this.healthyMs) slot.consecutive = 0;
    slot.consecutive++;
    slot.failures++;
    slot.lastFailure = { reason, at: Date.now() };
    slot.lastError = reason;
    slot.worker = null;
    slot.status = null;
    if (this.closed || !this.desired.has(id)) {
      this.slots.delete(id);
      return;
    }
    const delay = backoffDelay(slot.consecutive, this.backoff);
    slot.state = 'restarting';
    slot.nextRestartAt = Date.now() + delay;
    const level = slot.consecutive >= DEGRADED_AFTER ? 'error' : 'warn';
    this.opts.log[level]({ pipe: id, reason, consecutiveFailures: slot.consecutive, restartInMs: delay }, 'pipe failed: restarting it after backoff');
    slot.timer = setTimeout(() => {
      slot.timer = null;
      if (this.slots.get(id) === slot && !this.closed) this.startSlot(slot);
    }, delay);
  }

  private checkHangs(): void {
    const now = Date.now();
    for (const slot of this.slots.values()) {
      if (slot.worker === null || slot.expectExit) continue;
      const limit = slot.beating ? this.hangTimeoutMs : this.startTimeoutMs;
      if (now - slot.lastBeat > limit) {
        const worker = slot.worker;
        const reason = slot.beating ? `hung: no heartbeat for ${Math.round((now - slot.lastBeat) / 1000)} s` : `hung: no heartbeat within ${Math.round(limit / 1000)} s of its start`;
        slot.expectExit = true;
        slot.worker = null;
        this.failed(slot, reason);
        void worker.terminate().catch(() => undefined);
      }
    }
  }

  private async stopWorker(slot: Slot): Promise<void> {
    if (slot.timer !== null) clearTimeout(slot.timer);
    slot.timer = null;
    slot.nextRestartAt = null;
    const worker = slot.worker;
    if (worker === null) return;
    slot.expectExit = true;
    slot.state = 'stopping';
    try {
      worker.postMessage({ type: 'stop' } satisfies ToPipeWorker);
    } catch {
      // already gone
    }
    const grace = this.opts.stopGraceMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([slot.exited, new Promise<void>((r) => { timer = setTimeout(r, grace); })]);
    clearTimeout(timer);
    if (slot.worker === worker) await worker.terminate().catch(() => undefined);
    slot.worker = null;
  }

  private async stopSlot(id: string): Promise<void> {
    const slot = this.slots.get(id);
    if (slot === undefined) return;
    await this.stopWorker(slot);
    if (this.slots.get(id) === slot) this.slots.delete(id);
    this.opts.log.info({ pipe: id }, 'pipe stopped');
  }
}
