/**
 * Hostile input on every public endpoint of a REAL gateway process (spec 60, "Bad input"): broken JSON,
 * wrong types, missing and unknown fields, bodies over max_body_bytes, deep nesting, floods of tiny rows,
 * bad paths, non-UTF-8 names and bytes, replays, foreign and unknown sessions, bad query parameters and
 * cursors, and hostile glob patterns. Each case asserts a clear 4xx with `{code, message, detail}` whose
 * message names the problem, that the process is alive and `/healthz` answers, and that no state changed
 * (stats, the whole tree, suspects, blind spots, sessions, jobs, and an empty change journal since).
 * A fast-check property throws random JSON at the events endpoint and random tree/search parameters.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { batch, demoConfig, dirRow, event, eventually, fileRow, realtimeBatch, snapshotBatch, startGateway, type AgentSession, type RunningGateway } from './helpers/gateway.ts';

type Json = Record<string, unknown>;

const MAX_BODY = 256 * 1024;
const SECOND_AGENT_KEY = 'test-agent-key-0002';
const OTHER_VIEW_KEY = 'test-other-query-key';
const OLD = Date.now() / 1000 - 3600;
const V = '/api/v1/views/demo';
const LONG_NAME = 'a'.repeat(255);
const BAD_PATHS: [string, RegExp][] = [
  ['/d/../etc', /'\.\.' segment/], ['/d/./f', /'\.' segment/], ['/d//f', /empty segment/], ['/d/f\u0000x', /NUL/],
  ['/d/', /must not end with '\/'/], ['d/f', /must start with '\/'/], [`/d/${'n'.repeat(5000)}`, /longer than 4096/], ['', /empty/],
];

let gw: RunningGateway;
let leader: AgentSession;
let second: AgentSession;

before(async () => {
  // Sessions live for the whole file: only heartbeats keep a session alive, the sessions here are rarely
  // heartbeated, and every `unchanged` block compares the session list (30 s would make the file's outcome
  // depend on how fast the host runs it).
  const config = demoConfig({ top: { max_body_bytes: MAX_BODY }, pipe: { session_timeout_seconds: 3600 } }) as Record<string, Record<string, Record<string, unknown>>>;
  (config.receivers.main.api_keys as unknown[]).push({ key: SECOND_AGENT_KEY, pipe_id: 'demo' });
  config.views.other = { driver: 'fs', api_keys: [OTHER_VIEW_KEY] };
  gw = await startGateway(config);
  leader = await gw.agent('host-a:demo');
  second = await gw.agent('host-b:demo', { key: SECOND_AGENT_KEY });
  await leader.pushOk(snapshotBatch([
    dirRow('/', { mtime: OLD }), dirRow('/d', { mtime: OLD }), fileRow('/d/f', { size: 10, mtime: OLD }), fileRow('/d/g.txt', { size: 20, mtime: OLD }),
    dirRow('/names', { mtime: OLD }), fileRow('/names/a\udcffb', { size: 1, mtime: OLD }), fileRow('/names/a\udcfeb', { size: 2, mtime: OLD }),
    fileRow('/names/caf\u00e9', { size: 3, mtime: OLD }), fileRow(`/long/${LONG_NAME}`, { size: 4, mtime: OLD }),
  ], { isEnd: true }));
  await eventually(async () => (await gw.get(`${V}/stats`)).status === 200, 30000, 'view ready');
});
after(async () => { await gw.stop(); });

// ---- helpers ------------------------------------------------------------------------------------

const events = (sid = leader.sessionId) => `/api/v1/pipe/ingest/${sid}/events`;
const alias = (sid = leader.sessionId) => `/api/v1/pipe/${sid}/events`;
const heartbeat = (sid = leader.sessionId) => `/api/v1/pipe/session/${sid}/heartbeat`;

/** POST/PUT a raw body (string or bytes) with a key. */
async function send(path: string, body: string | Buffer, opts: { key?: string; method?: string; type?: string } = {}): Promise<Response> {
  return fetch(`${gw.url}${path}`, {
    method: opts.method ?? 'POST',
    headers: { 'x-api-key': opts.key ?? gw.keys.agent, 'content-type': opts.type ?? 'application/json' },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
}
const sendJson = (path: string, body: unknown, opts: { key?: string; method?: string } = {}) => send(path, JSON.stringify(body), opts);

/** A clear error: the status, a JSON `{code, message, detail}` whose message matches. */
async function expectError(res: Response, status: number, message: RegExp, what = ''): Promise<Json> {
  const text = await res.text();
  assert.equal(res.status, status, `${what}: expected ${status}, got ${res.status} ${text.slice(0, 300)}`);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/, what);
  const body = JSON.parse(text) as Json;
  assert.equal(typeof body.code, 'string', `${what}: code`);
  assert.equal(typeof body.message, 'string', `${what}: message`);
  assert.equal(body.detail, body.message, `${what}: detail repeats the message`);
  assert.match(body.message as string, message, what);
  return body;
}

async function getJson<T = Json>(path: string, key?: string): Promise<T> {
  const res = await gw.get(path, key);
  assert.equal(res.status, 200, path);
  return res.json() as Promise<T>;
}

async function pipe(): Promise<{ queue_size: number; active_sessions: number; statistics: Record<string, number> }> {
  return getJson('/api/v1/pipe/pipes/demo');
}

async function drained(): Promise<void> {
  await eventually(async () => {
    const p = await pipe();
    return p.queue_size === 0 && p.statistics.events_received === p.statistics.events_processed;
  }, 30000, 'pipe queue drained');
}

const STABLE_STATS = ['item_count', 'total_files', 'total_directories', 'total_size', 'latest_mtime', 'suspect_file_count', 'has_blind_spot', 'blind_spot_additions',
  'blind_spot_deletions', 'audit_cycle_count', 'is_auditing', 'audit_started_at', 'tombstone_count', 'rows_applied', 'max_nodes_refused', 'sessions', 'leader'];

/** Everything a hostile request must leave alone. */
async function state(): Promise<Json> {
  await drained();
  const stats = await getJson(`${V}/stats`);
  const sessions = await getJson<{ active_sessions: Json[] }>(`${V}/sessions`);
  return {
    stats: Object.fromEntries(STABLE_STATS.map((k) => [k, stats[k]])),
    tree: await (await gw.get(`${V}/tree`)).text(),
    suspects: await getJson(`${V}/suspect-list`),
    blindSpots: await getJson(`${V}/blind-spots`),
    sessions: sessions.active_sessions.map((s) => [s.session_id, s.role]),
    jobs: await getJson(`${V}/jobs`),
    otherView: await getJson('/api/v1/views/other/sessions', OTHER_VIEW_KEY),
  };
}

async function alive(): Promise<void> {
  assert.equal(gw.proc.exitCode, null, 'gateway process still running');
  assert.equal(gw.proc.signalCode, null, 'gateway process still running');
  const health = await gw.get('/healthz', null);
  assert.equal(health.status, 200);
  assert.equal(((await health.json()) as Json).status, 'ok');
}

/** Run `fn`, then assert the gateway is alive and nothing changed (including the change journal). */
async function unchanged(fn: () => Promise<void>): Promise<void> {
  const before = await state();
  const cursor = (await getJson<{ cursor: string }>(`${V}/changes?since=now`)).cursor;
  await fn();
  await alive();
  const afterState = await state();
  assert.deepEqual(afterState, before, 'no state change');
  const changes = await getJson<{ changes: unknown[]; fresh_instance?: boolean }>(`${V}/changes?since=${cursor}`);
  assert.deepEqual([changes.changes, changes.fresh_instance], [[], undefined], 'nothing entered the change journal');
}

const ev = (rows: unknown[], extra: Json = {}): Json => ({ event_type: 'update', event_schema: 'fs', table: 'files', fields: [], rows, index: 1, ...extra });

// ---- ingest --------------------------------------------------------------------------------------

test('events: broken JSON, wrong types (null everywhere), missing fields → 422 naming the field; nothing applied', async () => {
  await unchanged(async () => {
    const broken = ['{', '{"events": [', '[', 'nul', '{"events":[]}garbage', '{"events":[],}', "{'events':[]}", '{"events":[NaN]}', '\u0000'];
    for (const raw of broken) {
      for (const path of [events(), alias()]) await expectError(await send(path, raw), 422, /^body: invalid JSON/, `${path} ${JSON.stringify(raw)}`);
    }
    const cases: [unknown, RegExp][] = [
      [null, /^body: must be object/], [[], /^body: must be object/], ['x', /^body: must be object/], [7, /^body: must be object/],
      [{}, /^body\.events: required field is missing/], [{ events: null }, /^body\.events: must be array/], [{ events: {} }, /^body\.events: must be array/],
      [{ events: '[]' }, /^body\.events: must be array/], [{ events: [null] }, /^body\.events\[0\]: must be object/], [{ events: [[]] }, /^body\.events\[0\]: must be object/],
      [{ events: [ev([], { event_type: null })] }, /^body\.events\[0\]\.event_type: must be string/],
      [{ events: [ev([], { event_type: 3 })] }, /^body\.events\[0\]\.event_type: must be string/],
      [{ events: [ev([], { event_type: 'upsert' })] }, /^body\.events\[0\]\.event_type: must be one of "insert", "update", "delete"/],
      [{ events: [ev(null as unknown as unknown[])] }, /^body\.events\[0\]\.rows: must be array/],
      [{ events: [ev({} as unknown as unknown[])] }, /^body\.events\[0\]\.rows: must be array/],
      [{ events: [ev([], { fields: {} })] }, /^body\.events\[0\]\.fields: must be array/],
      [{ events: [ev([], { fields: [1] })] }, /^body\.events\[0\]\.fields\[0\]: must be string/],
      [{ events: [ev([], { event_schema: null })] }, /^body\.events\[0\]\.event_schema: must be string/],
      [{ events: [ev([], { table: 5 })] }, /^body\.events\[0\]\.table: must be string/],
      [{ events: [ev([], { index: 'soon' })] }, /^body\.events\[0\]\.index: must be number/],
      [{ events: [ev([], { message_source: 'psychic' })] }, /^body\.events\[0\]\.message_source: must be one of/],
      [{ events: [ev([], { event_id: 5 })] }, /^body\.events\[0\]\.event_id: must be string/],
      [{ events: [ev([], { metadata: [] })] }, /^body\.events\[0\]\.metadata: must be object/],
      [{ events: [{ event_schema: 'fs', table: 'files', fields: [], rows: [] }] }, /^body\.events\[0\]\.event_type: required field is missing/],
      [{ events: [{ event_type: 'update', event_schema: 'fs', table: 'files', fields: [] }] }, /^body\.events\[0\]\.rows: required field is missing/],
      [{ events: [], is_end: null }, /^body\.is_end: must be boolean/], [{ events: [], is_end: 1 }, /^body\.is_end: must be boolean/],
      [{ events: [], source_type: null }, /^body\.source_type: must be string/], [{ events: [], source_type: 'audit ' }, /^body\.source_type: must be one of/],
      [{ events: [], metadata: null }, /^body\.metadata: must be object/], [{ events: [], metadata: 'seq-1' }, /^body\.metadata: must be object/],
      [{ events: [], session_id: 5 }, /^body\.session_id: must be string/],
    ];
    for (const [body, message] of cases) await expectError(await sendJson(events(), body), 422, message, JSON.stringify(body));
    const empty = await send(events(), '');
    await expectError(empty, 422, /^body\.events: required field is missing/, 'empty body');
    await expectError(await send(events(), '{"events":[]}', { type: 'application/xml' }), 415, /Content-Type "application\/xml".*application\/json/, 'xml');
    assert.equal((await leader.heartbeat()).status, 200, 'the session survives its bad requests');
  });
});

test('events: unknown extra fields are ignored, __proto__ pollutes nothing', async () => {
  await unchanged(async () => {
    const extra = await sendJson(events(), { events: [ev([], { surprise: { deep: [1, 2] } })], surprise: true, source_type: 'message' });
    assert.equal(extra.status, 200);
    assert.deepEqual(await extra.json(), { status: 'ok', count: 0 });
    // If parsing assigned prototypes, this batch would turn into an audit end (audit_cycle_count) or a snapshot.
    const proto = await send(events(), '{"events":[],"__proto__":{"is_end":true,"source_type":"audit","events":[1]},"constructor":{"prototype":{"is_end":true}}}');
    assert.equal(proto.status, 200);
    const hb = await send(heartbeat(), '{"can_realtime":true,"__proto__":{"can_realtime":"no"},"extra":[1]}');
    assert.equal(hb.status, 200);
  });
});

test('bodies over max_body_bytes → 413 on every endpoint that takes a body', async () => {
  await unchanged(async () => {
    const big = 'x'.repeat(MAX_BODY + 1);
    const targets: [string, string, string][] = [
      [events(), 'POST', JSON.stringify({ events: [], pad: big })], [alias(), 'POST', JSON.stringify(realtimeBatch(Array.from({ length: 3000 }, (_, i) => fileRow(`/big/f${i}`))))],
      [heartbeat(), 'POST', JSON.stringify({ agent_status: { pad: big } })], ['/api/v1/pipe/session/', 'POST', JSON.stringify({ task_id: 'big:demo', pad: big })],
      ['/api/v1/pipe/consistency/sentinel/feedback', 'POST', JSON.stringify({ type: 'suspect_update', updates: [], pad: big })],
      ['/api/v1/pipe/consistency/audit/start', 'POST', JSON.stringify({ pad: big })], ['/api/v1/pipe/consistency/audit/end', 'POST', big],
    ];
    for (const [path, method, body] of targets) await expectError(await send(path, body, { method }), 413, /larger than the limit \(max_body_bytes\)/, path);
    await expectError(await send(`${V}/suspect-list`, JSON.stringify({ updates: [], pad: big }), { method: 'PUT', key: gw.keys.query }), 413, /max_body_bytes/, 'PUT suspect-list');
  });
});

test('deep nesting: 100,000 nested arrays as the body → 422; inside a row → that row is rejected and counted; inside a field → 422', async () => {
  const deep = `${'['.repeat(100000)}${']'.repeat(100000)}`;
  const rejectedBefore = (await pipe()).statistics.rows_rejected;
  await unchanged(async () => {
    for (const [path, method, key] of [[events(), 'POST'], [alias(), 'POST'], [heartbeat(), 'POST'], ['/api/v1/pipe/session/', 'POST'],
      ['/api/v1/pipe/consistency/sentinel/feedback', 'POST'], [`${V}/suspect-list`, 'PUT', gw.keys.query]] as [string, string, string?][]) {
      await expectError(await send(path, deep, { method, key }), 422, /^body: must be object/, path);
    }
    for (const row of [deep, `{"path":${deep}}`]) {
      const inRow = await send(events(), `{"events":[{"event_type":"update","event_schema":"fs","table":"files","fields":[],"rows":[${row}]}]}`);
      assert.equal(inRow.status, 200, 'malformed rows inside a valid batch are rejected one by one (spec 10)');
      assert.deepEqual(await inRow.json(), { status: 'ok', count: 1 });
    }
    await expectError(await send(events(), `{"events":[{"event_type":"update","event_schema":"fs","table":"files","fields":${deep},"rows":[]}]}`), 422, /^body\.events\[0\]\.fields\[0\]: must be string/, 'fields');
    await expectError(await send(events(), `{"events":${deep}}`), 422, /^body\.events\[0\]: must be object/, 'events');
    await expectError(await send('/api/v1/pipe/consistency/sentinel/feedback', `{"type":"suspect_update","updates":[${deep}]}`), 422, /^body\.updates\[0\]: must be object/, 'updates');
    // Free-form objects (metadata, agent_status, client_info) may nest; they are stored or ignored, never walked.
    assert.equal((await send(events(), `{"events":[],"metadata":{"x":${deep}}}`)).status, 200);
    assert.equal((await send(heartbeat(), `{"agent_status":{"x":${deep}}}`)).status, 200);
  });
  assert.equal((await pipe()).statistics.rows_rejected, rejectedBefore + 2, 'both nested rows counted as rejected');
});

test('a flood of tiny malformed rows is rejected row by row while /healthz and heartbeats stay answered', async () => {
  const rows = 64000;
  const rejectedBefore = (await pipe()).statistics.rows_rejected;
  await unchanged(async () => {
    const body = `{"events":[{"event_type":"update","event_schema":"fs","table":"files","fields":[],"rows":[${Array(rows).fill('{}').join(',')}]},`
      + `{"event_type":"delete","event_schema":"fs","table":"files","fields":[],"rows":[${Array(rows / 4).fill('0').join(',')}]}]}`;
    assert.ok(body.length < MAX_BODY);
    const res = await send(events(), body);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok', count: rows + rows / 4 });
    assert.equal((await gw.get('/healthz', null)).status, 200);
    assert.equal((await leader.heartbeat()).status, 200);
  });
  assert.equal((await pipe()).statistics.rows_rejected, rejectedBefore + rows + rows / 4);
});

test('bad paths (.., ., //, NUL, trailing /, relative, 5,000 chars): rejected rows, 400 as parameters, 422/400 in evidence bodies; nothing applied', async () => {
  const rejectedBefore = (await pipe()).statistics.rows_rejected;
  await unchanged(async () => {
    const upserts = BAD_PATHS.map(([p]) => fileRow(p));
    const deletes = BAD_PATHS.map(([p]) => ({ path: p }));
    await leader.pushOk(realtimeBatch(upserts));
    await leader.pushOk(realtimeBatch(deletes, { type: 'delete' }));
    // Compensating sources too; an audit event whose rows are all malformed must not even open an audit window.
    await leader.pushOk(batch('audit', [event(upserts, { source: 'audit' })]));
    await leader.pushOk(batch('on_demand_job', [event(deletes, { type: 'delete', source: 'on_demand_job' })]));
    await leader.pushOk(snapshotBatch([{ ...fileRow('/'), is_directory: false }, fileRow('/d/f\u0000')]));

    for (const [bad, problem] of BAD_PATHS) {
      const p = encodeURIComponent(bad);
      for (const url of [`${V}/tree?path=${p}`, `${V}/stats?path=${p}`, `${V}/metadata?path=${p}`, `${V}/changes?path=${p}`, `${V}/search?pattern=*&path=${p}`, `${V}/tree?path=${p}&on_demand_scan=true`]) {
        await expectError(await gw.get(url), 400, new RegExp(`^query\\.path: .*${problem.source}`), url.slice(0, 120));
      }
      // (A path over 4096 characters already fails the body schema: 422 "must not have more than 4096 characters".)
      const tooLong = bad.length > 4096;
      const inBody = tooLong ? /must not have more than 4096 characters/ : problem;
      await expectError(await sendJson('/api/v1/pipe/consistency/sentinel/feedback', { type: 'suspect_update', updates: [{ path: '/d/f', mtime: OLD, status: 'exists' }, { path: bad, status: 'missing' }] }),
        422, new RegExp(`^body\\.updates\\[1\\]\\.path: .*${inBody.source}`), `feedback ${JSON.stringify(bad.slice(0, 20))}`);
      await expectError(await sendJson(`${V}/suspect-list`, { updates: [{ path: bad, mtime: 1 }] }, { method: 'PUT', key: gw.keys.query }), tooLong ? 422 : 400,
        new RegExp(`^body\\.updates\\[0\\]\\.path: .*${inBody.source}`), `PUT ${JSON.stringify(bad.slice(0, 20))}`);
    }
  });
  assert.equal((await pipe()).statistics.rows_rejected, rejectedBefore + 4 * BAD_PATHS.length + 2, 'every bad row counted');
});

test('non-UTF-8 names as surrogate escapes are accepted and round-trip exactly through /tree, /search and /metadata', async () => {
  await unchanged(async () => {
    const tree = await getJson<{ children: { name: string; path: string }[] }>(`${V}/tree?path=/names`);
    assert.deepEqual(tree.children.map((c) => c.name), ['a\udcfeb', 'a\udcffb', 'caf\u00e9'], 'exact names, in byte order');
    assert.deepEqual(tree.children.map((c) => c.path), ['/names/a\udcfeb', '/names/a\udcffb', '/names/caf\u00e9']);
    const raw = await (await gw.get(`${V}/tree?path=/names`)).text();
    assert.ok(raw.includes('"a\\udcffb"'), 'carried as a JSON \\u escape');
    const found = await getJson<{ items: { path: string; size: number }[] }>(`${V}/search?pattern=a%3Fb`);
    assert.deepEqual(found.items.map((n) => [n.path, n.size]).sort(), [['/names/a\udcfeb', 2], ['/names/a\udcffb', 1]]);
    // A path parameter addresses such a name by its original bytes, percent-encoded.
    const meta = await getJson<{ name: string; size: number }>(`${V}/metadata?path=/names/a%FFb`);
    assert.deepEqual([meta.name, meta.size], ['a\udcffb', 1]);
    assert.equal((await getJson<{ name: string }>(`${V}/tree?path=/names/a%FEb`)).name, 'a\udcfeb');
    assert.deepEqual((await getJson<{ items: { path: string }[] }>(`${V}/search?pattern=a%FF*`)).items.map((n) => n.path), ['/names/a\udcffb']);
    assert.equal((await getJson<{ name: string }>(`${V}/metadata?path=/names/caf%C3%A9`)).name, 'caf\u00e9', 'valid UTF-8 is decoded as always');
    // Paging cursors carry the bytes too.
    const page1 = await getJson<{ children: { name: string }[]; next_cursor: string }>(`${V}/tree?path=/names&limit=1`);
    const page2 = await getJson<{ children: { name: string }[] }>(`${V}/tree?path=/names&limit=1&cursor=${page1.next_cursor}`);
    assert.deepEqual([page1.children[0].name, page2.children[0].name], ['a\udcfeb', 'a\udcffb']);
  });
});

test('invalid UTF-8 in the raw request bytes → 422 naming the offset; nothing applied', async () => {
  await unchanged(async () => {
    const prefix = '{"events":[{"event_type":"update","event_schema":"fs","table":"files","fields":[],"rows":[{"path":"/d/x';
    const body = Buffer.concat([Buffer.from(prefix), Buffer.from([0xff, 0xfe]), Buffer.from('y","size":1,"modified_time":1,"is_directory":false}]}]}')]);
    for (const path of [events(), alias()]) await expectError(await send(path, body), 422, new RegExp(`^body: not valid UTF-8 \\(first bad byte at offset ${prefix.length}\\)`), path);
    const lone = Buffer.concat([Buffer.from('{"task_id":"h'), Buffer.from([0xed, 0xb3, 0xbf]), Buffer.from(':demo"}')]);
    await expectError(await send('/api/v1/pipe/session/', lone), 422, /not valid UTF-8 \(first bad byte at offset 13\)/, 'CESU surrogate');
    await expectError(await send(heartbeat(), Buffer.from([0x7b, 0xc0, 0x80, 0x7d])), 422, /not valid UTF-8 \(first bad byte at offset 1\)/, 'overlong');
    await expectError(await send(`${V}/suspect-list`, Buffer.from([0x7b, 0xff, 0x7d]), { method: 'PUT', key: gw.keys.query }), 422, /not valid UTF-8/, 'PUT');
    const truncated = Buffer.concat([Buffer.from('{"events":[],"x":"\u00e9'), Buffer.from([0xe2, 0x82])]);
    await expectError(await send(events(), truncated), 422, /not valid UTF-8 \(first bad byte at offset 20\)/, 'truncated sequence');
  });
});

test('replayed batches: the same metadata.batch_seq is acknowledged as a duplicate, even with other content; tree unchanged', async () => {
  assert.deepEqual(await leader.pushOk(realtimeBatch([fileRow('/replay/one', { size: 1 })], { metadata: { batch_seq: 4242 } })), { status: 'ok', count: 1 });
  await eventually(async () => (await gw.get(`${V}/metadata?path=/replay/one`)).status === 200, 20000, 'first batch applied');
  await unchanged(async () => {
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await leader.pushOk(realtimeBatch([fileRow('/replay/one', { size: 99 })], { metadata: { batch_seq: 4242 } })), { status: 'ok', count: 1, duplicate: true });
      assert.equal((await leader.pushOk(realtimeBatch([{ path: '/replay/one' }], { type: 'delete', metadata: { batch_seq: 4242 } }))).duplicate, true);
      assert.equal((await leader.pushOk(realtimeBatch([fileRow('/replay/two')], { metadata: { batch_seq: 4242, batch_id: 'other' } }))).duplicate, true, 'batch_seq wins over batch_id');
    }
  });
  assert.equal((await getJson<{ size: number }>(`${V}/metadata?path=/replay/one`)).size, 1);
});

