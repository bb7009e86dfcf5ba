/**
 * SIGHUP reload (spec 10): a changed pipe restarts (its sessions end) while its unchanged view keeps its
 * tree; an unchanged pipe and view are not disturbed; a changed view gets a fresh engine; an invalid new
 * config is refused and the running one keeps serving; receiver ports open and close; removed keys end
 * their sessions.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { dirRow, eventually, fileRow, request, snapshotBatch, startGateway, type AgentSession, type ConfigObject, type RunningGateway } from './helpers/gateway.ts';

const KEYS = { alpha: 'reload-agent-alpha', beta: 'reload-agent-beta', gamma: 'reload-agent-gamma', qa: 'reload-query-alpha', qb: 'reload-query-beta', qg: 'reload-query-gamma' };

function twoPipes(edit: (c: Record<string, Record<string, Record<string, unknown>>>) => void = () => {}): ConfigObject {
  const c: Record<string, Record<string, Record<string, unknown>>> = {
    receivers: { main: { driver: 'http', api_keys: [{ key: KEYS.alpha, pipe_id: 'alpha' }, { key: KEYS.beta, pipe_id: 'beta' }] } },
    views: { alpha: { driver: 'fs', api_keys: [KEYS.qa] }, beta: { driver: 'fs', api_keys: [KEYS.qb] } },
    pipes: { alpha: { receiver: 'main', views: ['alpha'] }, beta: { receiver: 'main', views: ['beta'] } },
  };
  edit(c);
  return { host: '127.0.0.1', session_cleanup_interval: 0.2, ...c };
}

let gw: RunningGateway;
let a: AgentSession;
let b: AgentSession;

const itemsOf = async (view: string) => {
  const text = await (await gw.get('/metrics', KEYS.qa)).text();
  const m = new RegExp(`^fustor_view_items\\{view="${view}"\\} (\\d+)$`, 'm').exec(text);
  return m === null ? null : Number(m[1]);
};
const ready = (view: string, key: string) => eventually(async () => {
  const r = await gw.get(`/api/v1/views/${view}/stats`, key);
  return r.status === 200 ? r.json() as Promise<Record<string, number>> : null;
}, 20000, `view ${view} ready`);

before(async () => {
  gw = await startGateway(twoPipes());
  a = await gw.agent('host-a:alpha', { key: KEYS.alpha });
  b = await gw.agent('host-b:beta', { key: KEYS.beta });
  await a.pushOk(snapshotBatch([dirRow('/a'), fileRow('/a/1'), fileRow('/a/2')], { isEnd: true }));
  await b.pushOk(snapshotBatch([dirRow('/b'), fileRow('/b/1')], { isEnd: true }));
  await ready('alpha', KEYS.qa);
  await ready('beta', KEYS.qb);
});
after(async () => { await gw.stop(); });

test('a changed pipe restarts (its sessions end) while its unchanged view keeps its tree; the other pipe is untouched', async () => {
  const betaItems = await itemsOf('beta');
  assert.equal(await gw.reload(twoPipes((c) => { c.pipes.beta.sentinel_interval_sec = 60; })), 'reloaded');

  assert.equal((await b.heartbeat()).status, 419, 'the restarted pipe dropped its session');
  assert.equal(await itemsOf('beta'), betaItems, 'the unchanged view kept its items');
  assert.equal((await gw.get('/api/v1/views/beta/stats', KEYS.qb)).status, 503, 'no leader until the agent reconnects');

  assert.equal((await a.heartbeat()).status, 200, 'the unchanged pipe kept its session');
  assert.equal((await ready('alpha', KEYS.qa)).total_files, 2, 'the unchanged view stays ready with its tree');

  b = await gw.agent('host-b:beta', { key: KEYS.beta });
  assert.equal(b.created.sentinel_interval_sec, 60, 'the new pipe settings apply');
  await b.pushOk(snapshotBatch([fileRow('/b/2')], { isEnd: true }));
  assert.equal((await ready('beta', KEYS.qb)).total_files, 2, 'old items plus the new snapshot');
});

test('a changed view gets a new engine: its tree starts empty and its sessions end', async () => {
  assert.equal(await gw.reload(twoPipes((c) => {
    c.pipes.beta.sentinel_interval_sec = 60;
    c.views.alpha.driver_params = { hot_file_threshold: 10 };
  })), 'reloaded');
  assert.equal((await a.heartbeat()).status, 419);
  assert.equal(await itemsOf('alpha'), 1, 'only the root of a fresh tree');
  assert.equal((await b.heartbeat()).status, 200, 'the other view and pipe are not disturbed');
  a = await gw.agent('host-a:alpha', { key: KEYS.alpha });
  await a.pushOk(snapshotBatch([fileRow('/a/3')], { isEnd: true }));
  assert.equal((await ready('alpha', KEYS.qa)).total_files, 1);
});

test('an invalid new config is refused with one logged line; the running config keeps serving', async () => {
  const outcome = await gw.reload(twoPipes((c) => { c.pipes.beta.views = ['missing']; }));
  assert.equal(outcome, 'refused');
  const rec = gw.logs().reverse().find((r) => r.msg === 'reload refused: the running configuration stays in effect');
  assert.match(String(rec?.problem), /config error in .*: pipes\.beta\.views\[0\]: view 'missing' is not defined/);
  assert.equal((await b.heartbeat()).status, 200);
  assert.equal((await gw.get('/api/v1/views/beta/stats', KEYS.qb)).status, 200);
  assert.equal((await gw.get('/healthz', null)).status, 200);
});

test('a receiver on another port gets its own ingest-only listener, opened and closed by reloads', async () => {
  const withSide = (c: Record<string, Record<string, Record<string, unknown>>>) => {
    c.pipes.beta.sentinel_interval_sec = 60;
    c.views.alpha.driver_params = { hot_file_threshold: 10 };
    c.receivers.side = { driver: 'http', port: 0, api_keys: [{ key: KEYS.gamma, pipe_id: 'gamma' }] };
    c.views.gamma = { driver: 'fs', api_keys: [KEYS.qg] };
    c.pipes.gamma = { receiver: 'side', views: ['gamma'] };
  };
  const before = gw.stdout().length;
  assert.equal(await gw.reload(twoPipes(withSide)), 'reloaded');
  const m = /^fusion ingest listening on (http:\/\/\S+) \(receivers: side\)$/m.exec(gw.stdout().slice(before));
  assert.ok(m, gw.stdout().slice(before));
  const sideUrl = m[1];

  const created = await request(`${sideUrl}/api/v1/pipe/session/`, 'POST', { key: KEYS.gamma, body: { task_id: 'host-g:gamma' } });
  assert.equal(created.status, 200);
  assert.equal(((await created.json()) as Record<string, unknown>).role, 'leader');
  assert.equal((await request(`${sideUrl}/api/v1/pipe/session/`, 'POST', { key: KEYS.alpha, body: { task_id: 'x:alpha' } })).status, 403, 'another receiver\'s key is refused on this port');
  assert.equal((await request(`${sideUrl}/api/v1/views/gamma/sessions`, 'GET', { key: KEYS.qg })).status, 404, 'no query API on a receiver port');
  assert.equal((await request(`${sideUrl}/healthz`, 'GET', {})).status, 404);
  assert.equal((await gw.get('/api/v1/views/gamma/sessions', KEYS.qg)).status, 200, 'the new view is queryable on the main port');

  assert.equal(await gw.reload(twoPipes((c) => { c.pipes.beta.sentinel_interval_sec = 60; c.views.alpha.driver_params = { hot_file_threshold: 10 }; })), 'reloaded');
  await assert.rejects(fetch(`${sideUrl}/api/v1/pipe/session/`, { headers: { 'x-api-key': KEYS.gamma } }), 'the listener is closed');
  assert.equal((await gw.get('/api/v1/views/gamma/sessions', KEYS.qg)).status, 401, 'the removed view\'s key is gone');
});

test('a removed receiver key ends the sessions it opened', async () => {
  assert.equal(await gw.reload(twoPipes((c) => {
    c.pipes.beta.sentinel_interval_sec = 60;
    c.views.alpha.driver_params = { hot_file_threshold: 10 };
    (c.receivers.main.api_keys as { key: string; pipe_id: string }[]).splice(1, 1, { key: 'reload-agent-beta-new', pipe_id: 'beta' });
  })), 'reloaded');
  assert.equal((await b.heartbeat()).status, 401, 'the old key is unknown now');
  const stillA = await a.heartbeat();
  assert.equal(stillA.status, 200);
  const sessions = await (await gw.get('/api/v1/views/beta/sessions', KEYS.qb)).json() as { count: number };
  assert.equal(sessions.count, 0, 'the session of the removed key ended');
});
