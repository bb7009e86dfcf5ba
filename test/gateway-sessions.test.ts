/**
 * Ingest protocol, session half (spec 10): key discovery, session create (leader/follower), same task_id
 * replacement, the 409 lock, heartbeats (419 after expiry / unknown), failover, idempotent DELETE, and the
 * per-session and per-view key checks. Real `fustor fusion` process, real HTTP.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { demoConfig, dirRow, eventually, fileRow, snapshotBatch, startGateway, type RunningGateway } from './helpers/gateway.ts';

const SECOND_AGENT_KEY = 'test-agent-key-0002';
const OTHER_VIEW_KEY = 'test-other-query-key';

/** demo config plus a second receiver key for pipe `demo` and a second view `other` with its own key. */
function config(pipe: Record<string, unknown> = {}) {
  const c = demoConfig({ pipe }) as Record<string, Record<string, Record<string, unknown>>>;
  (c.receivers.main.api_keys as unknown[]).push({ key: SECOND_AGENT_KEY, pipe_id: 'demo' });
  c.views.other = { driver: 'fs', api_keys: [OTHER_VIEW_KEY] };
  return c;
}

let gw: RunningGateway;
before(async () => { gw = await startGateway(config()); });
after(async () => { await gw.stop(); });

test('key discovery names the pipe and primary view of a receiver key, the view of a query key', async () => {
  const agent = await gw.request('/api/v1/pipe/session/', 'GET', { key: gw.keys.agent });
  assert.equal(agent.status, 200);
  assert.deepEqual(await agent.json(), { view_id: 'demo', pipe_id: 'demo', status: 'authorized' });
  const query = await gw.request('/api/v1/pipe/session/', 'GET', { key: gw.keys.query });
  assert.deepEqual(await query.json(), { view_id: 'demo', status: 'authorized' });
});

test('a missing key is 401 "X-API-Key header is missing", an unknown key is 401', async () => {
  const missing = await gw.request('/api/v1/pipe/session/', 'GET', { key: null });
  assert.equal(missing.status, 401);
  const body = await missing.json() as Record<string, unknown>;
  assert.equal(body.detail, 'X-API-Key header is missing');
  assert.equal(body.code, 'AUTH_MISSING');
  const unknown = await gw.request('/api/v1/views/demo/stats', 'GET', { key: 'not-a-configured-key' });
  assert.equal(unknown.status, 401);
  assert.equal(((await unknown.json()) as Record<string, unknown>).code, 'AUTH_INVALID');
});

test('the first session is leader, the next task is follower; timeout = max(client hint, pipe setting)', async () => {
  const a = await gw.agent('host-a:demo', { timeout: 5 });
  const b = await gw.agent('host-b:demo', { timeout: 120 });
  try {
    assert.equal(a.created.role, 'leader');
    assert.equal(a.created.is_leader, true);
    assert.equal(a.created.session_timeout_seconds, 30, 'a smaller client hint does not lower the pipe setting');
    assert.equal(a.created.audit_interval_sec, 43200);
    assert.equal(a.created.sentinel_interval_sec, 120);
    assert.equal(b.created.role, 'follower');
    assert.equal(b.created.is_leader, false);
    assert.equal(b.created.session_timeout_seconds, 120);
    const hb = await b.heartbeat();
    assert.deepEqual(await hb.json(), { status: 'ok', session_id: b.sessionId, role: 'follower', is_leader: false, commands: [] });
  } finally {
    await a.close();
    await b.close();
  }
});

test('a second session with the same task_id replaces the first (agent restart)', async () => {
  const first = await gw.agent('host-r:demo');
  const second = await gw.agent('host-r:demo');
  try {
    assert.notEqual(first.sessionId, second.sessionId);
    assert.equal((await first.heartbeat()).status, 419);
    assert.equal(second.created.role, 'leader', 'the only live session leads');
    const sessions = await (await gw.get('/api/v1/views/demo/sessions')).json() as { count: number; active_sessions: { task_id: string; agent_id: string }[] };
    assert.equal(sessions.count, 1);
    assert.equal(sessions.active_sessions[0].task_id, 'host-r:demo');
    assert.equal(sessions.active_sessions[0].agent_id, 'host-r');
  } finally {
    await second.close();
  }
});

test('heartbeat of an unknown session is 419', async () => {
  const res = await gw.request('/api/v1/pipe/session/00000000-0000-0000-0000-000000000000/heartbeat', 'POST', { key: gw.keys.agent, body: {} });
  assert.equal(res.status, 419);
  assert.equal(((await res.json()) as Record<string, unknown>).code, 'SESSION_OBSOLETE');
});

test('DELETE is idempotent; session-scoped calls need the key that created the session (403)', async () => {
  const a = await gw.agent('host-d:demo');
  const other = { key: SECOND_AGENT_KEY };
  assert.equal((await gw.request(`/api/v1/pipe/session/${a.sessionId}/heartbeat`, 'POST', { ...other, body: {} })).status, 403);
  assert.equal((await a.push(snapshotBatch([fileRow('/x')]), other)).status, 403);
  assert.equal((await gw.request(`/api/v1/pipe/session/${a.sessionId}`, 'DELETE', other)).status, 403);
  assert.equal((await a.heartbeat()).status, 200, 'the foreign calls did not end the session');
  const first = await a.close();
  assert.equal(first.status, 200);
  const second = await a.close();
  assert.equal(second.status, 200);
  assert.match(((await second.json()) as { message: string }).message, /already terminated/);
  assert.equal((await a.heartbeat()).status, 419);
});

