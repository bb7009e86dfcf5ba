/**
 * Test helper: run the REAL agent process (`bin/fustor agent --config DIR --state-dir DIR2`) from a config
 * object, read its status over its Unix socket, reload it, signal it, stop it. Every started process is
 * killed when the test process exits, even if a test forgets `stop()`.
 *
 *   const gw = await startGateway(demoConfig());
 *   const agent = await startAgent(agentConfig({ gateway: gw.url, root: dir }));
 *   await eventually(async () => (await treePaths(gw, 'demo')).includes('/a.txt'));
 *   await agent.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { callAgent } from '../../src/agent/shell/status-server.ts';
import type { AgentStatus } from '../../src/agent/shell/agent-shell.ts';
import type { SupervisedPipeStatus } from '../../src/agent/shell/supervisor.ts';
import { DEMO_KEYS, FUSTOR_BIN, ROOT, type RunningGateway } from './gateway.ts';
import { waitForReady, watchOutput } from './process.ts';

export type { AgentStatus, SupervisedPipeStatus };

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** One pipe `demo` (agent id `agentId`) from `root` to `gateway` with the demo agent key. */
export function agentConfig(o: { gateway: string; root: string; agentId?: string; pipe?: Record<string, unknown>; params?: Record<string, unknown>; pipeId?: string; key?: string }): Record<string, unknown> {
  const pipeId = o.pipeId ?? 'demo';
  return {
    agent_id: o.agentId ?? 'agent-1',
    sources: { src: { driver: 'fs', uri: o.root, driver_params: { throttle_interval_sec: 0.2, ...o.params } } },
    senders: { gw: { driver: 'fusion', uri: o.gateway, credential: { key: o.key ?? DEMO_KEYS.agent }, timeout: 5 } },
    pipes: { [pipeId]: { source: 'src', sender: 'gw', session_timeout_seconds: 3, ...o.pipe } },
  };
}

export interface RunningAgent {
  proc: ChildProcess;
  configDir: string;
  stateDir: string;
  pid: number;
  stdout(): string;
  stderr(): string;
  logs(): Record<string, unknown>[];
  status(): Promise<AgentStatus>;
  pipe(id: string): Promise<SupervisedPipeStatus | undefined>;
  /** Replace the config and reload (`how`: SIGHUP, or POST /reload over the socket). */
  reload(config: Record<string, unknown> | string, how?: 'sighup' | 'socket'): Promise<void>;
  kill(signal: NodeJS.Signals): void;
  exited: Promise<number | null>;
  /** SIGTERM; resolves with the exit code. Removes the temp dirs. */
  stop(): Promise<number | null>;
}

export interface StartAgentOptions { env?: Record<string, string>; timeoutMs?: number; stateDir?: string; configDir?: string }

function writeAgentConfig(dir: string, config: Record<string, unknown> | string): void {
  for (const f of readdirSync(dir)) if (f.endsWith('.yaml')) unlinkSync(join(dir, f));
  writeFileSync(join(dir, 'agent.yaml'), typeof config === 'string' ? config : stringify(config));
}

function spawnAgent(configDir: string, stateDir: string, env: Record<string, string> = {}, args = ['--config', configDir]): ChildProcess {
  const proc = spawn(FUSTOR_BIN, ['agent', ...args, '--state-dir', stateDir, '--log-format', 'json'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FUSTOR_LOG_LEVEL: process.env.FUSTOR_LOG_LEVEL ?? 'info', ...env },
  });
  running.add(proc);
  proc.on('exit', () => running.delete(proc));
  return proc;
}

export async function startAgent(config: Record<string, unknown> | string, opts: StartAgentOptions = {}): Promise<RunningAgent> {
  const configDir = opts.configDir ?? mkdtempSync(join(tmpdir(), 'fustor-agent-cfg-'));
  writeAgentConfig(configDir, config);
  return launchAgent(configDir, undefined, opts);
}

export interface ManagedAgentOptions extends StartAgentOptions { controller: string; token?: string; name?: string }