test('unknown sessions → 419, sessions of another key → 403, missing or unknown keys → 401', async () => {
  await unchanged(async () => {
    for (const sid of ['no-such-session', '00000000-0000-0000-0000-000000000000', 'x'.repeat(300)]) {
      await expectError(await sendJson(events(sid), realtimeBatch([fileRow('/d/ghost')])), 419, /not found or expired; create a new session/, `events ${sid.slice(0, 20)}`);
      await expectError(await sendJson(alias(sid), realtimeBatch([fileRow('/d/ghost')])), 419, /not found or expired/, 'alias');
      await expectError(await sendJson(heartbeat(sid), {}), 419, /not found or expired/, 'heartbeat');
    }
    const gone = await gw.request('/api/v1/pipe/session/no-such-session', 'DELETE', { key: gw.keys.agent });
    assert.equal(gone.status, 200, 'DELETE is idempotent (spec 10)');
    assert.match(((await gone.json()) as Json).message as string, /already terminated/);

    const foreign = { key: SECOND_AGENT_KEY };
    await expectError(await sendJson(events(), realtimeBatch([fileRow('/d/ghost')]), foreign), 403, /belongs to another key/, 'events');
    await expectError(await sendJson(alias(), realtimeBatch([fileRow('/d/ghost')]), foreign), 403, /belongs to another key/, 'alias');
    await expectError(await sendJson(heartbeat(), {}, foreign), 403, /belongs to another key/, 'heartbeat');
    await expectError(await gw.request(`/api/v1/pipe/session/${leader.sessionId}`, 'DELETE', foreign), 403, /belongs to another key/, 'delete');
    await expectError(await sendJson(events(second.sessionId), realtimeBatch([fileRow('/d/ghost')])), 403, /belongs to another key/, 'the other way round');

    for (const [key, message] of [[null, /^X-API-Key header is missing$/], ['not-a-key-at-all', /^Invalid or inactive X-API-Key$/], ['', /^X-API-Key header is missing$/]] as [string | null, RegExp][]) {
      await expectError(await gw.request(events(), 'POST', { key, body: realtimeBatch([fileRow('/d/ghost')]) }), 401, message, `events key=${key}`);
      await expectError(await gw.get(`${V}/tree`, key), 401, message, `tree key=${key}`);
      await expectError(await gw.request('/api/v1/pipe/pipes', 'GET', { key }), 401, message, 'pipes');
    }
    await expectError(await gw.request('/api/v1/pipe/session/', 'POST', { key: gw.keys.query, body: { task_id: 'q:demo' } }), 403, /query key; ingest needs a receiver key/, 'query key ingest');
    await expectError(await gw.get(`${V}/tree`, gw.keys.agent), 403, /not authorized for view 'demo'/, 'agent key query');
    await expectError(await gw.get(`${V}/tree`, OTHER_VIEW_KEY), 403, /not authorized for view 'demo'/, 'other view key');
    await expectError(await gw.get('/api/v1/views/nope/tree'), 404, /view 'nope' unknown: known views: demo$/, 'unknown view');
    await expectError(await gw.request(`${V}/reset`, 'DELETE', { key: gw.keys.query }), 403, /admin_keys/, 'reset by a query key');
    await expectError(await gw.request(`${V}/suspect-list`, 'PUT', { key: gw.keys.agent, body: { updates: [] } }), 403, /not authorized/, 'PUT by an agent key');
    assert.equal((await leader.heartbeat()).status, 200);
  });
});

