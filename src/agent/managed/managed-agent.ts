/**
 * The managed agent (spec 50, "agents become dumb executors"): an AgentShell whose configuration comes from
 * the controller's manifest instead of a directory. The shared ManagedMember enrolls, renews the
 * credential, holds the channel and caches the last good manifest; this class turns each manifest into the
 * shell's configuration (per-pipe diff: only changed pipes restart) and reports per-pipe state.
 *
 * A refused manifest (FAILED) leaves the running pipes untouched. A revoked agent stops its pipes and stays
 * up, reporting why, so an operator sees it instead of a crash loop.
 */
import { hostname } from 'node:os';
import { identityPaths } from '../../kernel/member/identity-files.ts';
import { ManagedMember } from '../../kernel/member/managed-member.ts';
import type { MemberReport } from '../../kernel/control-channel-client.ts';
import type { Logger } from '../../kernel/logger.ts';
import { FUSTOR_VERSION } from '../../kernel/version.ts';
import type { ApplyStatus, CommandFrame, ComponentState, ManifestFrame } from '../../protocol/index.ts';
import { AgentShell, type ManagedStatus } from '../shell/agent-shell.ts';
import type { SupervisorOptions } from '../shell/supervisor.ts';
import { ManifestRefused, manifestToConfig } from './manifest-config.ts';

export interface ManagedAgentOptions {
  controllerUrl: string;
  token?: string;
  name?: string;
  stateDir: string;
  log: Logger;
  logFormat: 'json' | 'pretty';
  supervisor?: Partial<Omit<SupervisorOptions, 'log' | 'logFormat'>>;
  backoff?: { baseMs: number; maxMs: number };
}

export class ManagedAgent {
  private member: ManagedMember | null = null;
  private lastError: string | null = null;

  private constructor(private readonly opts: ManagedAgentOptions, readonly shell: AgentShell) {}

  static async start(opts: ManagedAgentOptions): Promise<ManagedAgent> {
    const ref: { agent?: ManagedAgent } = {}; // the shell reports before the agent object exists
    const shell = await AgentShell.start({
      configDir: '(managed)', stateDir: opts.stateDir, log: opts.log, logFormat: opts.logFormat,
      ...(opts.supervisor === undefined ? {} : { supervisor: opts.supervisor }),
      initial: { agentId: opts.name ?? hostname(), pipes: new Map(), disabled: [] },
      managed: () => ref.agent?.managedStatus() ?? { controller: opts.controllerUrl, member: opts.name ?? '', connected: false, revision: null, lastError: null },
    });
    const agent = new ManagedAgent(opts, shell);
    ref.agent = agent;
    try {
      agent.member = await ManagedMember.start({
        kind: 'agent', controllerUrl: opts.controllerUrl, stateDir: opts.stateDir, log: opts.log, version: FUSTOR_VERSION,
        ...(opts.token === undefined ? {} : { token: opts.token }),
        ...(opts.name === undefined ? {} : { name: opts.name }),
        ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }),
        apply: (f) => agent.apply(f),
        report: () => agent.report(),
        command: (c) => agent.command(c),
        onRevoked: (reason) => { void agent.revoked(reason); },
      });
    } catch (e) {
      await shell.stop();
      throw e;
    }
    return agent;
  }

  get name(): string {
    return this.member?.name ?? '';
  }

  get pipeCount(): number {
    return this.shell.pipeCount;
  }

  get socketPath(): string {
    return this.shell.socketPath;
  }

  async stop(): Promise<void> {
    await this.member?.stop();
    await this.shell.stop();
  }

  private managedStatus(): ManagedStatus {
    return {
      controller: this.opts.controllerUrl,
      member: this.member?.name ?? '',
      connected: this.member?.connected ?? false,
      revision: this.member?.running()?.revision ?? null,
      lastError: this.member?.revokedBecause ?? this.lastError,
    };
  }

  private async apply(f: ManifestFrame): Promise<{ status: ApplyStatus; error?: string }> {
    if (f.content.kind !== 'agent') return { status: 'FAILED', error: `an agent cannot run a ${f.content.kind} manifest` };
    try {
      const config = manifestToConfig(f.content, identityPaths(this.opts.stateDir).credential, `manifest revision ${f.revision}`);
      await this.shell.applyConfig(config);
      this.lastError = null;
      return { status: 'APPLIED' };
    } catch (e) {
      if (!(e instanceof ManifestRefused)) throw e;
      this.lastError = e.message;
      return { status: 'FAILED', error: e.message };
    }
  }

  /** Targeted commands of the controller (renew_credential is the member's own). */
  private command(c: CommandFrame): Promise<{ ok: boolean; message: string }> {
    if (c.command === 'restart_pipe') {
      return c.pipe === undefined ? Promise.resolve({ ok: false, message: 'restart_pipe needs a pipe' }) : this.shell.restartPipe(c.pipe);
    }
    if (c.command === 'rescan') return this.shell.rescan(c.pipe, c.id);
    return Promise.resolve({ ok: false, message: `unknown command ${String(c.command)}` });
  }

  private report(): MemberReport {
    const st = this.shell.status();
    const components: ComponentState[] = st.pipes.map((p) => ({
      id: p.pipeId,
      state: p.state === 'running' && p.pipe !== null ? p.pipe.state : p.state,
      role: p.pipe?.role ?? null,
      events_per_sec: p.pipe?.eventsPerSec ?? 0,
      backlog: p.pipe?.bufferDepth ?? 0,
      freshness_lag_sec: p.pipe?.freshnessLagSec ?? 0,
      ...(p.degraded.length > 0 || p.lastError !== null ? { degraded_reasons: [...p.degraded, ...(p.lastError === null ? [] : [p.lastError])].slice(0, 32).map((r) => r.slice(0, 500)) } : {}),
    }));
    const mem = process.memoryUsage();
    return {
      version: FUSTOR_VERSION,
      components,
      metrics: { rss_bytes: mem.rss, pipes: st.pipes.length, restarts: st.pipes.reduce((n, p) => n + p.restarts, 0), uptime_sec: Math.round((Date.now() - st.startedAt) / 1000) },
    };
  }

  private async revoked(reason: string): Promise<void> {
    this.lastError = reason;
    await this.shell.applyConfig({ agentId: this.member?.name ?? '', pipes: new Map(), disabled: [] });
  }
}
