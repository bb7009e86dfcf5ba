/**
 * Test helper: run the REAL gateway process (`bin/fustor fusion --config DIR --port 0`) from a config
 * object, talk to it over HTTP, reload it, stop it. Every started process is killed when the test
 * process exits, even if a test forgets `stop()`.
 *
 *   const gw = await startGateway(demoConfig());
 *   const agent = await gw.agent();                // a session with the demo receiver key
 *   await agent.push(snapshotBatch([dirRow('/a'), fileRow('/a/f.txt')], { isEnd: true }));
 *   const res = await gw.get('/api/v1/views/demo/tree');   // demo query key by default
 *   await gw.stop();
 *
 * Managed mode: `startManagedGateway({controller: url, stateDir, token, name})` runs
 * `fustor fusion --controller URL --state-dir DIR …` (no config directory; the state dir is the caller's).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { waitForReady, watchOutput } from './process.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const FUSTOR_BIN = join(ROOT, 'bin', 'fustor');

/** Demo keys used by `demoConfig` (obviously fake values). */
export const DEMO_KEYS = {
  agent: 'test-agent-key-0001',
  query: 'test-query-key-0001',
  admin: 'test-admin-key-0001',
} as const;

export type ConfigObject = Record<string, unknown>;

/** One fs view `demo`, one pipe `demo` on the main port, demo keys. `pipe`/`view` extend the defaults. */
export function demoConfig(opts: { pipe?: Record<string, unknown>; view?: Record<string, unknown>; top?: Record<string, unknown> } = {}): ConfigObject {
  return {
    host: '127.0.0.1',
    session_cleanup_interval: 0.2,
    ...opts.top,
    receivers: { main: { driver: 'http', api_keys: [{ key: DEMO_KEYS.agent, pipe_id: 'demo' }] } },
    views: { demo: { driver: 'fs', api_keys: [DEMO_KEYS.query], admin_keys: [DEMO_KEYS.admin], ...opts.view } },
    pipes: { demo: { receiver: 'main', views: ['demo'], session_timeout_seconds: 30, ...opts.pipe } },
  };
}

// ---- event builders (the wire shapes of spec 10) ----

export interface Row { path: string; [k: string]: unknown }

export function fileRow(path: string, opts: { size?: number; mtime?: number } = {}): Row {
  const mtime = opts.mtime ?? Date.now() / 1000 - 3600;
  return { path, file_name: path.slice(path.lastIndexOf('/') + 1), size: opts.size ?? 100, modified_time: mtime, created_time: mtime, is_directory: false };
}

export function dirRow(path: string, opts: { mtime?: number } = {}): Row {
  const mtime = opts.mtime ?? Date.now() / 1000 - 3600;
  return { path, file_name: path === '/' ? '' : path.slice(path.lastIndexOf('/') + 1), size: 4096, modified_time: mtime, created_time: mtime, is_directory: true };
}

export function event(rows: Row[], opts: { type?: 'insert' | 'update' | 'delete'; source?: string; eventId?: string } = {}): Record<string, unknown> {
  const e: Record<string, unknown> = {
    event_type: opts.type ?? 'update',
    event_schema: 'fs',
    table: 'files',
    fields: rows.length > 0 ? Object.keys(rows[0]) : [],
    rows,
    index: Date.now(),
  };
  if (opts.source !== undefined) e.message_source = opts.source;
  if (opts.eventId !== undefined) e.event_id = opts.eventId;
  return e;
}

export interface Batch { events: Record<string, unknown>[]; source_type: string; is_end: boolean; metadata?: Record<string, unknown> }

export function batch(sourceType: string, events: Record<string, unknown>[], opts: { isEnd?: boolean; metadata?: Record<string, unknown> } = {}): Batch {
  const b: Batch = { events, source_type: sourceType, is_end: opts.isEnd ?? false };
  if (opts.metadata !== undefined) b.metadata = opts.metadata;
  return b;
}

/** A snapshot batch of rows (one event). */
export function snapshotBatch(rows: Row[], opts: { isEnd?: boolean; metadata?: Record<string, unknown> } = {}): Batch {
  return batch('snapshot', rows.length > 0 ? [event(rows, { source: 'snapshot' })] : [], opts);
}

/** A realtime batch (`source_type: message`) of rows. */
export function realtimeBatch(rows: Row[], opts: { type?: 'update' | 'delete'; metadata?: Record<string, unknown> } = {}): Batch {
  return batch('message', [event(rows, { type: opts.type, source: 'realtime' })], { metadata: opts.metadata });
}

// ---- HTTP ----

