/**
 * The agent's sender against a REAL gateway process (spec 10 ingest protocol, spec 40 sender): roles and
 * promotion, 419 → new session, realtime latency by design, a 50k-row snapshot making the view ready,
 * 503 backpressure, 413 splitting, idempotent resend after a lost answer, a gateway restart, and a full
 * buffer that refuses realtime rows instead of blocking or growing.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { PipeSender, MAX_REALTIME_LINGER_MS, SessionResetError, SenderClosedError, type PipeSenderOptions, type RoleChange, type SessionReset, type SendSource, type AbortInfo, type GatewayError } from '../src/agent/sender/index.ts';
import type { Role, ScanCommand } from '../src/protocol/index.ts';
import { demoConfig, dirRow, eventually, fileRow, startGateway, DEMO_KEYS, type RunningGateway, type Row, type ConfigObject } from './helpers/gateway.ts';

type Json = Record<string, unknown>;

// ---- harness: a minimal pipe owner around a PipeSender ----

interface Owner {
  sender: PipeSender;
  roles: [Role, RoleChange][];
  resets: SessionReset[];
  commands: ScanCommand[];
  degraded: (string | null)[];
  aborted: [SendSource, AbortInfo][];
  errors: GatewayError[];
  snapshotsDone: number;
}

const senders: PipeSender[] = [];
const gateways: RunningGateway[] = [];
after(async () => {
  await Promise.all(senders.map((s) => s.close()));
  await Promise.all(gateways.map((g) => g.stop()));
});

async function gateway(config: ConfigObject, opts: { port?: number } = {}): Promise<RunningGateway> {
  const gw = await startGateway(config, opts);
  gateways.push(gw);
  return gw;
}

/** A pipe owner: on promotion it snapshots `snapshotRows()` for that session (epoch-bound), then ends it. */
function owner(url: string, agentId: string, opts: { snapshotRows?: () => Row[]; sender?: Partial<PipeSenderOptions> } = {}): Owner {
  const o: Owner = { roles: [], resets: [], commands: [], degraded: [], aborted: [], errors: [], snapshotsDone: 0 } as unknown as Owner;
  const snapshot = async (epoch: number) => {
    try {
      const rows = opts.snapshotRows?.() ?? [];
      for (let i = 0; i < rows.length; i += 1000) await o.sender.sendAsync(rows.slice(i, i + 1000), { source: 'snapshot', epoch });
      await o.sender.sendAsync([], { source: 'snapshot', isEnd: true, epoch });
      o.snapshotsDone++;
    } catch (e) {
      if (!(e instanceof SessionResetError) && !(e instanceof SenderClosedError)) throw e;
    }
  };
  o.sender = new PipeSender({
    url,
    apiKey: DEMO_KEYS.agent,
    agentId,
    pipeId: 'demo',
    sourceUri: `fs://${agentId}/data`,
    onRole: (role, change) => {
      o.roles.push([role, change]);
      if (change.promoted && opts.snapshotRows !== undefined) void snapshot(change.epoch);
    },
    onSessionReset: (r) => o.resets.push(r),
    onCommand: (c) => o.commands.push(c),
    onDegraded: (r) => o.degraded.push(r),
    onAborted: (s, info) => o.aborted.push([s, info]),
    onError: (e) => o.errors.push(e),
    ...opts.sender,
  });
  senders.push(o.sender);
  o.sender.start();
  return o;
}

const stats = async (gw: RunningGateway): Promise<Json | null> => {
  const r = await gw.get('/api/v1/views/demo/stats');
  return r.status === 200 ? r.json() as Promise<Json> : null;
};
const pipeInfo = async (gw: RunningGateway) => (await (await gw.get('/api/v1/pipe/pipes/demo')).json()) as { statistics: Record<string, number>; queue_size: number; leader_session: string | null };
const files = (dir: string, n: number) => Array.from({ length: n }, (_, i) => fileRow(`${dir}/f${i}`));

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * An HTTP proxy in front of the gateway that forwards every request; for requests `drop` selects, the
 * gateway's answer is thrown away and the client's connection destroyed — a response lost on the way back.
 */
