/**
 * Test helper: run the REAL controller process (`bin/fustor controller --data-dir DIR --port 0`), talk to
 * its management API, run `bin/fustor ctl` against it, stop it (SIGTERM) or kill it (SIGKILL). Every
 * started process is killed when the test process exits.
 *
 *   const c = await startController();              // fresh temp data dir
 *   const res = await c.request('/api/v1/apply', 'POST', { body: [doc] });   // admin token by default
 *   const out = await c.ctl(['get', 'views']);       // {code, stdout, stderr}
 *   await c.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { FUSTOR_BIN, ROOT } from './gateway.ts';
import { waitForReady, watchOutput } from './process.ts';

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

export interface CtlResult { code: number | null; stdout: string; stderr: string }

export interface RunningController {
  url: string;
  dataDir: string;
  adminToken: string;
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Its JSON log lines, parsed. */
  logs(): Record<string, unknown>[];
  /** A request with the admin token unless `token` is given (`null` = no Authorization header). */
  request(path: string, method: string, opts?: { token?: string | null; body?: unknown; rawBody?: string | Uint8Array; headers?: Record<string, string> }): Promise<Response>;
  /** Same, parsed: `{status, body}`. */
  json(path: string, method: string, opts?: { token?: string | null; body?: unknown; rawBody?: string | Uint8Array; headers?: Record<string, string> }): Promise<{ status: number; body: Record<string, unknown> }>;
  /** `bin/fustor ctl --server URL [--token T] …args` (admin token unless `token` is given; null = none). */
  ctl(args: string[], opts?: { token?: string | null; env?: Record<string, string> }): Promise<CtlResult>;
  /** SIGTERM and wait; resolves with the exit code. Removes the data dir when the helper created it. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait (the data dir stays). */
  kill(): Promise<void>;
}

export interface StartControllerOptions {
  dataDir?: string;
  args?: string[];
  timeoutMs?: number;
  /** Added to the environment of the process. */
  env?: Record<string, string>;
  /**
   * The admin token to use when the data dir has none: replicas after the first one share the database,
   * whose admin token the first replica wrote to ITS data dir.
   */
  adminToken?: string;
}

export async function startController(opts: StartControllerOptions = {}): Promise<RunningController> {
  const owned = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? join(mkdtempSync(join(tmpdir(), 'fustor-ctrl-')), 'data');
  const proc = spawn(FUSTOR_BIN, ['controller', '--data-dir', dataDir, '--port', '0', '--log-format', 'json', ...(opts.args ?? [])], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FUSTOR_LOG_LEVEL: process.env.FUSTOR_LOG_LEVEL ?? 'info', ...opts.env },
  });
  running.add(proc);
  const w = watchOutput(proc);
  const exited = w.exited.then((code) => {
    running.delete(proc);
    return code;
  });
  const url = (await waitForReady(proc, w, /^controller listening on (https?:\/\/\S+)$/m, 'controller', opts.timeoutMs ?? 20000))[1];
  const tokenFile = join(dataDir, 'admin-token');
  const adminToken = opts.adminToken !== undefined && !existsSync(tokenFile) ? opts.adminToken : readFileSync(tokenFile, 'utf8').trim();

  const request: RunningController['request'] = (path, method, ropts = {}) => {
    const headers: Record<string, string> = { ...ropts.headers };
    const token = ropts.token === undefined ? adminToken : ropts.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | Uint8Array | undefined;
    if (ropts.rawBody !== undefined) body = ropts.rawBody;
    else if (ropts.body !== undefined) body = JSON.stringify(ropts.body);
    if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
    return fetch(`${url}${path}`, { method, headers, body });
  };

  return {
    url,
    dataDir,
    adminToken,
    proc,
    stdout: w.stdout,
    stderr: w.stderr,
    logs: w.logs,
    request,
    async json(path, method, ropts) {
      const res = await request(path, method, ropts);
      const text = await res.text();
      return { status: res.status, body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> };
    },
    ctl: (args, copts = {}) => runCtl(['--server', url, ...(copts.token === null ? [] : ['--token', copts.token ?? adminToken]), ...args], copts.env),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const killer = setTimeout(() => proc.kill('SIGKILL'), 10000);
        await exited;
        clearTimeout(killer);
      }
      if (owned) rmSync(join(dataDir, '..'), { recursive: true, force: true });
      return proc.exitCode;
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** `bin/fustor ctl …args` with a clean FUSTOR_* environment plus `env`. */
export function runCtl(args: string[], env: Record<string, string> = {}): Promise<CtlResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FUSTOR_')));
  const proc = spawn(FUSTOR_BIN, ['ctl', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...base, ...env } });
  running.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => proc.on('exit', (code) => {
    running.delete(proc);
    resolve({ code, stdout, stderr });
  }));
}

/** Run `fustor controller …args` expecting it to fail at startup. */
export function runControllerExpectingFailure(args: string[], env: Record<string, string> = {}): Promise<CtlResult> {
  const proc = spawn(FUSTOR_BIN, ['controller', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  running.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 20000);
  return new Promise((resolve) => proc.on('exit', (code) => {
    clearTimeout(timer);
    running.delete(proc);
    resolve({ code, stdout, stderr });
  }));
}

// ---- documents ---------------------------------------------------------------------------------

export type Doc = Record<string, unknown>;

export const gatewayDoc = (name: string, url = `http://${name}.example:8101`): Doc => ({ apiVersion: 'fustor.io/v1', kind: 'Gateway', metadata: { name }, spec: { url } });
export const viewDoc = (name: string, gateway: string, extra: Doc = {}): Doc => ({ apiVersion: 'fustor.io/v1', kind: 'View', metadata: { name }, spec: { driver: 'fs', gateway, ...extra } });
export const pipeDoc = (name: string, view: string, extra: Doc = {}): Doc => ({
  apiVersion: 'fustor.io/v1', kind: 'Pipe', metadata: { name },
  spec: { agentSelector: { matchLabels: { site: 'a' } }, source: { driver: 'fs', uri: `/data/${name}` }, view, ...extra },
});
export const secretDoc = (name: string, data: Record<string, string>): Doc => ({ apiVersion: 'fustor.io/v1', kind: 'Secret', metadata: { name }, spec: { data } });
export const queryKeyDoc = (name: string, views: string[]): Doc => ({ apiVersion: 'fustor.io/v1', kind: 'QueryKey', metadata: { name }, spec: { views } });

export interface EnrolledMember { id: string; credential: string; privateKey: CryptoKey }

/**
 * Enrolls a member over the API as a real member does (its own P-256 key pair, generated here) and asserts 201.
 * Without `token`, a fresh single-use enrollment token of the kind (and labels) is created first.
 */
export async function enrollMember(c: RunningController, o: { name: string; kind?: 'agent' | 'gateway'; token?: string; labels?: Record<string, string> }): Promise<EnrolledMember> {
  const kind = o.kind ?? 'agent';
  const token = o.token ?? (await c.json('/api/v1/tokens/enrollment', 'POST', { body: { kind, ...(o.labels === undefined ? {} : { labels: o.labels }) } })).body.token as string;
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const res = await c.json('/api/v1/enroll', 'POST', { token: null, body: { token, kind, name: o.name, public_key: await exportJWK(publicKey) } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.member_id as string, credential: res.body.credential as string, privateKey };
}