test('session create, heartbeat and consistency routes: malformed bodies → 422 naming the field; wrong keys → 403', async () => {
  await unchanged(async () => {
    const session: [unknown, RegExp][] = [
      [{}, /^body\.task_id: required field is missing/], [{ task_id: null }, /^body\.task_id: must be string/], [{ task_id: 5 }, /^body\.task_id: must be string/],
      [{ task_id: '' }, /^body\.task_id: must not have fewer than 1 characters/], [{ task_id: 'x'.repeat(5000) }, /^body\.task_id: must not have more than 512 characters/],
      [{ task_id: 'h:demo', session_timeout_seconds: 'abc' }, /^body\.session_timeout_seconds: must be number/],
      [{ task_id: 'h:demo', session_timeout_seconds: -1 }, /^body\.session_timeout_seconds: must be >= 0/],
      [{ task_id: 'h:demo', session_timeout_seconds: 1e9 }, /^body\.session_timeout_seconds: must be <= 86400/],
      [{ task_id: 'h:demo', client_info: null }, /^body\.client_info: must be object/], [{ task_id: 'h:demo', client_info: [] }, /^body\.client_info: must be object/],
      [{ task_id: 'h:demo', client_info: { source_uri: 7 } }, /^body\.client_info\.source_uri: must be string/],
    ];
    for (const [body, message] of session) await expectError(await sendJson('/api/v1/pipe/session/', body), 422, message, JSON.stringify(body).slice(0, 80));
    await expectError(await send('/api/v1/pipe/session/', '{"task_id":'), 422, /^body: invalid JSON/, 'broken');

    for (const [body, message] of [[{ can_realtime: 'yes' }, /^body\.can_realtime: must be boolean/], [{ can_realtime: null }, /^body\.can_realtime: must be boolean/],
      [{ agent_status: [] }, /^body\.agent_status: must be object/], [[], /^body: must be object/]] as [unknown, RegExp][]) {
      await expectError(await sendJson(heartbeat(), body), 422, message, JSON.stringify(body));
    }
    await expectError(await send(heartbeat(), '{"can_realtime":tru'), 422, /^body: invalid JSON/, 'broken heartbeat');

    for (const path of ['/api/v1/pipe/consistency/audit/start', '/api/v1/pipe/consistency/audit/end']) {
      await expectError(await send(path, '{"'), 422, /^body: invalid JSON/, path);
      await expectError(await gw.request(path, 'POST', { key: gw.keys.query }), 403, /query key/, path);
    }
    const feedback: [unknown, RegExp][] = [
      [null, /^body: must be object/], [{ updates: [] }, /^body\.type: required field is missing/], [{ type: 'suspect_update' }, /^body\.updates: required field is missing/],
      [{ type: 'suspect_update', updates: {} }, /^body\.updates: must be array/], [{ type: 'suspect_update', updates: [null] }, /^body\.updates\[0\]: must be object/],
      [{ type: 'suspect_update', updates: [{ path: '/d/f', status: 'gone' }] }, /^body\.updates\[0\]\.status: must be one of "exists", "missing"/],
      [{ type: 'suspect_update', updates: [{ path: '/d/f', mtime: 'x' }] }, /^body\.updates\[0\]\.mtime: must be number/],
      [{ type: 'suspect_update', updates: [{ path: '/d/f', size: -5 }] }, /^body\.updates\[0\]\.size: must be >= 0/],
      [{ type: 'suspect_update', updates: [{ mtime: 1 }] }, /^body\.updates\[0\]\.path: required field is missing/],
    ];
    for (const [body, message] of feedback) await expectError(await sendJson('/api/v1/pipe/consistency/sentinel/feedback', body), 422, message, JSON.stringify(body));
    await expectError(await gw.request('/api/v1/pipe/consistency/sentinel/tasks', 'GET', { key: gw.keys.query }), 403, /query key/, 'tasks');
    await expectError(await gw.request('/api/v1/pipe/consistency/sentinel/feedback', 'POST', { key: gw.keys.query, body: { type: 'suspect_update', updates: [] } }), 403, /query key/, 'feedback');

    const put: [unknown, RegExp][] = [[{}, /^body\.updates: required field is missing/], [{ updates: {} }, /^body\.updates: must be array/],
      [{ updates: [{ path: '/d/f', mtime: 'x' }] }, /^body\.updates\[0\]\.mtime: must be number/], [{ updates: [{ mtime: 1 }] }, /^body\.updates\[0\]\.path: required field is missing/]];
    for (const [body, message] of put) await expectError(await gw.request(`${V}/suspect-list`, 'PUT', { key: gw.keys.query, body }), 422, message, JSON.stringify(body));
    await expectError(await send(`${V}/suspect-list`, '{"updates":[', { method: 'PUT', key: gw.keys.query }), 422, /^body: invalid JSON/, 'broken PUT');
  });
});

