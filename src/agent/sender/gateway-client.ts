/**
 * GatewayClient: the ingest API of one gateway (spec 10) as typed calls over fetch. Thin on purpose: one
 * method per endpoint, no retries, no state besides the base URL and the key. Every request has a timeout
 * (AbortSignal.timeout) and every failure is a GatewayError whose `kind` says what to do (errors.ts).
 * Keep-alive comes from undici's global dispatcher, which fetch uses. Event pushes (megabytes of text)
 * go through node:http instead, with a keep-alive agent of their own: the body is written piece by piece
 * as it is, with no joining, TextEncoder copy or web stream in between (P5).
 */
import http from 'node:http';
import https from 'node:https';
import type { EventBatch, HeartbeatRequest, HeartbeatResponse, IngestResponse, Role, ScanCommand, SentinelFeedback, SentinelTasks, SessionCreateRequest, SessionCreateResponse } from '../../protocol/index.ts';
import { PIPE_HEADER } from '../../protocol/index.ts';
import { GatewayError } from './errors.ts';

export interface GatewayClientOptions {
  /** e.g. `http://fusion:8102`; a trailing slash is ignored. */
  baseUrl: string;
  /** A static key, or (managed mode) a function answering the current credential — it changes on renewal. */
  apiKey: string | (() => string);
  /** Managed mode: the credential goes as `Authorization: Bearer` with the pipe named in PIPE_HEADER. */
  managedPipe?: string;
  /** Timeout of control requests (session, heartbeat, signals); default 10 s. */
  timeoutMs?: number;
  /** Timeout of event pushes (bodies of megabytes, a gateway under load); default 30 s. */
  pushTimeoutMs?: number;
}

export interface AuditSignalResult { status: 'audit_started' | 'audit_ended'; drivers_handled: number }
export interface SentinelFeedbackResult { status: 'processed' | 'ignored'; drivers_updated?: number; reason?: string }

type Json = Record<string, unknown>;

const isRole = (v: unknown): v is Role => v === 'leader' || v === 'follower';