/**
 * A managed agent (`fustor agent --controller URL [--token T] [--name N]`). Pass `stateDir` to keep the
 * identity and manifest cache across restarts (then the helper does not remove it).
 */
export function startManagedAgent(opts: ManagedAgentOptions): Promise<RunningAgent> {
  const args = ['--controller', opts.controller, ...(opts.token === undefined ? [] : ['--token', opts.token]), ...(opts.name === undefined ? [] : ['--name', opts.name])];
  return launchAgent(mkdtempSync(join(tmpdir(), 'fustor-agent-cfg-')), args, opts);
}

async function launchAgent(configDir: string, args: string[] | undefined, opts: StartAgentOptions): Promise<RunningAgent> {
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'fustor-agent-state-'));
  const proc = spawnAgent(configDir, stateDir, opts.env, args);
  const w = watchOutput(proc);
  const exited = w.exited;
  await waitForReady(proc, w, /^agent running: (managed by \S+ as \S+, )?\d+ pipes/m, 'agent', opts.timeoutMs ?? 20000);
  const sock = join(stateDir, 'agent.sock');
  const status = async () => (await callAgent(sock, 'GET', '/status')).body as AgentStatus;
  const agent: RunningAgent = {
    proc,
    configDir,
    stateDir,
    pid: proc.pid!,
    exited,
    stdout: w.stdout,
    stderr: w.stderr,
    logs: w.logs,
    status,
    pipe: async (id) => (await status()).pipes.find((p) => p.pipeId === id),
    async reload(next, how = 'sighup') {
      writeAgentConfig(configDir, next);
      if (how === 'socket') {
        const res = await callAgent(sock, 'POST', '/reload', 60_000);
        if (res.status !== 200) throw new Error(`reload failed: ${JSON.stringify(res.body)}`);
        return;
      }
      const before = (await status()).reloads;
      proc.kill('SIGHUP');
      const deadline = Date.now() + 20_000;
      while ((await status()).reloads === before) {
        if (Date.now() > deadline) throw new Error(`agent did not reload\n${w.stdout()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    kill: (signal) => {
      proc.kill(signal);
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const killer = setTimeout(() => proc.kill('SIGKILL'), 15000);
        await exited;
        clearTimeout(killer);
      }
      if (opts.configDir === undefined) rmSync(configDir, { recursive: true, force: true });
      if (opts.stateDir === undefined) rmSync(stateDir, { recursive: true, force: true });
      return proc.exitCode;
    },
  };
  return agent;
}

/** Run `fustor agent` expecting a startup failure; resolves with its exit code and output. */
export async function runAgentExpectingFailure(config: Record<string, unknown> | string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const configDir = mkdtempSync(join(tmpdir(), 'fustor-agent-cfg-'));
  const stateDir = mkdtempSync(join(tmpdir(), 'fustor-agent-state-'));
  writeAgentConfig(configDir, config);
  const proc = spawnAgent(configDir, stateDir);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 20000);
  const code = await new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)));
  clearTimeout(timer);
  rmSync(configDir, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
  return { code, stdout, stderr };
}

export interface TreeNode { path: string; content_type: string; size: number; integrity_suspect: boolean; agent_missing: boolean; children?: TreeNode[] }

/** The whole tree of `view` as a path → node map (children stripped), or null while the view is not ready. */
export async function treeMap(gw: RunningGateway, view = 'demo'): Promise<Map<string, TreeNode> | null> {
  const res = await gw.get(`/api/v1/views/${view}/tree?path=/&max_depth=-1`);
  if (res.status !== 200) {
    await res.arrayBuffer();
    return null;
  }
  const root = await res.json() as TreeNode;
  const out = new Map<string, TreeNode>();
  const walk = (n: TreeNode) => {
    const { children, ...rest } = n;
    out.set(n.path, rest as TreeNode);
    for (const c of children ?? []) walk(c);
  };
  walk(root);
  return out;
}
