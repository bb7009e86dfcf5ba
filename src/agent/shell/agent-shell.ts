/**
 * AgentShell: the agent's control loop in standalone mode (spec 40). Loads the configuration directory,
 * hands the enabled pipes to the Supervisor, re-reads the configuration on reload (SIGHUP or
 * `POST /reload` on the status socket) and applies the per-pipe diff (added start, removed stop, changed
 * restart, unchanged untouched), and serves `GET /status` on `STATE_DIR/agent.sock` (mode 0600).
 * Data-path problems never end the shell; an invalid configuration at reload is refused with one line and
 * the running one stays.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../kernel/logger.ts';
import { diffPipes, type PipeDiff } from '../config/diff-pipes.ts';
import { loadAgentConfigDir, type AgentConfig } from '../config/load-config.ts';
import { StatusServer } from './status-server.ts';
import { Supervisor, type SupervisedPipeStatus, type SupervisorOptions } from './supervisor.ts';

export interface AgentShellOptions {
  configDir: string;
  stateDir: string;
  log: Logger;
  logFormat: 'json' | 'pretty';
  supervisor?: Partial<Omit<SupervisorOptions, 'log' | 'logFormat'>>;
  /** Use this configuration instead of reading configDir at start (`fustor up`, managed mode). */
  initial?: AgentConfig;
  /** Managed mode: the controller owns the configuration; `reload` is refused and status says who manages. */
  managed?: () => ManagedStatus;
}

export interface ManagedStatus { controller: string; member: string; connected: boolean; revision: number | null; lastError: string | null }

export interface AgentStatus {
  agentId: string;
  pid: number;
  host: string;
  configDir: string;
  startedAt: number;
  reloads: number;
  lastReload: { at: number; outcome: 'applied' | 'refused'; diff?: PipeDiff; error?: string } | null;
  disabled: string[];
  pipes: SupervisedPipeStatus[];
  managed?: ManagedStatus;
}

export type ReloadResult = { ok: true; diff: PipeDiff } | { ok: false; error: string };

export class AgentShell {
  private config: AgentConfig;
  private readonly supervisor: Supervisor;
  private server: StatusServer | null = null;
  private readonly startedAt = Date.now();
  private reloads = 0;
  private lastReload: AgentStatus['lastReload'] = null;
  private reloading: Promise<unknown> = Promise.resolve();

  private constructor(private readonly opts: AgentShellOptions, config: AgentConfig) {
    this.config = config;
    this.supervisor = new Supervisor({ log: opts.log, logFormat: opts.logFormat, ...envSupervisorOptions(), ...opts.supervisor });
  }

  /** Throws AgentConfigError (one line) on a bad configuration, or an Error when the socket is taken. */
  static async start(opts: AgentShellOptions): Promise<AgentShell> {
    const loaded = opts.initial === undefined ? loadAgentConfigDir(opts.configDir) : { config: opts.initial, warnings: [], files: [] };
    for (const w of loaded.warnings) opts.log.warn({ files: loaded.files }, w);
    mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
    const shell = new AgentShell(opts, loaded.config);
    const server = new StatusServer(join(opts.stateDir, 'agent.sock'), {
      status: () => shell.status(),
      reload: () => shell.reload(),
    });
    await server.listen();
    shell.server = server;
    try {
      chmodSync(opts.stateDir, 0o700);
    } catch {
      // best effort: a shared state dir keeps its mode, the socket itself is 0600
    }
    await shell.supervisor.apply(loaded.config.pipes);
    opts.log.info({ agentId: loaded.config.agentId, pipes: [...loaded.config.pipes.keys()], disabled: loaded.config.disabled, socket: server.path }, 'agent started');
    return shell;
  }

  get pipeCount(): number {
    return this.config.pipes.size;
  }

  get socketPath(): string {
    return this.server?.path ?? join(this.opts.stateDir, 'agent.sock');
  }

