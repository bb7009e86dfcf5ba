/**
 * Starts a real gateway process (`bin/fustor fusion --config DIR --port N`) with a one-view benchmark
 * configuration, and reads its memory from /proc. The benchmark process stays separate from the gateway.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { exitOf, stopChild, waitForOutput } from './child-process.ts';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const RECEIVER_KEY = 'bench-receiver-key';
export const QUERY_KEY = 'bench-query-key';
export const VIEW = 'bench';
export const PIPE = 'bench-pipe';

export interface Gateway {
  url: string;
  pid: number;
  view: string;
  receiverKey: string;
  queryKey: string;
  logFile: string;
  /** Resident set size of the gateway process in bytes (VmRSS) and its peak (VmHWM). */
  memory(): { rss: number; hwm: number };
  stop(): Promise<void>;
}

export function benchConfig(port: number, queueCapacity = 1000): string {
  return `host: 127.0.0.1
port: ${port}
receivers:
  bench:
    driver: http
    api_keys:
      - key: ${RECEIVER_KEY}
        pipe_id: ${PIPE}
views:
  ${VIEW}:
    driver: fs
    api_keys: [${QUERY_KEY}]
    driver_params:
      hot_file_threshold: 30
      max_tree_items: 0
pipes:
  ${PIPE}:
    receiver: bench
    views: [${VIEW}]
    session_timeout_seconds: 60
    queue_capacity: ${queueCapacity}
`;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function readMemory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Starts a gateway and resolves once it prints the URL it listens on. */
export async function startGateway(opts: { nodeOptions?: string; startTimeoutMs?: number } = {}): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), 'fustor-bench-gw-'));
  const port = await freePort();
  writeFileSync(join(dir, 'fusion.yaml'), benchConfig(port));
  const logFile = join(dir, 'gateway.log');
  const log = createWriteStream(logFile);
  const env = { ...process.env, NODE_OPTIONS: [process.env.NODE_OPTIONS, opts.nodeOptions].filter(Boolean).join(' ') };
  const child: ChildProcess = spawn(join(ROOT, 'bin/fustor'), ['fusion', '--config', dir, '--port', String(port), '--log-format', 'json'], {
    cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = exitOf(child);
  const [, listening] = await waitForOutput(child, exited, { pattern: /fusion listening on (https?:\/\/[^\s"'\\]+)/, what: 'gateway', timeoutMs: opts.startTimeoutMs ?? 30_000, logFile, matchStderr: true });
  const url = listening.replace(/\/$/, '');
  // Keep draining the pipes into the log file: a full pipe would stall the gateway.
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const pid = child.pid ?? 0;
  return {
    url, pid, view: VIEW, receiverKey: RECEIVER_KEY, queryKey: QUERY_KEY, logFile,
    memory: () => readMemory(pid),
    async stop() {
      await stopChild(child, exited, 10_000);
      log.end();
      if (!process.env.FUSTOR_BENCH_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
    },
  };
}