export class GatewayClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly pushTimeoutMs: number;

  constructor(private readonly opts: GatewayClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.pushTimeoutMs = opts.pushTimeoutMs ?? 30_000;
  }

  async createSession(req: SessionCreateRequest, signal?: AbortSignal): Promise<SessionCreateResponse> {
    const body = await this.call('POST', '/api/v1/pipe/session/', { body: JSON.stringify(req), signal });
    if (typeof body.session_id !== 'string' || !isRole(body.role)) throw malformed('session create', body);
    return {
      session_id: body.session_id,
      role: body.role,
      is_leader: body.role === 'leader',
      session_timeout_seconds: num(body.session_timeout_seconds, req.session_timeout_seconds ?? 30),
      audit_interval_sec: num(body.audit_interval_sec, 0),
      sentinel_interval_sec: num(body.sentinel_interval_sec, 0),
      ...(typeof body.message === 'string' ? { message: body.message } : {}),
    };
  }

  async heartbeat(sessionId: string, req: HeartbeatRequest, signal?: AbortSignal): Promise<HeartbeatResponse> {
    const body = await this.call('POST', `/api/v1/pipe/session/${enc(sessionId)}/heartbeat`, { body: JSON.stringify(req), signal, sessionScoped: true });
    if (!isRole(body.role)) throw malformed('heartbeat', body);
    const commands = Array.isArray(body.commands) ? body.commands.flatMap(toScanCommand) : [];
    return { status: 'ok', session_id: typeof body.session_id === 'string' ? body.session_id : sessionId, role: body.role, is_leader: body.role === 'leader', commands };
  }

  /** Idempotent on the gateway: an unknown session is "already terminated". */
  async deleteSession(sessionId: string, signal?: AbortSignal): Promise<void> {
    await this.call('DELETE', `/api/v1/pipe/session/${enc(sessionId)}`, { signal });
  }

  pushBatch(sessionId: string, batch: EventBatch, signal?: AbortSignal): Promise<IngestResponse> {
    return this.pushRaw(sessionId, JSON.stringify(batch), signal);
  }

  /**
   * Push a batch that is already JSON text (the sender builds bodies once and resends the same text);
   * the text may come in pieces, which are sent one after the other (their concatenation is the body).
   */
  async pushRaw(sessionId: string, json: string | readonly string[], signal?: AbortSignal): Promise<IngestResponse> {
    const pieces = typeof json === 'string' ? [json] : json;
    const body = await this.post(`/api/v1/pipe/ingest/${enc(sessionId)}/events`, pieces, { signal, sessionScoped: true, timeoutMs: this.pushTimeoutMs });
    if (typeof body.count !== 'number') throw malformed('push', body);
    const res: IngestResponse = { status: 'ok', count: body.count };
    if (typeof body.rejected === 'number') res.rejected = body.rejected;
    if (typeof body.phase === 'string') res.phase = body.phase;
    if (body.duplicate === true) res.duplicate = true;
    return res;
  }

  async auditStart(signal?: AbortSignal): Promise<AuditSignalResult> {
    return this.auditSignal('start', signal);
  }

  async auditEnd(signal?: AbortSignal): Promise<AuditSignalResult> {
    return this.auditSignal('end', signal);
  }

  async sentinelTasks(signal?: AbortSignal): Promise<SentinelTasks> {
    const body = await this.call('GET', '/api/v1/pipe/consistency/sentinel/tasks', { signal });
    if (body.type !== 'suspect_check' || !Array.isArray(body.paths)) return {};
    const tasks: SentinelTasks = { type: 'suspect_check', paths: body.paths.filter((p): p is string => typeof p === 'string') };
    if (typeof body.view_id === 'string') tasks.view_id = body.view_id;
    return tasks;
  }

  async sentinelFeedback(feedback: SentinelFeedback, signal?: AbortSignal): Promise<SentinelFeedbackResult> {
    const body = await this.call('POST', '/api/v1/pipe/consistency/sentinel/feedback', { body: JSON.stringify(feedback), signal });
    return body as unknown as SentinelFeedbackResult;
  }

  private async auditSignal(which: 'start' | 'end', signal?: AbortSignal): Promise<AuditSignalResult> {
    const body = await this.call('POST', `/api/v1/pipe/consistency/audit/${which}`, { signal });
    return { status: which === 'start' ? 'audit_started' : 'audit_ended', drivers_handled: num(body.drivers_handled, 0) };
  }

  /** A POST over node:http(s) with a body in pieces; the same answers and errors as `call`. */
  private async post(path: string, pieces: readonly string[], o: { signal?: AbortSignal; sessionScoped?: boolean; timeoutMs?: number }): Promise<Json> {
    const timeout = AbortSignal.timeout(o.timeoutMs ?? this.timeoutMs);
    const signal = o.signal === undefined ? timeout : AbortSignal.any([o.signal, timeout]);
    let length = 0;
    for (const p of pieces) length += Buffer.byteLength(p, 'utf8');
    const url = new URL(this.baseUrl + path);
    const secure = url.protocol === 'https:';
    const headers = { ...this.authHeaders(), accept: 'application/json', 'content-type': 'application/json', 'content-length': String(length) };
    let answer: { status: number; text: string; retryAfter: string | null };
    try {
      answer = await new Promise((resolve, reject) => {
        const req = (secure ? https : http).request(url, { method: 'POST', headers, agent: secure ? pushAgents.https : pushAgents.http, signal }, (res) => {
          res.setEncoding('utf8');
          let text = '';
          res.on('data', (chunk: string) => { text += chunk; });
          res.on('end', () => {
            const ra = res.headers['retry-after'];
            resolve({ status: res.statusCode ?? 0, text, retryAfter: typeof ra === 'string' ? ra : null });
          });
          res.on('error', reject);
          res.on('close', () => {
            if (!res.complete) reject(Object.assign(new Error('the answer was cut off'), { code: 'ECONNRESET' }));
          });
        });
        req.on('error', reject);
        req.cork();
        for (const p of pieces) req.write(p, 'utf8');
        req.end();
      });
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      if (o.signal?.aborted !== true && timeout.aborted) throw transportError(Object.assign(new Error(err.message), { name: 'TimeoutError' }), 'POST', path, o.signal);
      const code = (err as NodeJS.ErrnoException).code;
      throw transportError(typeof code === 'string' ? Object.assign(new Error(err.message), { cause: { code } }) : err, 'POST', path, o.signal);
    }
    return this.answer('POST', path, answer.status, answer.text, answer.retryAfter, o.sessionScoped === true);
  }

  private authHeaders(): Record<string, string> {
    const key = typeof this.opts.apiKey === 'function' ? this.opts.apiKey() : this.opts.apiKey;
    if (this.opts.managedPipe === undefined) return { 'x-api-key': key };
    return { authorization: `Bearer ${key}`, [PIPE_HEADER]: this.opts.managedPipe };
  }

  /** One request: JSON in, JSON object out, every failure a GatewayError. */
  private async call(method: string, path: string, o: { body?: string; signal?: AbortSignal; sessionScoped?: boolean; timeoutMs?: number }): Promise<Json> {
    const timeout = AbortSignal.timeout(o.timeoutMs ?? this.timeoutMs);
    const signal = o.signal === undefined ? timeout : AbortSignal.any([o.signal, timeout]);
    const headers: Record<string, string> = { ...this.authHeaders(), accept: 'application/json' };
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const res = await fetch(this.baseUrl + path, { method, headers, body: o.body, signal });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      text = await res.text();
    } catch (e) {
      throw transportError(e, method, path, o.signal);
    }
    return this.answer(method, path, status, text, retryAfter, o.sessionScoped === true);
  }

  private answer(method: string, path: string, status: number, text: string, retryAfter: string | null, sessionScoped: boolean): Json {
    let body: Json = {};
    if (text.length > 0) {
      try {
        const parsed: unknown = JSON.parse(text);
        if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Json;
      } catch {
        if (status >= 200 && status < 300) throw new GatewayError('server', `${method} ${path}: the answer is not JSON`, { status });
      }
    }
    if (status >= 200 && status < 300) return body;
    throw statusError(status, body, retryAfter, method, path, sessionScoped);
  }
}