  status(): AgentStatus {
    return {
      agentId: this.config.agentId,
      pid: process.pid,
      host: hostname(),
      configDir: this.opts.configDir,
      startedAt: this.startedAt,
      reloads: this.reloads,
      lastReload: this.lastReload,
      disabled: this.config.disabled,
      pipes: this.supervisor.status(),
      ...(this.opts.managed === undefined ? {} : { managed: this.opts.managed() }),
    };
  }

  /** Re-read the configuration directory and apply the per-pipe diff. Serialised. */
  reload(): Promise<ReloadResult> {
    const run = this.reloading.then(() => this.reloadOnce());
    this.reloading = run.catch(() => undefined);
    return run;
  }

  /** Apply a configuration built elsewhere (a manifest) with the per-pipe diff. Serialised with reloads. */
  applyConfig(next: AgentConfig): Promise<PipeDiff> {
    const run = this.reloading.then(() => this.applyOnce(next));
    this.reloading = run.catch(() => undefined);
    return run;
  }

  private async applyOnce(next: AgentConfig): Promise<PipeDiff> {
    const diff = diffPipes(this.config, next);
    this.config = next;
    await this.supervisor.apply(next.pipes);
    this.reloads++;
    this.lastReload = { at: Date.now(), outcome: 'applied', diff };
    this.opts.log.info({ added: diff.added, removed: diff.removed, changed: diff.changed, unchanged: diff.unchanged.length }, 'configuration applied');
    return diff;
  }

  private async reloadOnce(): Promise<ReloadResult> {
    if (this.opts.managed !== undefined) {
      return { ok: false, error: `this agent is managed by the controller at ${this.opts.managed().controller}: change its Pipes there (fustor ctl apply)` };
    }
    let next: AgentConfig;
    try {
      const loaded = loadAgentConfigDir(this.opts.configDir);
      for (const w of loaded.warnings) this.opts.log.warn(w);
      next = loaded.config;
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      this.lastReload = { at: Date.now(), outcome: 'refused', error };
      this.opts.log.error({ problem: error }, 'reload refused: the running configuration stays in effect');
      return { ok: false, error };
    }
    return { ok: true, diff: await this.applyOnce(next) };
  }

  /** The controller's `restart_pipe` command (managed mode). */
  restartPipe(id: string): Promise<{ ok: boolean; message: string }> {
    return this.supervisor.restartPipe(id);
  }

  /** The controller's `rescan` command: one pipe, or every pipe when none is named. */
  async rescan(pipe: string | undefined, commandId: string): Promise<{ ok: boolean; message: string }> {
    const ids = pipe === undefined ? [...this.config.pipes.keys()].sort() : [pipe];
    if (ids.length === 0) return { ok: false, message: 'this agent runs no pipe' };
    const results = await Promise.all(ids.map((id) => this.supervisor.rescan(id, commandId)));
    return { ok: results.every((r) => r.ok), message: results.map((r) => r.message).join('; ') };
  }

  /** Stop every pipe (each deletes its session) and the status socket. */
  async stop(): Promise<void> {
    await this.supervisor.close();
    await this.server?.close();
  }
}

/** Supervisor tuning from the environment (tests and operators): seconds. */
function envSupervisorOptions(): Partial<SupervisorOptions> {
  const out: Partial<SupervisorOptions> = {};
  const num = (name: string) => {
    const v = Number(process.env[name]);
    return Number.isFinite(v) && v > 0 ? v * 1000 : undefined;
  };
  const hang = num('FUSTOR_AGENT_HANG_TIMEOUT_SEC');
  if (hang !== undefined) out.hangTimeoutMs = hang;
  const healthy = num('FUSTOR_AGENT_HEALTHY_SEC');
  if (healthy !== undefined) out.healthyMs = healthy;
  const cap = num('FUSTOR_AGENT_BACKOFF_CAP_SEC');
  if (cap !== undefined) out.backoff = { baseMs: Math.min(1000, cap), capMs: cap };
  return out;
}
