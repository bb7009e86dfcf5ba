/**
 * Ingest protocol, data half (spec 10): readiness 503 → 200 after the leader's snapshot end, malformed
 * bodies (422 naming the field), body limit (413), a full queue (503 + Retry-After), replayed batches,
 * malformed rows rejected one by one, both ingest paths. Real process, real HTTP, real view engine.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { batch, demoConfig, dirRow, event, eventually, fileRow, realtimeBatch, snapshotBatch, startGateway, type AgentSession, type RunningGateway } from './helpers/gateway.ts';

type Json = Record<string, unknown>;

let gw: RunningGateway;
let leader: AgentSession;
before(async () => {
  gw = await startGateway(demoConfig({ top: { max_body_bytes: 64 * 1024 } }));
  leader = await gw.agent('host-a:demo');
});
after(async () => { await gw.stop(); });

const pipeStats = async () => ((await (await gw.get('/api/v1/pipe/pipes/demo')).json()) as { statistics: Record<string, number>; queue_size: number });

test('readiness: 503 during the snapshot, follower snapshot end ignored, 200 after the leader\'s end', async () => {
  const follower = await gw.agent('host-b:demo');
  await leader.pushOk(snapshotBatch([dirRow('/data'), fileRow('/data/a.txt', { size: 10 })]));
  const during = await gw.get('/api/v1/views/demo/tree');
  assert.equal(during.status, 503);
  assert.equal(((await during.json()) as Json).message, 'initial snapshot in progress');
  assert.equal(during.headers.get('retry-after'), '5');
  const readyz = await gw.get('/readyz', null);
  assert.equal(readyz.status, 503);
  assert.deepEqual(((await readyz.json()) as { views: Record<string, Json> }).views.demo.reason, 'initial snapshot in progress');

  await follower.pushOk(snapshotBatch([], { isEnd: true }));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await gw.get('/api/v1/views/demo/stats')).status, 503, 'a follower cannot end the snapshot');

  await leader.pushOk(snapshotBatch([fileRow('/data/b.txt', { size: 20 })], { isEnd: true }));
  const stats = await eventually(async () => {
    const r = await gw.get('/api/v1/views/demo/stats');
    return r.status === 200 ? r.json() as Promise<Json> : null;
  }, 20000, 'view ready');
  assert.equal(stats.total_files, 2);
  assert.equal(stats.total_size, 30);
  assert.equal((await gw.get('/readyz', null)).status, 200);
  await follower.close();
});

test('the predecessor path /api/v1/pipe/{sid}/events is an alias of the ingest path', async () => {
  const res = await leader.push(realtimeBatch([fileRow('/data/alias.txt')]), { alias: true });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: 'ok', count: 1 });
  await eventually(async () => (await gw.get('/api/v1/views/demo/metadata?path=/data/alias.txt')).status === 200, 20000, 'alias row applied');
});

test('broken JSON → 422', async () => {
  const res = await gw.request(`/api/v1/pipe/ingest/${leader.sessionId}/events`, 'POST', { key: gw.keys.agent, rawBody: '{"events": [' });
  assert.equal(res.status, 422);
  const body = await res.json() as Json;
  assert.equal(body.code, 'VALIDATION');
  assert.match(body.message as string, /invalid JSON/);
});

test('wrong types → 422 naming the first bad field', async () => {
  const cases: [unknown, RegExp][] = [
    [{ events: [], is_end: 'yes' }, /^body\.is_end: must be boolean/],
    [{ events: 'nope' }, /^body\.events: must be array/],
    [{ events: [{ event_type: 'upsert', event_schema: 'fs', table: 'files', fields: [], rows: [] }] }, /^body\.events\[0\]\.event_type: must be one of/],
    [{ events: [{ event_type: 'update', event_schema: 'fs', table: 'files', fields: [], rows: {} }] }, /^body\.events\[0\]\.rows: must be array/],
    [{ source_type: 'message' }, /^body\.events: required field is missing/],
    [{ events: [], source_type: 'bogus' }, /^body\.source_type: must be one of/],
  ];
  for (const [body, expected] of cases) {
    const res = await leader.push(body as Json);
    assert.equal(res.status, 422, JSON.stringify(body));
    assert.match(((await res.json()) as Json).message as string, expected);
  }
  assert.equal((await leader.heartbeat()).status, 200, 'bad requests leave the session alone');
});

test('a body over max_body_bytes → 413', async () => {
  const rows = Array.from({ length: 2000 }, (_, i) => fileRow(`/big/f${i}`));
  const res = await leader.push(realtimeBatch(rows));
  assert.equal(res.status, 413);
  assert.equal(((await res.json()) as Json).code, 'PAYLOAD_TOO_LARGE');
});

test('malformed rows are rejected one by one and counted; the rest of the batch applies', async () => {
  const before = (await pipeStats()).statistics.rows_rejected;
  const res = await leader.push(realtimeBatch([fileRow('/data/good.txt'), { path: '/data/../etc/passwd', size: 1, modified_time: 1, is_directory: false }, { path: 'relative', is_directory: false }]));
  assert.equal(res.status, 200);
  await eventually(async () => (await gw.get('/api/v1/views/demo/metadata?path=/data/good.txt')).status === 200, 20000, 'good row applied');
  const after = await eventually(async () => {
    const s = await pipeStats();
    return s.statistics.rows_rejected >= before + 2 ? s : null;
  }, 20000, 'rejections counted');
  assert.equal(after.statistics.rows_rejected, before + 2);
});

test('a replayed batch (same metadata.batch_seq) is acknowledged as duplicate and not applied again', async () => {
  const create = realtimeBatch([fileRow('/data/replayed.txt')], { metadata: { batch_seq: 1001 } });
  assert.deepEqual(await leader.pushOk(create), { status: 'ok', count: 1 });
  await eventually(async () => (await gw.get('/api/v1/views/demo/metadata?path=/data/replayed.txt')).status === 200, 20000, 'created');
  await leader.pushOk(realtimeBatch([{ path: '/data/replayed.txt' }], { type: 'delete', metadata: { batch_seq: 1002 } }));
  await eventually(async () => (await gw.get('/api/v1/views/demo/metadata?path=/data/replayed.txt')).status === 404, 20000, 'deleted');
  const received = (await pipeStats()).statistics.events_received;

  const replay = await leader.pushOk(create);
  assert.equal(replay.duplicate, true);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await gw.get('/api/v1/views/demo/metadata?path=/data/replayed.txt')).status, 404, 'the replay did not resurrect the file');
  assert.equal((await pipeStats()).statistics.events_received, received, 'the duplicate never entered the queue');

  // Identity by batch_id and by event ids works the same way.
  const byId = realtimeBatch([fileRow('/data/by-id.txt')], { metadata: { batch_id: 'b-42' } });
  assert.equal((await leader.pushOk(byId)).duplicate, undefined);
  assert.equal((await leader.pushOk(byId)).duplicate, true);
  const byEvents = batch('message', [event([fileRow('/data/e1.txt')], { eventId: 'ev-1' }), event([fileRow('/data/e2.txt')], { eventId: 'ev-2' })]);
  assert.equal((await leader.pushOk(byEvents)).duplicate, undefined);
  assert.equal((await leader.pushOk(byEvents)).duplicate, true);
  const anonymous = realtimeBatch([fileRow('/data/anon.txt')]);
  assert.equal((await leader.pushOk(anonymous)).duplicate, undefined);
  assert.equal((await leader.pushOk(anonymous)).duplicate, undefined, 'a batch without identity is always applied');
});

test('unknown session on ingest → 419; no key → 401', async () => {
  const res = await gw.request('/api/v1/pipe/ingest/no-such-session/events', 'POST', { key: gw.keys.agent, body: realtimeBatch([fileRow('/x')]) });
  assert.equal(res.status, 419);
  const nokey = await gw.request(`/api/v1/pipe/ingest/${leader.sessionId}/events`, 'POST', { key: null, body: realtimeBatch([fileRow('/x')]) });
  assert.equal(nokey.status, 401);
});

test('a full queue answers 503 with Retry-After at once; accepted batches are all applied', async () => {
  const tiny = await startGateway(demoConfig({ pipe: { queue_capacity: 1 } }));
  try {
    const agent = await tiny.agent('host-q:demo');
    const big = (k: number) => realtimeBatch(Array.from({ length: 20000 }, (_, i) => fileRow(`/q${k}/f${i}`)));
    const results = await Promise.all(Array.from({ length: 6 }, (_, k) => agent.push(big(k))));
    const statuses = results.map((r) => r.status);
    const busy = results.filter((r) => r.status === 503);
    assert.ok(busy.length > 0, `expected at least one 503, got ${statuses.join(',')}`);
    assert.ok(statuses.every((s) => s === 200 || s === 503), statuses.join(','));
    assert.ok(Number(busy[0].headers.get('retry-after')) >= 1);
    assert.equal(((await busy[0].json()) as Json).code, 'BUSY');
    const accepted = statuses.filter((s) => s === 200).length;
    const info = await eventually(async () => {
      const s = await (await tiny.get('/api/v1/pipe/pipes/demo')).json() as { statistics: Record<string, number>; queue_size: number };
      return s.statistics.events_processed === accepted && s.queue_size === 0 ? s : null;
    }, 20000, 'queue drained');
    assert.equal(info.statistics.batches_rejected_busy, busy.length);
    const metrics = await (await tiny.get('/metrics')).text();
    assert.match(metrics, new RegExp(`fustor_pipe_batches_busy_total\\{pipe="demo"\\} ${busy.length}`));
  } finally {
    await tiny.stop();
  }
});

test('heartbeats and health checks are answered while a large backlog is being applied (the loop yields)', async () => {
  const roomy = await startGateway(demoConfig());
  try {
    const agent = await roomy.agent('host-big:demo');
    const stats = async () => ((await (await roomy.get('/api/v1/pipe/pipes/demo')).json()) as { queue_size: number });
    const big = (k: number) => batch('message', Array.from({ length: 50 }, (_, e) => event(Array.from({ length: 1000 }, (_, i) => fileRow(`/big${k}/e${e}/f${i}`)), { source: 'realtime' })));
    // Probe from the moment the first body is on its way until the backlog is gone: a gateway that
    // applied a backlog without yielding would answer every probe only after the queue had drained,
    // so no probe could ever see queue_size > 0. Polling (rather than one check after the pushes)
    // keeps this independent of how fast the machine applies 200,000 rows.
    let pushesDone = false;
    const pushes = Promise.all(Array.from({ length: 4 }, (_, k) => agent.push(big(k)).then((r) => r.status))).finally(() => { pushesDone = true; });
    let answeredWhileBusy = 0;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const hb = await agent.heartbeat();
      const hz = await roomy.get('/healthz', null);
      assert.equal(hb.status, 200);
      assert.equal(hz.status, 200);
      const { queue_size } = await stats();
      if (queue_size > 0) answeredWhileBusy++;
      else if (pushesDone) break;
      assert.ok(Date.now() < deadline, 'backlog applied within 60 s');
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(await pushes, [200, 200, 200, 200]);
    assert.ok(answeredWhileBusy > 0, 'a heartbeat and a health check were answered while batches were still queued or being applied');
    await eventually(async () => (await stats()).queue_size === 0, 30000, 'backlog applied');
  } finally {
    await roomy.stop();
  }
});