/**
 * Keep-alive agents of the event pushes (shared by every client of the thread, like fetch's dispatcher),
 * with the options of Node's global agents: idle sockets are closed after 5 s.
 */
const pushAgents = {
  http: new http.Agent({ keepAlive: true, scheduling: 'lifo', timeout: 5000 }),
  https: new https.Agent({ keepAlive: true, scheduling: 'lifo', timeout: 5000 }),
};

function statusError(status: number, body: Json, retryAfter: string | null, method: string, path: string, sessionScoped: boolean): GatewayError {
  const code = typeof body.code === 'string' ? body.code : undefined;
  const detail = typeof body.message === 'string' ? body.message : typeof body.detail === 'string' ? body.detail : '';
  const msg = `${method} ${path}: ${status}${detail ? ` ${detail}` : ''}`;
  const o = { status, code };
  if (status === 419 || (status === 404 && sessionScoped)) return new GatewayError('session_obsolete', msg, o);
  if (status === 409) return new GatewayError('locked', msg, o);
  if (status === 413) return new GatewayError('too_large', msg, o);
  if (status === 503) return new GatewayError('busy', msg, { ...o, retryAfterSec: parseRetryAfter(retryAfter) });
  if (status === 401 || status === 403) return new GatewayError('auth', msg, o);
  if (status >= 500) return new GatewayError('server', msg, o);
  return new GatewayError('rejected', msg, o);
}

function transportError(e: unknown, method: string, path: string, callerSignal: AbortSignal | undefined): GatewayError {
  const err = e instanceof Error ? e : new Error(String(e));
  if (callerSignal?.aborted === true) return new GatewayError('aborted', `${method} ${path}: aborted`, { cause: err });
  if (err.name === 'TimeoutError') return new GatewayError('timeout', `${method} ${path}: no answer in time`, { cause: err });
  const cause = (err as { cause?: unknown }).cause;
  const code = cause !== null && typeof cause === 'object' && typeof (cause as { code?: unknown }).code === 'string' ? (cause as { code: string }).code : undefined;
  const reason = code ?? (cause instanceof Error ? cause.message : err.message);
  return new GatewayError('unreachable', `${method} ${path}: ${reason}`, { cause: err, code });
}

/** Seconds; accepts delta-seconds or an HTTP date; 1 when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number {
  if (value === null || value.trim() === '') return 1;
  const n = Number(value);
  if (Number.isFinite(n) && n >= 0) return n;
  const at = Date.parse(value);
  if (Number.isFinite(at)) return Math.max(0, (at - now) / 1000);
  return 1;
}

/** A well-formed scan command (older gateways omit `recursive`/`created_at`); anything else is skipped. */
function toScanCommand(c: unknown): ScanCommand[] {
  if (c === null || typeof c !== 'object') return [];
  const o = c as Json;
  if (o.type !== 'scan' || typeof o.path !== 'string' || typeof o.job_id !== 'string') return [];
  return [{ type: 'scan', path: o.path, job_id: o.job_id, recursive: o.recursive !== false, created_at: num(o.created_at, Date.now() / 1000) }];
}

function malformed(what: string, body: Json): GatewayError {
  return new GatewayError('server', `${what}: unexpected answer ${JSON.stringify(body).slice(0, 200)}`);
}

const num = (v: unknown, dflt: number): number => (typeof v === 'number' && Number.isFinite(v) ? v : dflt);
const enc = encodeURIComponent;