async function lossyProxy(target: string, drop: (method: string, url: string) => boolean): Promise<{ url: string; dropped: () => number; close: () => Promise<void> }> {
  let dropped = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const headers: Record<string, string> = {};
        for (const h of ['x-api-key', 'content-type', 'accept']) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h];
        const method = req.method ?? 'GET';
        const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
        try {
          const up = await fetch(target + (req.url ?? '/'), { method, headers, body });
          const text = await up.text();
          if (drop(method, req.url ?? '')) {
            dropped++;
            req.socket.destroy();
            return;
          }
          const out: Record<string, string> = { 'content-type': up.headers.get('content-type') ?? 'application/json' };
          const ra = up.headers.get('retry-after');
          if (ra !== null) out['retry-after'] = ra;
          res.writeHead(up.status, out).end(text);
        } catch {
          req.socket.destroy();
        }
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    dropped: () => dropped,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

// ---- tests ----

test('roles: the first session leads, another agent follows; deleting the leader\'s session promotes the follower at its next heartbeat, and the deleted one gets a new session', async () => {
  const gw = await gateway(demoConfig({ pipe: { session_timeout_seconds: 3 } }));
  const a = owner(gw.url, 'host-a');
  const first = await a.sender.session.ready();
  assert.equal(first.role, 'leader');
  assert.deepEqual(a.roles.map(([r, c]) => [r, c.promoted, c.initial]), [['leader', true, true]]);
  const sessions = await (await gw.get('/api/v1/views/demo/sessions')).json() as { active_sessions: { task_id: string }[] };
  assert.deepEqual(sessions.active_sessions.map((s) => s.task_id), ['host-a:demo'], 'task_id is "<agentId>:<pipeId>"');

  const b = owner(gw.url, 'host-b');
  assert.equal((await b.sender.session.ready()).role, 'follower');
  assert.deepEqual(b.roles.map(([r, c]) => [r, c.promoted]), [['follower', false]]);

  // Delete the leader's session behind its back.
  const del = await gw.request(`/api/v1/pipe/session/${first.id}`, 'DELETE', { key: gw.keys.agent });
  assert.equal(del.status, 200);
  await b.sender.session.heartbeatNow();
  assert.deepEqual(b.roles.map(([r, c]) => [r, c.promoted, c.initial]), [['follower', false, true], ['leader', true, false]], 'promotion reported by the heartbeat');
  assert.equal(b.sender.role, 'leader');

  // The old leader learns it from a 419 on its next heartbeat and gets a new session (now a follower).
  await a.sender.session.heartbeatNow();
  const second = await eventually(async () => a.sender.session.current, 20000, 'new session');
  assert.notEqual(second.id, first.id);
  assert.equal(second.epoch, 2);
  assert.equal(second.role, 'follower', 'role re-evaluated: b leads now');
  assert.equal(a.resets.length, 1);
  assert.equal(a.resets[0].sessionId, first.id);
  assert.equal(a.sender.status().session.sessionsCreated, 2);
  await a.sender.close();
  await b.sender.close();
  const left = await (await gw.get('/api/v1/views/demo/sessions')).json() as { count: number };
  assert.equal(left.count, 0, 'close() deletes the session');
});

test('a 419 on push: the session is re-created, the realtime row is resent on it, the new leader snapshots again', async () => {
  const gw = await gateway(demoConfig({ pipe: { session_timeout_seconds: 30 } }));
  const a = owner(gw.url, 'host-a', { snapshotRows: () => [dirRow('/d')] });
  await eventually(async () => a.snapshotsDone === 1 && await stats(gw), 30000, 'ready');
  const old = a.sender.session.current!;
  assert.equal((await gw.request(`/api/v1/pipe/session/${old.id}`, 'DELETE', { key: gw.keys.agent })).status, 200);

  assert.equal(a.sender.send([fileRow('/d/after-419.txt')], { source: 'realtime' }), true);
  await eventually(async () => a.resets.length === 1, 20000, 'reset seen on push');
  assert.match(a.resets[0].reason, /419/);
  await eventually(async () => a.snapshotsDone === 2 && await stats(gw), 30000, 'snapshot of the new session');
  await eventually(async () => (await gw.get('/api/v1/views/demo/metadata?path=/d/after-419.txt')).status === 200, 20000, 'row delivered on the new session');
  assert.notEqual(a.sender.sessionId, old.id);
  assert.deepEqual(a.roles.map(([r, c]) => [r, c.promoted]), [['leader', true], ['leader', true]]);
  assert.equal(a.sender.status().sender.rowsFailed, 0);
});

