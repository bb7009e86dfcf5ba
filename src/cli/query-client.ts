/**
 * A small client of the query API (spec 30) for the user-side commands. It turns every failure into one
 * line that names the cause and the fix, and retries 503 answers (view not ready, gateway busy) for as long
 * as the caller allows (`--wait SECONDS`, default 0 = no retry).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_SERVER, resolveTarget, type Target } from './profile.ts';
import { networkCause, tlsProblem } from './network-error.ts';

export type Params = Record<string, string | number | boolean | undefined>;

/** A failed query, already phrased for the user; `status` is 0 when the gateway could not be reached. */
export class QueryError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  constructor(message: string, status: number, code?: string) {
    super(message);
    this.name = 'QueryError';
    this.status = status;
    this.code = code;
  }
}

export interface ClientOptions {
  /** Seconds during which 503 answers are retried after their Retry-After; 0 fails at once. */
  waitSeconds?: number;
  /** Sleep used between retries (tests may shorten it). */
  sleep?: (ms: number) => Promise<void>;
}

interface ErrorBody {
  code?: string;
  message?: string;
  detail?: unknown;
  details?: Record<string, unknown>;
  error?: string;
  limit?: number;
  would_return?: number;
  suggestion?: string;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class QueryClient {
  readonly target: Target;
  private readonly waitMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(target: Target, opts: ClientOptions = {}) {
    this.target = target;
    this.waitMs = Math.max(0, opts.waitSeconds ?? 0) * 1000;
    this.sleep = opts.sleep ?? defaultSleep;
  }

  /** The URL of `endpoint` (e.g. `tree`) of the target view with the given query parameters. */
  url(endpoint: string, params: Params = {}): string {
    const u = new URL(`${this.target.server}/api/v1/views/${encodeURIComponent(this.target.view)}/${endpoint}`);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  /** GET a JSON answer; throws a QueryError phrased for the user on any failure. */
  async get<T>(endpoint: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
    const url = this.url(endpoint, params);
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      let res: Response;
      try {
        res = await fetch(url, { headers: this.headers(), signal });
      } catch (e) {
        if (signal?.aborted) throw e;
        throw unreachable(this.target.server, e);
      }
      if (res.ok) {
        try {
          return (await res.json()) as T;
        } catch (e) {
          throw new QueryError(`the gateway at ${this.target.server} sent an answer that is not JSON (${(e as Error).message}): is --server a Fustor gateway?`, res.status);
        }
      }
      const body = await readErrorBody(res);
      const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
      if (res.status === 503 && Date.now() + retryAfter * 1000 <= deadline) {
        await this.sleep(retryAfter * 1000);
        continue;
      }
      throw describeFailure(res.status, body, this.target.view, retryAfter);
    }
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json' };
    if (this.target.key !== undefined) h['x-api-key'] = this.target.key;
    return h;
  }
}

async function readErrorBody(res: Response): Promise<ErrorBody> {
  const text = await res.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as ErrorBody) : { message: String(parsed) };
  } catch {
    return { message: text.trim().split('\n')[0] || undefined };
  }
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date); 1 when absent or unreadable. */
export function parseRetryAfter(value: string | null): number {
  if (value === null || value.trim() === '') return 1;
  const n = Number(value);
  if (Number.isFinite(n)) return Math.max(0, Math.ceil(n));
  const at = Date.parse(value);
  return Number.isNaN(at) ? 1 : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

function unreachable(server: string, e: unknown): QueryError {
  const tls = tlsProblem(e, server);
  if (tls !== null) return new QueryError(`cannot reach the gateway at ${server}: ${tls}`, 0);
  return new QueryError(`cannot reach the gateway at ${server} (${networkCause(e)}): start it, or pass --server URL / set FUSTOR_SERVER`, 0);
}

const serverText = (body: ErrorBody): string | undefined => {
  const m = body.message ?? (typeof body.detail === 'string' ? body.detail : undefined) ?? body.error;
  return m === undefined || m === '' ? undefined : m;
};

/** One line naming the cause and the fix, from an error answer of the query API. */
export function describeFailure(status: number, body: ErrorBody, view: string, retryAfter: number): QueryError {
  const text = serverText(body);
  const code = body.code;
  switch (status) {
    case 401:
      return new QueryError(
        code === 'AUTH_MISSING' || /missing/i.test(text ?? '')
          ? '401: no key sent — pass --key or set FUSTOR_KEY'
          : '401: key rejected — pass --key or set FUSTOR_KEY',
        status, code);
    case 403:
      return new QueryError(`403: key not authorised for view '${view}' — use a key listed in the view's api_keys`, status, code);
    case 404:
      if (text === undefined || /unknown view|no such view|view\b\s*'?[^'\s]*'?\s*(?:is\s+)?(?:unknown|not found|does not exist)/i.test(text)) {
        const known = text?.match(/known views?:?\s*(.*)$/i)?.[1];
        const hint = known !== undefined && known !== '' ? `known views: ${known}` : 'check --view';
        return new QueryError(`view '${view}' unknown: ${hint}`, status, code);
      }
      return new QueryError(/not found|unknown|does not exist/i.test(text) ? text : `not found: ${text}`, status, code);
    case 400: {
      const d = { ...body, ...(body.details ?? {}) };
      if (code === 'TOO_MANY_ITEMS' || d.would_return !== undefined) {
        const size = d.would_return !== undefined ? `${d.would_return} nodes` : 'too many nodes';
        const limit = d.limit !== undefined ? ` (limit ${d.limit})` : '';
        return new QueryError(`the answer would hold ${size}${limit}: pass --depth N or a narrower PATH`, status, code);
      }
      return new QueryError(`bad request: ${text ?? 'the gateway rejected a parameter'}`, status, code);
    }
    case 503: {
      if (code === 'BUSY') return new QueryError(`gateway busy, retry in ${retryAfter} s (or pass --wait SECONDS)`, status, code);
      const reason = text?.match(/no active leader session|initial snapshot in progress|[^:]*$/i)?.[0].trim() || 'not ready';
      return new QueryError(`view not ready (${reason}), retry in ${retryAfter} s (or pass --wait SECONDS)`, status, code);
    }
    default:
      return new QueryError(`gateway answered ${status}${text !== undefined ? `: ${text}` : ''}`, status, code);
  }
}

/** The flags every query command shares (see profile.ts for their fallbacks). */
export interface QueryFlags {
  server?: string;
  key?: string;
  view?: string;
  wait?: number;
}

/** Declares --view, --server, --key and --wait on a query command. */
export function addQueryOptions(cmd: Command): Command {
  return cmd
    .option('--view <name>', 'view to query (or FUSTOR_VIEW, or view: in $FUSTOR_HOME/profile.yaml)')
    .option('--server <url>', `gateway URL (or FUSTOR_SERVER, or server: in the profile; default ${DEFAULT_SERVER})`)
    .option('--key <key>', 'query key of the view (or FUSTOR_KEY, or key: in the profile)')
    .option('--wait <seconds>', 'retry while the view is not ready (503) for up to this long', parseNonNegative, 0);
}

export function clientFor(flags: QueryFlags): QueryClient {
  return new QueryClient(resolveTarget(flags), { waitSeconds: flags.wait ?? 0 });
}

/** Option parser: a non-negative number. */
export function parseNonNegative(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number ≥ 0.');
  return n;
}

/** Option parser: an integer ≥ 1. */
export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected an integer ≥ 1.');
  return n;
}

/** `fustor find … | head` closes stdout early: that is success, not a crash. */
export function exitQuietlyOnClosedPipe(): void {
  process.stdout.once('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}
