/**
 * Pushes a Layout into a gateway the way a leader agent's snapshot does (spec 10): open a session, keep it
 * alive with heartbeats, send batches of snapshot rows with a few requests in flight, and mark the last
 * batch `is_end: true` once every earlier batch has been acknowledged. Used by the benchmarks and by
 * scripts/load-sample.ts.
 */
import type { SessionCreateResponse } from '../../src/protocol/index.ts';
import { HttpClient, HttpStatusError } from './http.ts';
import { Layout, snapshotBatch } from './layout.ts';

export interface Session {
  id: string;
  role: string;
  timeoutSeconds: number;
  stopHeartbeat(): void;
}

/** Opens a session for `taskId` and heartbeats it every third of its timeout until stopHeartbeat(). */
export async function openSession(client: HttpClient, taskId: string, sourceUri = 'bench://layout'): Promise<Session> {
  const res = await client.json<SessionCreateResponse>('POST', '/api/v1/pipe/session/', { task_id: taskId, client_info: { source_uri: sourceUri } });
  const timeout = res.session_timeout_seconds > 0 ? res.session_timeout_seconds : 30;
  let failed = false;
  const timer = setInterval(() => {
    client.json('POST', `/api/v1/pipe/session/${res.session_id}/heartbeat`, { can_realtime: false }).catch((e: unknown) => {
      if (!failed) process.stderr.write(`heartbeat failed: ${(e as Error).message}\n`);
      failed = true;
    });
  }, Math.max(1000, (timeout * 1000) / 3));
  timer.unref();
  return { id: res.session_id, role: res.role, timeoutSeconds: timeout, stopHeartbeat: () => clearInterval(timer) };
}

export async function closeSession(client: HttpClient, session: Session): Promise<void> {
  session.stopHeartbeat();
  await client.request('DELETE', `/api/v1/pipe/session/${session.id}`);
}

export interface Body {
  text: string;
  rows: number;
}

export interface PushResult {
  rows: number;
  batches: number;
  /** 503 answers (queue full) that were retried after their Retry-After. */
  busyRetries: number;
  seconds: number;
}

/** The layout's snapshot as serialised batch bodies (the last one not yet marked is_end). */
export function* layoutBodies(layout: Layout, batchSize: number): Generator<Body> {
  for (const rows of layout.batches(batchSize)) yield { text: JSON.stringify(snapshotBatch(rows)), rows: rows.length };
}

/** Serialises every body up front, so that a timed push measures the gateway and not JSON.stringify. */
export function preSerialise(layout: Layout, batchSize: number): Body[] {
  return [...layoutBodies(layout, batchSize)];
}

const IS_END_FALSE = '"is_end":false}';

/**
 * Sends `bodies` as one snapshot: `concurrency` requests in flight, the last body sent alone after all
 * others were acknowledged, with `is_end: true`.
 */
export async function pushSnapshot(client: HttpClient, sessionId: string, bodies: Iterable<Body>, concurrency = 4): Promise<PushResult> {
  const t0 = performance.now();
  const it = bodies[Symbol.iterator]();
  let ahead = it.next();
  const result: PushResult = { rows: 0, batches: 0, busyRetries: 0, seconds: 0 };
  const path = `/api/v1/pipe/ingest/${sessionId}/events`;
  const post = async (body: string, rows: number) => {
    for (;;) {
      const res = await client.request('POST', path, body);
      if (res.status === 503) {
        result.busyRetries++;
        const after = Number(res.headers['retry-after'] ?? 1);
        await new Promise((r) => setTimeout(r, (Number.isFinite(after) ? after : 1) * 1000));
        continue;
      }
      if (res.status < 200 || res.status >= 300) throw new HttpStatusError('POST', path, res);
      result.rows += rows;
      result.batches++;
      return;
    }
  };
  // Take the next body unless it is the last one (which carries is_end and goes alone).
  const takeNonLast = (): Body | undefined => {
    if (ahead.done) return undefined;
    const next = it.next();
    if (next.done) return undefined;
    const current = ahead.value;
    ahead = next;
    return current;
  };
  const lane = async () => {
    for (let b = takeNonLast(); b !== undefined; b = takeNonLast()) await post(b.text, b.rows);
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, lane));
  if (!ahead.done) {
    const last = ahead.value.text;
    if (!last.endsWith(IS_END_FALSE)) throw new Error('a snapshot body must end with "is_end":false}');
    await post(`${last.slice(0, -IS_END_FALSE.length)}"is_end":true}`, ahead.value.rows);
  } else {
    await post(JSON.stringify(snapshotBatch([], true)), 0);
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

/**
 * Polls `/stats` of the view until it answers 200 (the view is ready: leader snapshot ended and the queue
 * drained) and, when given, holds at least `minItems` items.
 */
export async function waitReady(client: HttpClient, view: string, opts: { timeoutMs?: number; minItems?: number; intervalMs?: number } = {}): Promise<Record<string, unknown>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
  const path = `/api/v1/views/${encodeURIComponent(view)}/stats`;
  let last: string;
  for (;;) {
    const res = await client.request('GET', path);
    if (res.status === 200) {
      const stats = JSON.parse(res.text) as Record<string, unknown>;
      const items = Number(stats.item_count ?? stats.total_files ?? 0);
      if (opts.minItems === undefined || items >= opts.minItems) return stats;
      last = `200 with item_count ${items}`;
    } else if (res.status !== 503) {
      throw new HttpStatusError('GET', path, res);
    } else last = `503 ${res.text.slice(0, 200)}`;
    if (Date.now() > deadline) throw new Error(`view ${view} not ready after ${opts.timeoutMs ?? 300_000} ms (last answer: ${last})`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 25));
  }
}