test('realtime: a row reaches /tree; the batching timer is at most 50 ms by design; heartbeats carry can_realtime', async () => {
  assert.equal(MAX_REALTIME_LINGER_MS, 50);
  const gw = await gateway(demoConfig());
  let realtimeReady = true;
  const a = owner(gw.url, 'host-rt', { snapshotRows: () => [dirRow('/rt')], sender: { batching: { realtimeLingerMs: 500 }, canRealtime: () => realtimeReady } });
  assert.ok(a.sender.batches.config.realtimeLingerMs <= 50, 'a larger linger is clamped to 50 ms');
  await eventually(() => stats(gw), 30000, 'ready');
  assert.equal(a.sender.send([fileRow('/rt/live.txt', { size: 7 })], { source: 'realtime' }), true);
  const tree = await eventually(async () => {
    const r = await gw.get('/api/v1/views/demo/tree?path=/rt&max_depth=1');
    if (r.status !== 200) return null;
    const t = await r.json() as { children: { name: string; size: number }[] };
    return t.children.find((c) => c.name === 'live.txt') ? t : null;
  }, 20000, 'realtime row in /tree');
  assert.equal(tree.children.find((c) => c.name === 'live.txt')?.size, 7);
  // Deletes travel as delete events, in order after the update.
  a.sender.send([{ path: '/rt/live.txt' }], { source: 'realtime', eventType: 'delete' });
  await eventually(async () => (await gw.get('/api/v1/views/demo/metadata?path=/rt/live.txt')).status === 404, 20000, 'deleted');

  const listed = async () => ((await (await gw.get('/api/v1/views/demo/sessions')).json()) as { active_sessions: Json[] }).active_sessions;
  await a.sender.session.heartbeatNow();
  assert.equal((await listed())[0].can_realtime, true, 'the heartbeat carries can_realtime from the owner');
  realtimeReady = false;
  await a.sender.session.heartbeatNow();
  assert.equal((await listed())[0].can_realtime, false);
});

test('on-demand scan: the command arrives through onCommand; rows and job_complete finish the job', async () => {
  const gw = await gateway(demoConfig());
  const a = owner(gw.url, 'host-job', { snapshotRows: () => [dirRow('/j')] });
  await eventually(() => stats(gw), 30000, 'ready');
  const pending = await (await gw.get('/api/v1/views/demo/tree?path=/j/new&on_demand_scan=true')).json() as { job_id: string; job_pending: boolean };
  assert.equal(pending.job_pending, true);
  await a.sender.session.heartbeatNow();
  assert.equal(a.commands.length, 1);
  const cmd = a.commands[0];
  assert.deepEqual([cmd.type, cmd.path, cmd.job_id], ['scan', '/j/new', pending.job_id]);
  const meta = { job_id: cmd.job_id, scan_path: cmd.path };
  await a.sender.sendAsync([dirRow('/j/new'), fileRow('/j/new/x.bin')], { source: 'on_demand_job', metadata: meta });
  await a.sender.sendAsync([], { source: 'on_demand_job', isEnd: true, metadata: meta });
  // The 200 answers the push once queued; the gateway's loop applies it (and completes the job) after.
  const job = await eventually(async () => {
    const j = await (await gw.get(`/api/v1/views/demo/jobs/${cmd.job_id}`)).json() as Json;
    return j.status === 'COMPLETED' ? j : null;
  }, 20000, 'job completed');
  assert.equal(job.status, 'COMPLETED');
  assert.equal((await gw.get('/api/v1/views/demo/metadata?path=/j/new/x.bin')).status, 200, 'the rows before job_complete were applied');
});