test('pipes and URL paths: unknown ids → 404, over-long or badly encoded URL segments → 400 in the error shape', async () => {
  await unchanged(async () => {
    await expectError(await gw.request('/api/v1/pipe/pipes/nope', 'GET', { key: gw.keys.agent }), 404, /^Pipe not found$/, 'unknown pipe');
    await expectError(await gw.request('/api/v1/pipe/pipes/demo', 'GET', { key: OTHER_VIEW_KEY }), 404, /^Pipe not found$/, 'pipe of another view');
    await expectError(await gw.request(`/api/v1/pipe/pipes/${'p'.repeat(600)}`, 'GET', { key: gw.keys.agent }), 400, /URL path segment is longer than 512 characters/, 'long pipe id');
    await expectError(await gw.request(`/api/v1/pipe/session/${'s'.repeat(5000)}/heartbeat`, 'POST', { key: gw.keys.agent, body: {} }), 400, /longer than 512 characters/, 'long session id');
    await expectError(await gw.get(`/api/v1/views/${'v'.repeat(600)}/tree`), 400, /longer than 512 characters/, 'long view');
    await expectError(await gw.get(`/api/v1/views/${'v'.repeat(200)}/tree`), 400, /^path\.view: must not have more than 128 characters/, 'view over its schema');
    await expectError(await gw.get('/api/v1/views/%zz/tree'), 400, /not valid percent-encoding/, 'bad escape');
    await expectError(await gw.get(`${V}/jobs/${'j'.repeat(65)}`), 400, /^path\.job_id: must not have more than 64 characters/, 'long job id');
    await expectError(await gw.get(`${V}/jobs/nope`), 404, /Job 'nope' not found/, 'unknown job');
    await expectError(await gw.get('/api/v1/nothing-here'), 404, /^no route GET \/api\/v1\/nothing-here$/, 'unknown route');
    const pipes = await getJson<Record<string, { id: string }>>('/api/v1/pipe/pipes', gw.keys.agent);
    assert.deepEqual(Object.keys(pipes), ['demo']);
  });
});