export interface RequestOptions { key?: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string> }

export async function request(url: string, method: string, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.key !== null && opts.key !== undefined) headers['x-api-key'] = opts.key;
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  return fetch(url, { method, headers, body });
}

/** An agent's view of the ingest protocol: one session. */
export class AgentSession {
  constructor(readonly baseUrl: string, readonly key: string, readonly sessionId: string, readonly created: Record<string, unknown>) {}

  get role(): string {
    return this.created.role as string;
  }

  heartbeat(body: Record<string, unknown> = { can_realtime: true }): Promise<Response> {
    return request(`${this.baseUrl}/api/v1/pipe/session/${this.sessionId}/heartbeat`, 'POST', { key: this.key, body });
  }

  /** Push a batch; returns the response (use `pushOk` to assert 200). */
  push(b: Batch | Record<string, unknown>, opts: { alias?: boolean; key?: string } = {}): Promise<Response> {
    const path = opts.alias === true ? `/api/v1/pipe/${this.sessionId}/events` : `/api/v1/pipe/ingest/${this.sessionId}/events`;
    return request(`${this.baseUrl}${path}`, 'POST', { key: opts.key ?? this.key, body: b });
  }

  async pushOk(b: Batch): Promise<Record<string, unknown>> {
    const res = await this.push(b);
    const body = await res.json() as Record<string, unknown>;
    if (res.status !== 200) throw new Error(`push failed: ${res.status} ${JSON.stringify(body)}`);
    return body;
  }

  close(): Promise<Response> {
    return request(`${this.baseUrl}/api/v1/pipe/session/${this.sessionId}`, 'DELETE', { key: this.key });
  }
}

// ---- process ----

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

export interface RunningGateway {
  url: string;
  dir: string;
  keys: typeof DEMO_KEYS;
  proc: ChildProcess;
  /** All stdout so far (JSON log lines and the listening lines). */
  stdout(): string;
  stderr(): string;
  /** Lines of stdout that parse as JSON log records. */
  logs(): Record<string, unknown>[];
  request(path: string, method: string, opts?: RequestOptions): Promise<Response>;
  /** GET with the demo query key unless `key` is given. */
  get(path: string, key?: string | null): Promise<Response>;
  /** Open a session with the demo agent key (or `key`); throws unless 200. */
  agent(taskId?: string, opts?: { key?: string; timeout?: number }): Promise<AgentSession>;
  /** Replace the config files and SIGHUP; resolves when the gateway logged the outcome. */
  reload(config: ConfigObject | string): Promise<'reloaded' | 'refused'>;
  /** Wait until `predicate` over the stdout log records holds. */
  waitForLog(predicate: (rec: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface StartOptions { args?: string[]; port?: number; timeoutMs?: number; env?: Record<string, string> }

/** Write `config` (object → one YAML file, or name → object/string map when `multiFile`) into `dir`. */
export function writeConfig(dir: string, config: ConfigObject | string, multiFile = false): void {
  for (const f of readdirSync(dir)) if (f.endsWith('.yaml')) unlinkSync(join(dir, f));
  if (typeof config === 'string') {
    writeFileSync(join(dir, 'fusion.yaml'), config);
    return;
  }
  if (multiFile) {
    for (const [name, content] of Object.entries(config)) writeFileSync(join(dir, name), typeof content === 'string' ? content : stringify(content));
    return;
  }
  writeFileSync(join(dir, 'fusion.yaml'), stringify(config));
}

/** `fustor fusion [--config DIR] …args` (no `--config` when `dir` is null: managed mode). */
function spawnGateway(dir: string | null, args: string[], env: Record<string, string> = {}): ChildProcess {
  const proc = spawn(FUSTOR_BIN, ['fusion', ...(dir === null ? [] : ['--config', dir]), ...args], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FUSTOR_LOG_LEVEL: process.env.FUSTOR_LOG_LEVEL ?? 'info', ...env },
  });
  running.add(proc);
  proc.on('exit', () => running.delete(proc));
  return proc;
}

/** Start a gateway from a config object (or raw YAML text). Resolves once it printed its listening line. */
export async function startGateway(config: ConfigObject | string, opts: StartOptions & { multiFile?: boolean } = {}): Promise<RunningGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'fustor-gw-'));
  writeConfig(dir, config, opts.multiFile === true);
  const proc = spawnGateway(dir, ['--port', String(opts.port ?? 0), '--log-format', 'json', ...(opts.args ?? [])], opts.env);
  return attachGateway(proc, dir, true, opts.timeoutMs);
}