test('a session reset during a snapshot aborts the run: onAborted, the old run\'s end is refused, the view waits for the new session\'s snapshot', async () => {
  const gw = await gateway(demoConfig());
  const a = owner(gw.url, 'host-abort');
  const s1 = await a.sender.session.ready();
  await a.sender.sendAsync([dirRow('/old'), ...files('/old', 2000)], { source: 'snapshot', epoch: s1.epoch });
  assert.equal((await gw.request(`/api/v1/pipe/session/${s1.id}`, 'DELETE', { key: gw.keys.agent })).status, 200);
  await a.sender.session.heartbeatNow();
  assert.deepEqual(a.aborted.map(([src, info]) => [src, info.epoch]), [['snapshot', 1]], 'the open snapshot run was reported aborted');
  await assert.rejects(a.sender.sendAsync([], { source: 'snapshot', isEnd: true, epoch: s1.epoch }), SessionResetError);
  assert.equal(a.sender.send(files('/old-more', 1), { source: 'snapshot', epoch: s1.epoch }), false, 'a run tied to the old session is refused');

  const s2 = await eventually(async () => a.sender.session.current, 20000, 'new session');
  assert.equal(s2.epoch, 2);
  assert.deepEqual(a.roles.map(([r, c]) => [r, c.promoted, c.epoch]), [['leader', true, 1], ['leader', true, 2]]);
  await new Promise((r) => setTimeout(r, 200));
  const notReady = await gw.get('/api/v1/views/demo/stats');
  assert.equal(notReady.status, 503, 'no snapshot end reached the gateway for the new session');
  assert.equal(((await notReady.json()) as Json).message, 'initial snapshot in progress');
  await a.sender.sendAsync([dirRow('/new'), ...files('/new', 10)], { source: 'snapshot', epoch: s2.epoch });
  await a.sender.sendAsync([], { source: 'snapshot', isEnd: true, epoch: s2.epoch });
  await eventually(() => stats(gw), 30000, 'ready after the new snapshot');
});

test('a 50k-row snapshot with an end makes the view ready (503 → 200) with every row', async () => {
  const gw = await gateway(demoConfig());
  const a = owner(gw.url, 'host-snap');
  const { epoch, role } = await a.sender.session.ready();
  assert.equal(role, 'leader');
  const before = await gw.get('/api/v1/views/demo/stats');
  assert.equal(before.status, 503);
  await a.sender.sendAsync([dirRow('/s')], { source: 'snapshot', epoch });
  for (let d = 0; d < 50; d++) await a.sender.sendAsync([dirRow(`/s/d${d}`), ...files(`/s/d${d}`, 1000)], { source: 'snapshot', epoch });
  assert.equal((await gw.get('/api/v1/views/demo/stats')).status, 503, 'not ready before the end');
  await a.sender.sendAsync([], { source: 'snapshot', isEnd: true, epoch });
  const s = await eventually(() => stats(gw), 60000, 'ready');
  assert.equal(s.total_files, 50_000);
  assert.equal(s.item_count, 50_000 + 51 + 1);
  const st = a.sender.status().sender;
  assert.equal(st.rowsSent, 50_051);
  assert.equal(st.bufferDepth, 0);
  assert.ok(st.batches >= 6, `batched by size: ${st.batches} batches`);
  assert.equal((await gw.get('/readyz', null)).status, 200);
});