test('query parameters of wrong types → 400 naming the parameter', async () => {
  await unchanged(async () => {
    const cases: [string, RegExp][] = [
      ['tree?max_depth=abc', /^query\.max_depth: must be integer/], ['tree?max_depth=-2', /^query\.max_depth: must be >= -1/],
      ['tree?max_depth=1.5', /^query\.max_depth: must be integer/], ['tree?max_depth=', /^query\.max_depth: must be integer/],
      ['tree?limit=-1', /^query\.limit: must be >= 1/], ['tree?limit=0', /^query\.limit: must be >= 1/], ['tree?limit=1e9', /^query\.limit: must be <= 1000000/],
      ['tree?limit=1.5', /^query\.limit: must be integer/], ['tree?limit=0x10', /^query\.limit: must be integer/], ['tree?limit=', /^query\.limit: must be integer/],
      ['tree?limit=%201', /^query\.limit: must be integer/], ['tree?recursive=maybe', /^query\.recursive: must be boolean/], ['tree?only_path=2', /^query\.only_path: must be boolean/],
      ['tree?on_demand_scan=yes', /^query\.on_demand_scan: must be boolean/], ['tree?force_real_time=', /^query\.force_real_time: must be boolean/],
      ['tree?path=/d&path=/names', /^query\.path: must be string/], ['tree?cursor=a&cursor=b', /^query\.cursor: must be string/],
      ['search', /^query\.pattern: required field is missing/], ['search?pattern=', /^query\.pattern: must not have fewer than 1 characters/],
      [`search?pattern=${'x'.repeat(5000)}`, /^query\.pattern: must not have more than 4096 characters/], ['search?pattern=*&type=socket', /^query\.type: must be one of "file", "directory", "any"/],
      ['search?pattern=*&min_size=abc', /^query\.min_size: must be number/], ['search?pattern=*&max_size=-1', /^query\.max_size: must be >= 0/],
      ['search?pattern=*&min_size=', /^query\.min_size: must be number/], ['search?pattern=*&modified_after=yesterday', /^query\.modified_after: must be number/],
      ['search?pattern=*&modified_before=1e400', /^query\.modified_before: must be number/], ['search?pattern=*&suspect=maybe', /^query\.suspect: must be boolean/],
      ['search?pattern=*&limit=0', /^query\.limit: must be >= 1/], ['search?pattern=*&limit=1e9', /^query\.limit: must be <= 100000/], ['search?pattern=*&format=xml', /^query\.format: must be one of/],
      ['stats?quiet_seconds=abc', /^query\.quiet_seconds: must be number/], ['stats?quiet_seconds=-1', /^query\.quiet_seconds: must be >= 0/],
      ['metadata', /^query\.path: required field is missing/], ['changes?limit=0', /^query\.limit: must be >= 1/], ['changes?limit=abc', /^query\.limit: must be integer/],
      ['blind-spots?limit=-1', /^query\.limit: must be >= 1/], ['blind-spots?limit=2.5', /^query\.limit: must be integer/],
    ];
    for (const [url, message] of cases) await expectError(await gw.get(`${V}/${url}`), 400, message, url.slice(0, 80));
    // Plain decimal numbers, in any usual spelling, are still fine.
    assert.equal((await gw.get(`${V}/tree?max_depth=1&limit=2.0`)).status, 200);
    assert.equal((await gw.get(`${V}/search?pattern=*&min_size=1e1&max_size=%2B20.0`)).status, 200);
  });
});

