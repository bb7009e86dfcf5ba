/**
 * Query-side behaviour of the gateway around the engines (spec 10 + 30): on-demand scans and jobs,
 * DELETE /reset (admin keys), live mode, the consistency routes, parameter validation, and forest views
 * with one leader per member. Real process, real HTTP, real engines.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { batch, demoConfig, dirRow, event, eventually, fileRow, realtimeBatch, snapshotBatch, startGateway, type AgentSession, type RunningGateway } from './helpers/gateway.ts';

type Json = Record<string, unknown>;

let gw: RunningGateway;
let leader: AgentSession;
before(async () => {
  gw = await startGateway(demoConfig());
  leader = await gw.agent('host-a:demo');
  await leader.pushOk(snapshotBatch([dirRow('/up'), dirRow('/up/u1'), fileRow('/up/u1/data.bin', { size: 1000 })], { isEnd: true }));
  await eventually(async () => (await gw.get('/api/v1/views/demo/stats')).status === 200, 20000, 'ready');
});
after(async () => { await gw.stop(); });

test('tree streams the node with children; search ?format=list returns the bare list', async () => {
  const tree = await (await gw.get('/api/v1/views/demo/tree?path=/up&max_depth=2')).json() as { path: string; children: { name: string; children: { name: string }[] }[] };
  assert.equal(tree.path, '/up');
  assert.deepEqual(tree.children.map((c) => c.name), ['u1']);
  assert.deepEqual(tree.children[0].children.map((c) => c.name), ['data.bin']);
  const listed = await (await gw.get('/api/v1/views/demo/search?pattern=*.bin&format=list')).json() as { path: string }[];
  assert.ok(Array.isArray(listed));
  assert.deepEqual(listed.map((n) => n.path), ['/up/u1/data.bin']);
  const wrapped = await (await gw.get('/api/v1/views/demo/search?pattern=*.bin')).json() as { items: { path: string }[] };
  assert.deepEqual(wrapped.items.map((n) => n.path), ['/up/u1/data.bin']);
});

test('bad query parameters → 400 naming the parameter; unknown path → 404', async () => {
  const dotdot = await gw.get('/api/v1/views/demo/tree?path=/up/../etc');
  assert.equal(dotdot.status, 400);
  assert.match(((await dotdot.json()) as Json).message as string, /^query\.path: .*'\.\.'/);
  const relative = await gw.get('/api/v1/views/demo/metadata?path=up');
  assert.equal(relative.status, 400);
  const depth = await gw.get('/api/v1/views/demo/tree?max_depth=deep');
  assert.equal(depth.status, 400);
  assert.match(((await depth.json()) as Json).message as string, /^query\.max_depth: /);
  const missing = await gw.get('/api/v1/views/demo/metadata');
  assert.equal(missing.status, 400);
  assert.match(((await missing.json()) as Json).message as string, /^query\.path: required/);
  assert.equal((await gw.get('/api/v1/views/demo/tree?path=/nope')).status, 404);
});

test('on-demand scan: unknown path → job pending, the scan command reaches the agent, job_complete finishes the job', async () => {
  const res = await gw.get('/api/v1/views/demo/tree?path=/up/u2&on_demand_scan=true');
  assert.equal(res.status, 200);
  const pending = await res.json() as { job_id: string; job_pending: boolean };
  assert.equal(pending.job_pending, true);
  assert.match(pending.job_id, /^[0-9a-f]{8}$/);

  const hb = await (await leader.heartbeat()).json() as { commands: Json[] };
  assert.equal(hb.commands.length, 1);
  assert.deepEqual({ ...hb.commands[0], created_at: 0 }, { type: 'scan', path: '/up/u2', recursive: true, job_id: pending.job_id, created_at: 0 });
  assert.equal(((await (await leader.heartbeat()).json()) as { commands: Json[] }).commands.length, 0, 'commands are delivered once');

  const running = await (await gw.get(`/api/v1/views/demo/jobs/${pending.job_id}`)).json() as { status: string; progress: { completed: number; total: number } };
  assert.equal(running.status, 'RUNNING');
  assert.deepEqual({ completed: running.progress.completed, total: running.progress.total }, { completed: 0, total: 1 });

  await leader.pushOk(batch('on_demand_job', [event([dirRow('/up/u2'), fileRow('/up/u2/new.txt')], { source: 'on_demand_job' })]));
  await leader.pushOk(batch('job_complete', [], { metadata: { job_id: pending.job_id, scan_path: '/up/u2' } }));
  const done = await eventually(async () => {
    const j = await (await gw.get(`/api/v1/views/demo/jobs/${pending.job_id}`)).json() as { status: string; progress: { percentage: number } };
    return j.status === 'COMPLETED' ? j : null;
  }, 20000, 'job completed');
  assert.equal(done.progress.percentage, 100);
  assert.equal((await gw.get('/api/v1/views/demo/metadata?path=/up/u2/new.txt')).status, 200, 'the scan results were applied before completion');

  const known = await (await gw.get('/api/v1/views/demo/tree?path=/up/u1&force_real_time=true')).json() as Json;
  assert.equal(known.path, '/up/u1');
  assert.ok(Array.isArray(known.children));
  assert.match(known.job_id as string, /^[0-9a-f]{8}$/);
  assert.equal(known.job_pending, true);
  const jobs = await (await gw.get('/api/v1/views/demo/jobs')).json() as { jobs: { job_id: string }[] };
  assert.ok(jobs.jobs.some((j) => j.job_id === pending.job_id));
  assert.equal((await gw.get('/api/v1/views/demo/jobs/ffffffff')).status, 404);
});

test('consistency routes: audit start/end, sentinel tasks and feedback, scoped to the key\'s pipe', async () => {
  const start = await gw.request('/api/v1/pipe/consistency/audit/start', 'POST', { key: gw.keys.agent });
  assert.deepEqual(await start.json(), { status: 'audit_started', drivers_handled: 1 });
  await leader.pushOk(batch('audit', [event([dirRow('/up/u1'), fileRow('/up/u1/data.bin', { size: 1000 })], { source: 'audit' })], { isEnd: true }));
  const end = await gw.request('/api/v1/pipe/consistency/audit/end', 'POST', { key: gw.keys.agent });
  assert.deepEqual(await end.json(), { status: 'audit_ended', drivers_handled: 1 });
  const stats = await (await gw.get('/api/v1/views/demo/stats')).json() as { audit_cycle_count: number };
  assert.ok(stats.audit_cycle_count >= 1);

  const tasks = await gw.request('/api/v1/pipe/consistency/sentinel/tasks', 'GET', { key: gw.keys.agent });
  assert.equal(tasks.status, 200);
  const t = await tasks.json() as Json;
  assert.ok(Object.keys(t).length === 0 || t.type === 'suspect_check');
  const ignored = await gw.request('/api/v1/pipe/consistency/sentinel/feedback', 'POST', { key: gw.keys.agent, body: { type: 'other', updates: [] } });
  assert.deepEqual(await ignored.json(), { status: 'ignored', reason: 'unknown_type' });
  const processed = await gw.request('/api/v1/pipe/consistency/sentinel/feedback', 'POST', { key: gw.keys.agent, body: { type: 'suspect_update', updates: [{ path: '/up/u1/data.bin', mtime: 1, status: 'exists' }] } });
  assert.deepEqual(await processed.json(), { status: 'processed', drivers_updated: 1 });
  assert.equal((await gw.request('/api/v1/pipe/consistency/audit/start', 'POST', { key: gw.keys.query })).status, 403, 'a query key is not an agent key');

  const put = await gw.request('/api/v1/views/demo/suspect-list', 'PUT', { key: gw.keys.query, body: { updates: [{ path: '/up/u1/data.bin', mtime: 5 }] } });
  assert.equal(put.status, 200);
  assert.equal(((await put.json()) as Json).status, 'ok');
  assert.ok(Array.isArray(await (await gw.get('/api/v1/views/demo/suspect-list')).json()));
  assert.equal((await gw.get('/api/v1/views/demo/blind-spots')).status, 200);
  const changes = await (await gw.get('/api/v1/views/demo/changes?since=now')).json() as Json;
  assert.equal(typeof changes.cursor, 'string');
});

test('DELETE /reset: admin keys only; empties the view and ends its sessions so agents re-snapshot', async () => {
  assert.equal((await gw.request('/api/v1/views/demo/reset', 'DELETE', { key: gw.keys.query })).status, 403);
  assert.equal((await gw.request('/api/v1/views/demo/reset', 'DELETE', { key: gw.keys.agent })).status, 403);
  const res = await gw.request('/api/v1/views/demo/reset', 'DELETE', { key: gw.keys.admin });
  assert.equal(res.status, 204);
  assert.equal((await leader.heartbeat()).status, 419);
  assert.equal((await gw.get('/api/v1/views/demo/stats')).status, 503);
  leader = await gw.agent('host-a:demo');
  await leader.pushOk(snapshotBatch([fileRow('/fresh')], { isEnd: true }));
  const stats = await eventually(async () => {
    const r = await gw.get('/api/v1/views/demo/stats', gw.keys.admin);
    return r.status === 200 ? r.json() as Promise<{ total_files: number }> : null;
  }, 20000, 'ready again');
  assert.equal(stats.total_files, 1, 'only the new snapshot');
});

test('live mode: when the last session ends the view is emptied and answers 503 (and the tree limit answers 400)', async () => {
  const live = await startGateway(demoConfig({ pipe: { live_mode: true }, view: { driver_params: { max_tree_items: 2 } } }));
  try {
    const a = await live.agent('host-a:demo');
    const b = await live.agent('host-b:demo');
    await a.pushOk(snapshotBatch([fileRow('/x'), fileRow('/y')], { isEnd: true }));
    await eventually(async () => (await live.get('/api/v1/views/demo/stats')).status === 200, 20000, 'ready');
    await a.close();
    await b.pushOk(snapshotBatch([fileRow('/x'), fileRow('/y')], { isEnd: true }));
    const kept = await eventually(async () => {
      const r = await live.get('/api/v1/views/demo/stats');
      return r.status === 200 ? r.json() as Promise<{ total_files: number }> : null;
    }, 20000, 'promoted leader ready');
    assert.equal(kept.total_files, 2, 'a remaining session keeps the view alive');
    const tooMany = await live.get('/api/v1/views/demo/tree');
    assert.equal(tooMany.status, 400);
    const limit = await tooMany.json() as Json;
    assert.equal(limit.code, 'TOO_MANY_ITEMS');
    assert.equal(limit.limit, 2);
    assert.equal(limit.would_return, 3);
    assert.equal(typeof limit.suggestion, 'string');
    await b.close();
    const gone = await live.get('/api/v1/views/demo/stats');
    assert.equal(gone.status, 503);
    assert.equal(((await gone.json()) as Json).message, 'no active leader session');
    const items = await eventually(async () => {
      const m = /^fustor_view_items\{view="demo"\} (\d+)$/m.exec(await (await live.get('/metrics')).text());
      return m !== null && Number(m[1]) <= 1 ? Number(m[1]) : null;
    }, 20000, 'view emptied');
    assert.ok(items <= 1);
  } finally {
    await live.stop();
  }
});

test('forest view: one leader per member pipe; queries answer once a member is ready, /readyz waits for all', async () => {
  const forest = await startGateway({
    host: '127.0.0.1',
    session_cleanup_interval: 0.2,
    receivers: { main: { driver: 'http', api_keys: [{ key: 'forest-agent-one', pipe_id: 'one' }, { key: 'forest-agent-two', pipe_id: 'two' }] } },
    views: { woods: { driver: 'forest-fs', api_keys: ['forest-query-key'] } },
    pipes: { one: { receiver: 'main', views: ['woods'] }, two: { receiver: 'main', views: ['woods'] } },
  });
  try {
    const one = await forest.agent('host-1:one', { key: 'forest-agent-one' });
    const two = await forest.agent('host-2:two', { key: 'forest-agent-two' });
    assert.equal(one.role, 'leader');
    assert.equal(two.role, 'leader', 'each member has its own leader');
    const followerOfOne = await forest.agent('host-3:one', { key: 'forest-agent-one' });
    assert.equal(followerOfOne.role, 'follower');

    assert.equal((await forest.get('/api/v1/views/woods/tree', 'forest-query-key')).status, 503);
    await one.pushOk(snapshotBatch([fileRow('/a.txt')], { isEnd: true }));
    const tree = await eventually(async () => {
      const r = await forest.get('/api/v1/views/woods/tree', 'forest-query-key');
      return r.status === 200 ? r.json() as Promise<{ members: Record<string, { status: string }> }> : null;
    }, 20000, 'forest answers');
    assert.equal(tree.members.one.status, 'ok');
    const readyz = await (await forest.get('/readyz', null)).json() as { ready: boolean; views: Record<string, { scopes: { pipe_id: string; ready: boolean; reason: string | null }[] }> };
    assert.equal(readyz.ready, false);
    const byPipe = Object.fromEntries(readyz.views.woods.scopes.map((s) => [s.pipe_id, s]));
    assert.equal(byPipe.one.ready, true);
    assert.equal(byPipe.two.reason, 'initial snapshot in progress');

    await two.pushOk(realtimeBatch([fileRow('/b.txt')]));
    await two.pushOk(snapshotBatch([], { isEnd: true }));
    await eventually(async () => (await forest.get('/readyz', null)).status === 200, 20000, 'all members ready');
  } finally {
    await forest.stop();
  }
});

test('a pipe with several views fans every event out to all of them; its leader makes all of them ready', async () => {
  const config = demoConfig({ pipe: { views: ['demo', 'mirror'] } }) as Record<string, Record<string, Record<string, unknown>>>;
  config.views.mirror = { driver: 'fs', api_keys: ['mirror-query-key'] };
  const fan = await startGateway(config);
  try {
    const a = await fan.agent('host-a:demo');
    assert.equal(a.role, 'leader');
    await a.pushOk(snapshotBatch([dirRow('/m'), fileRow('/m/one', { size: 7 })], { isEnd: true }));
    for (const [view, key] of [['demo', fan.keys.query], ['mirror', 'mirror-query-key']]) {
      const stats = await eventually(async () => {
        const r = await fan.get(`/api/v1/views/${view}/stats`, key);
        return r.status === 200 ? r.json() as Promise<{ total_files: number; total_size: number }> : null;
      }, 20000, `${view} ready`);
      assert.deepEqual({ files: stats.total_files, size: stats.total_size }, { files: 1, size: 7 }, view);
    }
    const sessions = await (await fan.get('/api/v1/views/mirror/sessions', 'mirror-query-key')).json() as { count: number };
    assert.equal(sessions.count, 1, 'the sessions of the pipe are listed on every view it feeds');
  } finally {
    await fan.stop();
  }
});
