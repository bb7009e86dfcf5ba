/**
 * What every `fustor ctl` verb shares: the HTTP client of the management API (errors phrased for the
 * operator: one line naming cause and fix), the server/token resolution, option parsers, table/json/yaml
 * output and the action wrapper that turns a CtlError into stderr + exit 1.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { stringify } from 'yaml';
import type { FieldProblem } from '../../protocol/index.ts';
import { networkCause, tlsProblem } from '../network-error.ts';

export const DEFAULT_CONTROLLER_URL = 'http://127.0.0.1:8100';

interface GlobalFlags { server?: string; token?: string }
export type Json = Record<string, unknown>;

/** A failure already phrased for the operator. */
export class CtlError extends Error {
  constructor(message: string, readonly lines: string[] = []) {
    super(message);
    this.name = 'CtlError';
  }
}

// ---- HTTP --------------------------------------------------------------------------------------

export class Client {
  constructor(readonly server: string, private readonly token: string | undefined) {}

  async call<T>(method: string, path: string, body?: unknown, origins?: DocOrigin[]): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.server}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
    } catch (e) {
      const tls = tlsProblem(e, this.server);
      if (tls !== null) throw new CtlError(`cannot reach the controller at ${this.server}: ${tls}`);
      throw new CtlError(`cannot reach the controller at ${this.server} (${networkCause(e)}): is it running? pass --server or set FUSTOR_SERVER`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new CtlError(`${res.status}: the answer from ${this.server} is not JSON: is --server a Fustor controller?`);
    }
    if (res.ok) return parsed as T;
    throw describeError(res.status, (parsed ?? {}) as Json, origins);
  }
}

function describeError(status: number, body: Json, origins?: DocOrigin[]): CtlError {
  const message = typeof body.message === 'string' ? body.message : `HTTP ${status}`;
  if (status === 401) {
    return new CtlError(body.code === 'AUTH_MISSING' ? '401: no token sent — pass --token or set FUSTOR_TOKEN' : '401: token rejected — pass --token or set FUSTOR_TOKEN');
  }
  if (status === 403) return new CtlError(`403: ${message} — use a token with that role (--token or FUSTOR_TOKEN)`);
  if (status === 422 && Array.isArray(body.details)) {
    const lines = (body.details as FieldProblem[]).map((p) => `  ${locate(p.path, origins)}: ${p.message}`);
    return new CtlError(`422: ${body.details.length} invalid field(s), nothing applied — fix them and run again:`, lines);
  }
  return new CtlError(`${status}: ${message}`);
}

export interface DocOrigin { file: string; doc: number }

/** `[3].spec.view` → `pipes.yaml (document 2) spec.view`. */
function locate(path: string, origins?: DocOrigin[]): string {
  const m = /^\[(\d+)\]\.?(.*)$/.exec(path);
  const o = m === null ? undefined : origins?.[Number(m[1])];
  if (m === null || o === undefined) return path;
  return `${o.file} (document ${o.doc})${m[2] === '' ? '' : ` ${m[2]}`}`;
}

// ---- option parsers ----------------------------------------------------------------------------

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

export function parseDuration(value: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(value.trim());
  if (m === null) throw new InvalidArgumentError('must be a duration like 90s, 30m, 1h or 7d');
  return Number(m[1]) * UNITS[m[2] === '' ? 's' : m[2]];
}

export function parseLabels(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`'${part}' is not k=v (write --labels site=a,rack=3)`);
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

export function parsePositive(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
}

export const list = (value: string) => value.split(',').map((s) => s.trim()).filter((s) => s !== '');

// ---- output ------------------------------------------------------------------------------------

export const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const r of [header, ...rows]) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd());
}


export function print(format: string, value: unknown, asTable: () => void): void {
  if (format === 'json') out(JSON.stringify(value, null, 2));
  else if (format === 'yaml') process.stdout.write(Array.isArray(value) ? value.map((v) => stringify(v)).join('---\n') : stringify(value));
  else asTable();
}

// ---- client and options --------------------------------------------------------------------------

export function client(cmd: Command): Client {
  const g = cmd.optsWithGlobals<GlobalFlags>();
  const server = (g.server ?? process.env.FUSTOR_CONTROLLER ?? process.env.FUSTOR_SERVER ?? DEFAULT_CONTROLLER_URL).replace(/\/+$/, '');
  if (!/^https?:\/\//.test(server)) throw new CtlError(`--server ${JSON.stringify(server)} is not an http(s) URL (write --server http://HOST:8100)`);
  const token = g.token ?? (process.env.FUSTOR_TOKEN === '' ? undefined : process.env.FUSTOR_TOKEN);
  return new Client(server, token);
}

export const formatOption = (choices: string[], dflt: string) => new Option('-o, --output <format>', 'output format').choices(choices).default(dflt);

/** Wrap an action: CtlError → its lines on stderr and exit code 1. */
export function run<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      if (!(e instanceof CtlError)) throw e;
      process.stderr.write(`fustor: ${e.message}\n${e.lines.map((l) => `${l}\n`).join('')}`);
      process.exitCode = 1;
    }
  };
}