test('cursors that are garbage, forged or huge → 400; a well-formed change cursor of another instance → fresh_instance', async () => {
  await unchanged(async () => {
    const cases: [string, RegExp][] = [
      ['tree?path=/names&cursor=!!!', /cursor is not a value returned by a previous page/], ['tree?path=/names&limit=1&cursor=%00', /cursor is not a value returned/],
      [`tree?path=/names&cursor=${'A'.repeat(5000)}`, /^query\.cursor: must not have more than 4200 characters/],
      ['search?pattern=*&cursor=garbage!', /cursor is not a value returned by a previous search page/], ['search?pattern=*&cursor=n.1', /cursor is not a value returned/],
      ['search?pattern=*&cursor=n.99999999999.1', /cursor is not a value returned/], ['search?pattern=*&cursor=p.Ly4u', /cursor is not a value returned/],
      [`search?pattern=/names/*&cursor=p.${Buffer.from('/d/f').toString('base64url')}`, /cursor does not belong to this search/],
      [`search?pattern=*&cursor=${'n'.repeat(4201)}`, /^query\.cursor: must not have more than 4200 characters/],
      ['changes?since=garbage', /^since must be 'now' or a cursor returned by \/changes/], ['changes?since=x.-1', /^since must be 'now' or a cursor/],
      ['changes?since=.5', /^since must be 'now' or a cursor/], [`changes?since=${'x'.repeat(65)}`, /^query\.since: must not have more than 64 characters/],
      ['blind-spots?cursor=abc', /cursor is not a value returned by a previous page/], [`blind-spots?cursor=${'9'.repeat(13)}`, /cursor is not a value returned/],
      [`blind-spots?cursor=${'9'.repeat(65)}`, /^query\.cursor: must not have more than 64 characters/],
    ];
    for (const [url, message] of cases) await expectError(await gw.get(`${V}/${url}`), 400, message, url.slice(0, 80));
    const foreign = await getJson<{ changes: unknown[]; fresh_instance?: boolean; cursor: string }>(`${V}/changes?since=forged.1`);
    assert.deepEqual([foreign.changes, foreign.fresh_instance], [[], true]);
    const future = await getJson<{ fresh_instance?: boolean }>(`${V}/changes?since=${foreign.cursor.split('.')[0]}.999999999`);
    assert.equal(future.fresh_instance, true, 'a cursor from the future is not trusted either');
  });
});

