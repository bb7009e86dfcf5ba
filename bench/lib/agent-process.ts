/**
 * Starts a real agent process (`bin/fustor agent --config DIR --state-dir DIR --log-format json`) with a
 * one-pipe standalone configuration that pushes one directory to a bench gateway (gateway-process.ts), and
 * reads its status (Unix socket), memory and CPU time (/proc). Used by P5–P7.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { exitOf, stopChild, waitForOutput } from './child-process.ts';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { AgentStatus } from '../../src/agent/shell/agent-shell.ts';
import { callAgent } from '../../src/agent/shell/status-server.ts';
import { PIPE, RECEIVER_KEY, ROOT, readMemory } from './gateway-process.ts';

export const AGENT_ID = 'bench-agent';

export interface AgentOptions {
  /** Absolute path of the directory the pipe watches and walks (the view's `/`). */
  root: string;
  gatewayUrl: string;
  key?: string;
  /** fs source `driver_params` (watch_limit, max_scan_workers, throttle_interval_sec…); defaults otherwise. */
  params?: Record<string, unknown>;
  /** Extra pipe keys (audit_interval_sec…). */
  pipe?: Record<string, unknown>;
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

export interface AgentProcess {
  pid: number;
  logFile: string;
  /** performance.now() when the process was spawned, and when it printed `agent running: …`. */
  spawnedAt: number;
  runningAt: number;
  status(): Promise<AgentStatus>;
  /** VmRSS / VmHWM of the agent process (its pipes run in worker threads of the same process). */
  memory(): { rss: number; hwm: number };
  /** User + system CPU seconds of the process so far (its helper processes not included). */
  cpuSeconds(): number;
  stop(): Promise<number | null>;
}

/** The standalone agent configuration (spec 40) of one pipe `bench-pipe` from `root` to the gateway. */
export function benchAgentConfig(o: AgentOptions): Record<string, unknown> {
  return {
    agent_id: AGENT_ID,
    sources: { 'bench-src': { driver: 'fs', uri: o.root, driver_params: { ...o.params } } },
    senders: { 'bench-gw': { driver: 'fusion', uri: o.gatewayUrl, credential: { key: o.key ?? RECEIVER_KEY }, timeout: 30 } },
    pipes: { [PIPE]: { source: 'bench-src', sender: 'bench-gw', ...o.pipe } },
  };
}

/** utime + stime of a process from /proc/PID/stat, in seconds (USER_HZ = 100 on Linux). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Spawns the agent and resolves once it prints `agent running: N pipes`. */
export async function startAgent(o: AgentOptions): Promise<AgentProcess> {
  const configDir = mkdtempSync(join(tmpdir(), 'fustor-bench-agent-cfg-'));
  const stateDir = mkdtempSync(join(tmpdir(), 'fustor-bench-agent-state-'));
  writeFileSync(join(configDir, 'agent.yaml'), stringify(benchAgentConfig(o)));
  const logFile = join(configDir, 'agent.log');
  const log = createWriteStream(logFile);
  const spawnedAt = performance.now();
  const child: ChildProcess = spawn(join(ROOT, 'bin/fustor'), ['agent', '--config', configDir, '--state-dir', stateDir, '--log-format', 'json'], {
    cwd: ROOT,
    env: { ...process.env, FUSTOR_LOG_LEVEL: process.env.FUSTOR_LOG_LEVEL ?? 'info', ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = exitOf(child);
  const cleanup = (keepLog = false) => {
    log.end();
    if (!keepLog && !process.env.FUSTOR_BENCH_KEEP_LOGS) rmSync(configDir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  };
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const timeoutMs = o.startTimeoutMs ?? 30_000;
  let runningAt: number;
  try {
    await waitForOutput(child, exited, { pattern: /^agent running: \d+ pipes/m, what: 'agent', timeoutMs, logFile });
    runningAt = performance.now();
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    cleanup(true); // keep the log: it explains the failure
    throw e;
  }
  const pid = child.pid ?? 0;
  const sock = join(stateDir, 'agent.sock');
  return {
    pid, logFile, spawnedAt, runningAt,
    status: async () => (await callAgent(sock, 'GET', '/status')).body as AgentStatus,
    memory: () => readMemory(pid),
    cpuSeconds: () => cpuSecondsOf(pid),
    async stop() {
      await stopChild(child, exited, 20_000);
      cleanup();
      return child.exitCode;
    },
  };
}