test('503 backpressure (queue_capacity 1): batches are resent after Retry-After and nothing is lost', async () => {
  // A 503 needs a batch to arrive while the one-batch queue is still full, i.e. the gateway applying rows
  // more slowly than the sender encodes and the gateway parses them — a ratio of speeds. The pipe fans out
  // to four views, so every batch is applied four times but parsed once: with one view a 2-core host saw as
  // few as 2 503s in a run, with four at least 6, loaded or not.
  const config = demoConfig({ pipe: { queue_capacity: 1, views: ['demo', 'm1', 'm2', 'm3'] } }) as { views: Record<string, unknown> };
  for (const v of ['m1', 'm2', 'm3']) config.views[v] = { driver: 'fs', api_keys: [DEMO_KEYS.query] };
  const gw = await gateway(config);
  // maxRetryAfterMs bounds the gateway's Retry-After (1 s) only to keep this test short.
  const a = owner(gw.url, 'host-busy', { sender: { batching: { maxBatchRows: 5000, maxRetryAfterMs: 250 } } });
  const { epoch } = await a.sender.session.ready();
  // Snapshot files weigh 1000 bytes, realtime files 0: total_size counts snapshot rows only.
  const snap = a.sender.sendAsync([dirRow('/b'), ...Array.from({ length: 40_000 }, (_, i) => fileRow(`/b/f${i}`, { size: 1000 }))], { source: 'snapshot', epoch });
  for (let i = 0; i < 2000; i++) assert.equal(a.sender.send([fileRow(`/rt/f${i}`, { size: 0 })], { source: 'realtime' }), true);
  await snap;
  await a.sender.sendAsync([], { source: 'snapshot', isEnd: true, epoch });
  const first = await eventually(() => stats(gw), 60000, 'ready');
  assert.equal(first.total_size, 40_000 * 1000, 'the snapshot end travelled after every snapshot row was accepted');
  await a.sender.drained();
  const st = a.sender.status().sender;
  assert.ok(st.busy > 0, `expected 503s, got ${JSON.stringify(st)}`);
  assert.ok(st.retries >= st.busy);
  assert.equal(st.rowsSent, 42_001);
  const s = await eventually(async () => {
    const v = await stats(gw);
    return v !== null && (await pipeInfo(gw)).queue_size === 0 ? v : null;
  }, 60000, 'ready and drained');
  assert.equal(s.total_files, 42_000);
  assert.equal(s.item_count, 42_000 + 2 /* /b, /rt */ + 1 /* root */);
  assert.equal((await pipeInfo(gw)).statistics.batches_rejected_busy, st.busy, 'every 503 the gateway sent was resent');
});

test('413 (small max_body_bytes): the batch is split until it fits and every row arrives', async () => {
  const gw = await gateway(demoConfig({ top: { max_body_bytes: 16 * 1024 } }));
  const a = owner(gw.url, 'host-413');
  const { epoch } = await a.sender.session.ready();
  await a.sender.sendAsync([dirRow('/big'), ...files('/big', 3000)], { source: 'snapshot', epoch });
  await a.sender.sendAsync([], { source: 'snapshot', isEnd: true, epoch });
  const st = a.sender.status().sender;
  assert.ok(st.splits > 0, 'split after 413');
  assert.ok(st.maxBatchBytes <= 16 * 1024, `byte budget lowered: ${st.maxBatchBytes}`);
  assert.equal(st.rowsFailed, 0);
  const s = await eventually(() => stats(gw), 30000, 'ready');
  assert.equal(s.total_files, 3000);
  // Later batches are formed within the learnt budget: no new split.
  const splits = st.splits;
  await a.sender.sendAsync(files('/big2', 1000), { source: 'snapshot', epoch });
  await a.sender.drained();
  assert.equal(a.sender.status().sender.splits, splits);
  await eventually(async () => (await stats(gw))?.total_files === 4000, 20000, 'second batch applied');
});

test('a lost answer: the batch is resent with the same batch_seq, the gateway answers duplicate and applies it once', async () => {
  const gw = await gateway(demoConfig());
  let pushes = 0;
  const proxy = await lossyProxy(gw.url, (method, url) => method === 'POST' && url.includes('/events') && ++pushes === 1);
  try {
    const a = owner(proxy.url, 'host-replay', { sender: { backoff: { baseMs: 50, capMs: 200 } } });
    const { epoch } = await a.sender.session.ready();
    await a.sender.sendAsync([dirRow('/r'), ...files('/r', 500)], { source: 'snapshot', epoch });
    await a.sender.sendAsync([], { source: 'snapshot', isEnd: true, epoch });
    assert.equal(proxy.dropped(), 1, 'the first answer was lost');
    const st = a.sender.status().sender;
    assert.equal(st.duplicates, 1, 'the resend was recognised as a duplicate');
    assert.ok(st.retries >= 1);
    assert.ok(a.errors.some((e) => e.kind === 'unreachable'), 'the lost answer surfaced as unreachable');
    const s = await eventually(() => stats(gw), 30000, 'ready');
    assert.equal(s.total_files, 500);
    const info = await pipeInfo(gw);
    assert.equal(info.statistics.events_received, 1, 'the rows event entered the gateway queue once');
  } finally {
    await proxy.close();
  }
});