test('a query key cannot open an ingest session (403); a receiver key cannot query (403)', async () => {
  const res = await gw.request('/api/v1/pipe/session/', 'POST', { key: gw.keys.query, body: { task_id: 'x:demo' } });
  assert.equal(res.status, 403);
  assert.equal((await gw.get('/api/v1/views/demo/sessions', gw.keys.agent)).status, 403);
});

test('a view key queries its own view only: 403 on another view, 404 naming its views for an unknown one', async () => {
  assert.equal((await gw.get('/api/v1/views/other/sessions', gw.keys.query)).status, 403);
  assert.equal((await gw.get('/api/v1/views/demo/sessions', OTHER_VIEW_KEY)).status, 403);
  assert.equal((await gw.get('/api/v1/views/other/sessions', OTHER_VIEW_KEY)).status, 200);
  const unknown = await gw.get('/api/v1/views/nope/stats', gw.keys.query);
  assert.equal(unknown.status, 404);
  assert.match(((await unknown.json()) as { message: string }).message, /view 'nope' unknown: known views: demo$/);
});

test('failover: when the leader ends, the follower is promoted at once and the view waits for its snapshot', async () => {
  const leader = await gw.agent('host-l:demo');
  const follower = await gw.agent('host-f:demo');
  try {
    assert.equal(leader.role, 'leader');
    await leader.pushOk(snapshotBatch([dirRow('/d'), fileRow('/d/one')], { isEnd: true }));
    await eventually(async () => (await gw.get('/api/v1/views/demo/stats')).status === 200, 20000, 'view ready');

    await leader.close();
    const hb = await (await follower.heartbeat()).json() as Record<string, unknown>;
    assert.equal(hb.role, 'leader');
    assert.equal(hb.is_leader, true);
    const notReady = await gw.get('/api/v1/views/demo/tree');
    assert.equal(notReady.status, 503);
    assert.ok(notReady.headers.get('retry-after'));
    assert.equal(((await notReady.json()) as { message: string }).message, 'initial snapshot in progress');

    await follower.pushOk(snapshotBatch([dirRow('/d'), fileRow('/d/one'), fileRow('/d/two')], { isEnd: true }));
    const tree = await eventually(async () => {
      const r = await gw.get('/api/v1/views/demo/tree?path=/d');
      return r.status === 200 ? r.json() as Promise<{ children: { name: string }[] }> : null;
    }, 20000, 'view ready again');
    assert.deepEqual(tree.children.map((c) => c.name).sort(), ['one', 'two']);
  } finally {
    await follower.close();
  }
});

test('after the last session ends the view answers 503 "no active leader session"', async () => {
  const res = await gw.get('/api/v1/views/demo/stats');
  assert.equal(res.status, 503);
  assert.equal(res.headers.get('retry-after'), '10');
  assert.equal(((await res.json()) as { message: string }).message, 'no active leader session');
});

test('expiry: a session without heartbeats gets 419 and its follower takes over', async () => {
  const short = await startGateway(config({ session_timeout_seconds: 1 }));
  try {
    const leader = await short.agent('host-x:demo');
    // The follower asks for a 30 s timeout (timeout = max(hint, pipe)): only the leader's 1 s expiry is under
    // test, and a pause of the test process must not end the follower too.
    const follower = await short.agent('host-y:demo', { timeout: 30 });
    assert.equal(leader.role, 'leader');
    // Keep the follower alive while the leader goes silent.
    const role = await eventually(async () => {
      const hb = await (await follower.heartbeat()).json() as { role: string };
      return hb.role === 'leader' ? hb.role : null;
    }, 20000, 'follower promoted');
    assert.equal(role, 'leader');
    assert.equal((await leader.heartbeat()).status, 419);
    assert.equal((await leader.push(snapshotBatch([fileRow('/late')]))).status, 419, 'an expired session cannot push');
  } finally {
    await short.stop();
  }
});

test('allow_concurrent_push: false — a second task gets 409 "locked"; the same task may replace its session', async () => {
  const locked = await startGateway(config({ allow_concurrent_push: false }));
  try {
    const a = await locked.agent('host-a:demo');
    const res = await locked.request('/api/v1/pipe/session/', 'POST', { key: locked.keys.agent, body: { task_id: 'host-b:demo' } });
    assert.equal(res.status, 409);
    const body = await res.json() as { detail: string; code: string };
    assert.match(body.detail, /locked/);
    assert.equal(body.code, 'SESSION_LOCKED');
    const again = await locked.agent('host-a:demo');
    assert.equal(again.role, 'leader');
    await a.close();
    await again.close();
    const b = await locked.agent('host-b:demo');
    assert.equal(b.role, 'leader', 'the lock is released with the session');
  } finally {
    await locked.stop();
  }
});
