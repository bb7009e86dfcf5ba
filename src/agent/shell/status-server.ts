/**
 * The agent's local status endpoint: HTTP on a Unix socket (mode 0600) — `GET /status` (JSON) and
 * `POST /reload`. A socket left by a dead agent is replaced; a socket answered by a live agent is an error.
 */
import { createServer, request, type Server } from 'node:http';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import type { ReloadResult } from './agent-shell.ts';

export interface StatusHandlers {
  status(): unknown;
  reload(): Promise<ReloadResult>;
}

export class StatusServer {
  private readonly server: Server;

  constructor(readonly path: string, handlers: StatusHandlers) {
    this.server = createServer((req, res) => {
      const send = (code: number, body: unknown) => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'GET' && req.url === '/status') return send(200, handlers.status());
      if (req.method === 'POST' && req.url === '/reload') {
        handlers.reload().then((r) => send(r.ok ? 200 : 422, r), (e: unknown) => send(500, { ok: false, error: String(e) }));
        return;
      }
      send(404, { error: 'not found' });
    });
  }

  async listen(): Promise<void> {
    if (existsSync(this.path)) {
      if (await isAlive(this.path)) throw new Error(`another agent is running with this state dir (${this.path} answers)`);
      unlinkSync(this.path);
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.path, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    chmodSync(this.path, 0o600);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

function isAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: path, path: '/status', method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/** Client side (`fustor agent status|reload`). */
export function callAgent(socketPath: string, method: 'GET' | 'POST', path: string, timeoutMs = 15_000): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown });
        } catch {
          reject(new Error(`the agent answered something that is not JSON on ${socketPath}`));
        }
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      reject(new Error(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? `no agent is running with this state dir (${socketPath}: ${e.code})` : `cannot reach the agent on ${socketPath}: ${e.message}`));
    });
    req.on('timeout', () => req.destroy(new Error(`the agent did not answer within ${timeoutMs} ms`)));
    req.end();
  });
}