test('the gateway is killed and restarted on the same port: the sender reconnects with backoff, gets a new session and delivers what it buffered', async () => {
  const config = demoConfig({ pipe: { session_timeout_seconds: 3 } });
  const gw1 = await gateway(config);
  const port = Number(new URL(gw1.url).port);
  after(() => rmSync(gw1.dir, { recursive: true, force: true }));
  // The cap only keeps the test short; the default is 0.5 s … 30 s.
  const a = owner(gw1.url, 'host-restart', { snapshotRows: () => [dirRow('/k')], sender: { backoff: { baseMs: 200, capMs: 1000 } } });
  await eventually(async () => a.snapshotsDone === 1, 30000, 'first snapshot');
  const first = a.sender.sessionId;
  gw1.proc.kill('SIGKILL');
  await new Promise((r) => gw1.proc.once('exit', r));

  assert.equal(a.sender.send([fileRow('/k/during-outage.txt')], { source: 'realtime' }), true, 'send never blocks or throws while the gateway is down');
  await eventually(async () => a.errors.some((e) => e.kind === 'unreachable'), 30000, 'outage noticed');
  assert.equal(a.sender.sessionId, first, 'an unreachable gateway does not end the session: only a 419 proves it gone');

  const gw2 = await gateway(config, { port });
  await eventually(async () => a.snapshotsDone === 2 && await stats(gw2), 30000, 'new session and snapshot on the restarted gateway');
  assert.notEqual(a.sender.sessionId, first);
  assert.equal(a.resets.length, 1);
  assert.equal(a.sender.session.status().sessionsCreated, 2);
  await eventually(async () => (await gw2.get('/api/v1/views/demo/metadata?path=/k/during-outage.txt')).status === 200, 30000, 'buffered realtime row delivered');
  assert.ok(a.sender.status().sender.retries > 0, 'the realtime batch was resent');
});

test('buffer full: send() returns false for realtime rows without blocking, degraded is reported, and cleared once the gateway drains it', async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const a = owner(url, 'host-full', { sender: { batching: { maxBufferRows: 100 }, backoff: { baseMs: 100, capMs: 500 } } });
  assert.equal(a.sender.send(files('/full', 100), { source: 'realtime' }), true);
  assert.equal(a.sender.send([fileRow('/full/one-too-many')], { source: 'realtime' }), false);
  assert.deepEqual(a.degraded, ['buffer full']);
  assert.equal(a.sender.send([fileRow('/full/another')], { source: 'realtime' }), false);
  assert.deepEqual(a.degraded, ['buffer full'], 'reported once');
  let st = a.sender.status().sender;
  assert.equal(st.degraded, 'buffer full');
  assert.equal(st.rowsRefused, 2);
  assert.equal(st.bufferDepth, 100);
  // A bulk producer waits instead (its share is full too): still pending after a while.
  let settled = false;
  const waiting = a.sender.sendAsync(files('/bulk', 10), { source: 'snapshot' }).finally(() => { settled = true; });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(settled, false, 'sendAsync waits for room');

  const gw = await gateway(demoConfig(), { port });
  await waiting;
  await a.sender.drained();
  assert.deepEqual(a.degraded, ['buffer full', null], 'cleared when the buffer drained');
  st = a.sender.status().sender;
  assert.equal(st.rowsSent, 110);
  assert.equal(st.bufferDepth, 0);
  assert.equal((await pipeInfo(gw)).statistics.events_received > 0, true);
});