test('hostile glob patterns cannot stall the gateway; over-complex picomatch patterns are refused', async () => {
  await unchanged(async () => {
    const signal = AbortSignal.timeout(20000);
    const evil = encodeURIComponent(`${'*a'.repeat(40)}*c`);
    const [res, health] = await Promise.all([
      fetch(`${gw.url}${V}/search?pattern=${evil}&type=any`, { headers: { 'x-api-key': gw.keys.query }, signal }),
      fetch(`${gw.url}/healthz`, { signal }),
    ]);
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as { items: unknown[] }).items, [], `the 255-character name does not match`);
    assert.equal(health.status, 200);
    const evilPath = encodeURIComponent(`/${'**/a*a*a*/'.repeat(20)}c`);
    assert.equal((await fetch(`${gw.url}${V}/search?pattern=${evilPath}`, { headers: { 'x-api-key': gw.keys.query }, signal })).status, 200);
    const legit = await getJson<{ items: { path: string }[] }>(`${V}/search?pattern=${encodeURIComponent(`*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*`)}`);
    assert.deepEqual(legit.items.map((n) => n.path), [`/long/${LONG_NAME}`]);
    await expectError(await gw.get(`${V}/search?pattern=${encodeURIComponent('{a,b}*a*a*a*c')}`), 400, /^pattern too complex/, 'braces + stars');
    await expectError(await gw.get(`${V}/search?pattern=${encodeURIComponent('+(a|aa)+(a|aa)+(a|aa)+(a|aa)c')}`), 400, /^pattern too complex/, 'extglobs');
  });
});