export interface ManagedStartOptions {
  controller: string;
  /** Where identity, manifest cache and keys live; kept by `stop()` so a restart finds them. */
  stateDir: string;
  token?: string;
  name?: string;
  args?: string[];
  port?: number;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * Start a managed gateway (`fustor fusion --controller URL --state-dir DIR [--token T] [--name N]`).
 * Resolves once it printed its listening line; `memberLine` is its `managed by … as gateway NAME` line.
 */
export async function startManagedGateway(opts: ManagedStartOptions): Promise<RunningGateway & { memberLine: string }> {
  const args = ['--controller', opts.controller, '--state-dir', opts.stateDir, '--port', String(opts.port ?? 0), '--host', '127.0.0.1', '--log-format', 'json'];
  if (opts.token !== undefined) args.push('--token', opts.token);
  if (opts.name !== undefined) args.push('--name', opts.name);
  const proc = spawnGateway(null, [...args, ...(opts.args ?? [])], opts.env);
  const gw = await attachGateway(proc, opts.stateDir, false, opts.timeoutMs);
  const memberLine = /^managed by .*$/m.exec(gw.stdout())?.[0] ?? '';
  return { ...gw, memberLine };
}

/** Run `fustor fusion …args` without a config directory, expecting it to fail at startup. */
export async function runFusionExpectingFailure(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawnGateway(null, args, opts.env);
  const w = watchOutput(proc);
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 20000);
  const code = await w.exited;
  clearTimeout(timer);
  return { code, stdout: w.stdout(), stderr: w.stderr() };
}

/** Wait for the ready line of a spawned gateway and wrap it. `ownsDir`: `stop()` removes `dir`. */
async function attachGateway(proc: ChildProcess, dir: string, ownsDir: boolean, timeoutMs = 20000): Promise<RunningGateway> {
  const w = watchOutput(proc);
  const exited = w.exited;
  const url = (await waitForReady(proc, w, /^fusion listening on (https?:\/\/\S+)$/m, 'gateway', timeoutMs))[1];

  const logs = w.logs;
  const waitForLog = async (predicate: (rec: Record<string, unknown>) => boolean, timeoutMs = 10000, from = 0) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = logs().slice(from).find(predicate);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`log record not seen within ${timeoutMs} ms\nstdout:\n${w.stdout()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  const gw: RunningGateway = {
    url,
    dir,
    keys: DEMO_KEYS,
    proc,
    stdout: w.stdout,
    stderr: w.stderr,
    logs,
    request: (path, method, ropts) => request(`${url}${path}`, method, ropts),
    get: (path, key) => request(`${url}${path}`, 'GET', { key: key === undefined ? DEMO_KEYS.query : key }),
    async agent(taskId = 'agent-1:demo', aopts = {}) {
      const key = aopts.key ?? DEMO_KEYS.agent;
      const body: Record<string, unknown> = { task_id: taskId, client_info: { source_uri: `fs://${taskId}` } };
      if (aopts.timeout !== undefined) body.session_timeout_seconds = aopts.timeout;
      const res = await request(`${url}/api/v1/pipe/session/`, 'POST', { key, body });
      const created = await res.json() as Record<string, unknown>;
      if (res.status !== 200) throw new Error(`session create failed: ${res.status} ${JSON.stringify(created)}`);
      return new AgentSession(url, key, created.session_id as string, created);
    },
    async reload(next) {
      const from = logs().length;
      writeConfig(dir, next);
      proc.kill('SIGHUP');
      const rec = await waitForLog((r) => r.msg === 'configuration reloaded' || r.msg === 'reload refused: the running configuration stays in effect', 10000, from);
      return rec.msg === 'configuration reloaded' ? 'reloaded' : 'refused';
    },
    waitForLog: (predicate, timeoutMs) => waitForLog(predicate, timeoutMs),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 10000);
      const code = await exited;
      clearTimeout(killer);
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
  return gw;
}

/** Run `fustor fusion` expecting it to fail at startup; resolves with its exit code and output. */
export async function runGatewayExpectingFailure(config: ConfigObject | string, opts: { args?: string[]; multiFile?: boolean; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'fustor-gw-'));
  writeConfig(dir, config, opts.multiFile === true);
  const proc = spawnGateway(dir, ['--log-format', 'json', ...(opts.args ?? ['--port', '0'])]);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 20000);
  const code = await new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr, dir };
}

/** Poll `fn` until it returns a truthy value (or throw after `timeoutMs`). */
export async function eventually<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 10000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Short name used in the brief: `start(configObject) → {url, keys, stop()}`. */
export const start = startGateway;
