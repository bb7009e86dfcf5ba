/**
 * A minimal keep-alive HTTP client for the benchmarks and the sample loader (node:http, one Agent per client,
 * so connections are reused across requests as a long-lived API client would).
 */
import http from 'node:http';
import https from 'node:https';

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export class HttpClient {
  readonly base: URL;
  private readonly headers: Record<string, string>;
  private readonly agent: http.Agent;
  private readonly lib: typeof http | typeof https;

  constructor(base: string, headers: Record<string, string> = {}, opts: { maxSockets?: number } = {}) {
    this.base = new URL(base);
    this.headers = headers;
    this.lib = this.base.protocol === 'https:' ? https : http;
    this.agent = new this.lib.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 64 });
  }

  request(method: string, path: string, body?: string | Buffer): Promise<HttpAnswer> {
    const url = new URL(path, this.base);
    const headers: Record<string, string | number> = { ...this.headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    return new Promise((resolve, reject) => {
      const req = this.lib.request(url, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** GET/POST returning parsed JSON; a non-2xx answer throws with the status and the start of the body. */
  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
    if (res.status < 200 || res.status >= 300) throw new HttpStatusError(method, path, res);
    return (res.text === '' ? undefined : JSON.parse(res.text)) as T;
  }

  close(): void {
    this.agent.destroy();
  }
}

export class HttpStatusError extends Error {
  readonly status: number;
  readonly answer: HttpAnswer;
  constructor(method: string, path: string, res: HttpAnswer) {
    super(`${method} ${path} → ${res.status}: ${res.text.slice(0, 300)}`);
    this.status = res.status;
    this.answer = res;
  }
}