test('property: random JSON at the events endpoint and random tree/search parameters never cause a 5xx or a state change', async () => {
  const anyJson = fc.jsonValue({ maxDepth: 3 });
  // Every row is malformed ('/' is not here: a delete of '/' is a valid, ignored row).
  const badPath = fc.oneof(fc.constantFrom(...BAD_PATHS.map(([p]) => p), '/d/f/', '.', '..', '/a/\u0000'), fc.string().filter((s) => !s.startsWith('/')));
  const row = fc.oneof(anyJson, fc.record({ path: badPath, file_name: anyJson, size: anyJson, modified_time: anyJson, is_directory: anyJson, is_atomic_write: anyJson }, { requiredKeys: [] }));
  const source = fc.constantFrom('realtime', 'snapshot', 'audit', 'on_demand_job');
  const anyEvent = fc.record({
    event_type: fc.oneof(fc.constantFrom('insert', 'update', 'delete'), anyJson), event_schema: fc.oneof(fc.constant('fs'), anyJson), table: fc.oneof(fc.constant('files'), anyJson),
    fields: fc.oneof(fc.constant([]), anyJson), rows: fc.oneof(fc.array(row, { maxLength: 5 }), anyJson), message_source: fc.oneof(source, anyJson), index: anyJson, event_id: anyJson,
  }, { requiredKeys: [] });
  // Nearly valid batches (only the rows are hostile) get past the envelope check and reach the engine.
  const nearlyValid = fc.record({
    events: fc.array(fc.record({ event_type: fc.constantFrom('insert', 'update', 'delete'), event_schema: fc.constant('fs'), table: fc.constant('files'), fields: fc.constant([]), rows: fc.array(row, { minLength: 1, maxLength: 5 }), message_source: source }), { minLength: 1, maxLength: 3 }),
    source_type: fc.constantFrom('message', 'snapshot', 'on_demand_job'),
  });
  const body = fc.oneof(anyJson, nearlyValid, fc.record({ events: fc.oneof(fc.array(anyEvent, { maxLength: 3 }), anyJson), source_type: fc.oneof(fc.constantFrom('message', 'snapshot', 'on_demand_job'), anyJson), is_end: anyJson, metadata: anyJson }, { requiredKeys: [] }));

  const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('', '/', '/d', '/names', '-1', '0', '1', '1e9', 'NaN', 'true', 'null', '%', '%ff', '**', '[', '{a,b}', '/..', '\u0000'),
    fc.integer().map(String), fc.double().map(String));
  const treeParams = fc.record({ path: text, max_depth: text, recursive: text, only_path: text, limit: text, cursor: text }, { requiredKeys: [] });
  const searchParams = fc.record({ pattern: text, path: text, type: text, min_size: text, max_size: text, modified_after: text, modified_before: text, suspect: text, limit: text, cursor: text, format: text }, { requiredKeys: [] });

  await unchanged(async () => {
    await fc.assert(fc.asyncProperty(body, async (b) => {
      const res = await send(events(), JSON.stringify(b));
      const reply = await res.json() as Json;
      assert.ok(res.status === 200 || res.status === 422, `${res.status} ${JSON.stringify(reply).slice(0, 200)} for ${JSON.stringify(b).slice(0, 200)}`);
      if (res.status === 422) assert.match(reply.message as string, /^body/);
    }), { numRuns: 200 });
    await fc.assert(fc.asyncProperty(fc.oneof(treeParams.map((p) => ['tree', p] as const), searchParams.map((p) => ['search', p] as const)), async ([endpoint, params]) => {
      const res = await gw.get(`${V}/${endpoint}?${new URLSearchParams(params as Record<string, string>).toString()}`);
      const reply = await res.json() as Json;
      assert.ok([200, 400, 404].includes(res.status), `${res.status} ${JSON.stringify(reply).slice(0, 200)} for ${endpoint} ${JSON.stringify(params)}`);
      if (res.status !== 200) assert.deepEqual([typeof reply.code, typeof reply.message, reply.detail === reply.message], ['string', 'string', true]);
    }), { numRuns: 200 });
  });
});

test('nothing above ended in an unexpected error: no 5xx was logged', async () => {
  await alive();
  const errors = gw.logs().filter((r) => typeof r.level === 'number' && r.level >= 50);
  assert.deepEqual(errors, []);
  const p = await pipe();
  assert.equal(p.statistics.errors, 0, 'the engine never threw');
});
