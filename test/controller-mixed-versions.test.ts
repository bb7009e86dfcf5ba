/**
 * Mixed versions on the control channel (what a rolling upgrade goes through): a newer member's extra report
 * fields and frame types do not cost it its channel on an older controller, and an older member answers a
 * command it does not know instead of leaving it to expire. Real controller and agent processes; the newer
 * controller's command is a row written into the real controller database (what a newer replica would store).
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { startManagedAgent } from './helpers/agent.ts';
import { enrollMember, startController, type RunningController } from './helpers/controller.ts';
import { eventually } from './helpers/gateway.ts';

type Json = Record<string, unknown>;

process.env.FUSTOR_CONTROLLER_HEARTBEAT_SEC = '1';
let c: RunningController;
before(async () => { c = await startController(); });
after(async () => { await c.stop(); });

const report = (seq: number, extra: Json = {}) => ({ type: 'report', seq, full: seq === 0, version: '0.1.0', running_revision: null, running_hash: null, status: 'APPLIED', ...extra });
interface AgentBody { connected?: boolean; version?: string | null; member_id?: string; pipes?: Json[] }
const agent = async (name: string) => (await c.json(`/api/v1/agents/${name}`, 'GET')).body as AgentBody;

test('WebSocket: a report with fields this controller does not know is taken; an unknown frame type gets one UNSUPPORTED_FRAME answer and the channel stays open', async () => {
  const m = await enrollMember(c, { name: 'newer-ws' });
  const ws = new WebSocket(`${c.url.replace('http', 'ws')}/api/v1/channel`, { headers: { authorization: `Bearer ${m.credential}` } });
  const frames: Json[] = [];
  let closed: number | null = null;
  ws.on('message', (d) => frames.push(JSON.parse(String(d)) as Json));
  ws.on('close', (code) => { closed = code; });
  await new Promise((r) => ws.once('open', r));
  try {
    ws.send(JSON.stringify(report(0, { upgrade: { from: '0.1.0', to: '0.2.0' }, components: [{ id: 'p1', state: 'running', role: 'leader', rollout_batch: 3 }] })));
    const a = await eventually(async () => { const b = await agent('newer-ws'); return b.pipes?.[0]?.state === 'running' ? b : null; }, 20000, 'the report with extra fields was recorded');
    assert.equal(a.connected, true);
    const pipe = a.pipes?.[0] ?? {};
    assert.equal(pipe.role, 'leader');
    assert.equal('rollout_batch' in pipe, false, 'unknown fields are not served');

    ws.send(JSON.stringify({ type: 'upgrade_progress', percent: 50 }));
    ws.send(JSON.stringify({ type: 'upgrade_progress', percent: 60 }));
    const err = await eventually(async () => frames.find((f) => f.type === 'error') ?? null, 20000, 'an error frame');
    assert.equal(err.code, 'UNSUPPORTED_FRAME');
    assert.match(String(err.message), /does not know "upgrade_progress" frames; ignored/);
    ws.send(JSON.stringify(report(1, { version: '0.2.0' })));
    await eventually(async () => (await agent('newer-ws')).version === '0.2.0', 20000, 'a later report still goes through');
    assert.equal(closed, null, 'the channel stayed open');
    assert.equal(frames.filter((f) => f.type === 'error').length, 1, 'said once per frame type');

    // A controller-only frame type from a member is still a protocol error.
    ws.send(JSON.stringify({ type: 'manifest' }));
    assert.equal(await eventually(async () => closed, 20000, 'closed'), 4400);
  } finally {
    ws.terminate();
  }
});

test('long-poll: an unknown frame type next to a report → 200, the report is taken and the answer says UNSUPPORTED_FRAME', async () => {
  const m = await enrollMember(c, { name: 'newer-poll' });
  const res = await c.json('/api/v1/channel/poll', 'POST', {
    token: m.credential,
    body: { frames: [report(0, { version: '0.2.0', host: { kernel: '6.1' } }), { type: 'upgrade_progress', percent: 10 }], wait_sec: 0 },
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const err = (res.body.frames as Json[]).find((f) => f.type === 'error');
  assert.equal(err?.code, 'UNSUPPORTED_FRAME', JSON.stringify(res.body));
  assert.equal((await agent('newer-poll')).version, '0.2.0');
  // Malformed frames of a known type are still refused.
  const bad = await c.json('/api/v1/channel/poll', 'POST', { token: m.credential, body: { frames: [{ type: 'report', seq: -1 }], wait_sec: 0 } });
  assert.equal(bad.status, 200);
  assert.equal(((bad.body.frames as Json[])[0] as Json).code, 'BAD_REQUEST', JSON.stringify(bad.body));
});

test('a command this agent does not know (stored by a newer replica) is answered failed with the reason, not left to expire', async () => {
  const token = (await c.ctl(['token', 'create', '--kind', 'agent'])).stdout.trim();
  const a = await startManagedAgent({ controller: c.url, token, name: 'older-agent', stateDir: mkdtempSync(join(tmpdir(), 'fustor-older-')), env: { FUSTOR_MEMBER_RECONNECT_MAX_MS: '1000' } });
  try {
    const memberId = await eventually(async () => { const b = await agent('older-agent'); return b.connected === true ? b.member_id ?? null : null; }, 20000, 'the agent is connected');
    const now = Date.now();
    const db = new Database(join(c.dataDir, 'controller.db'));
    try {
      db.pragma('busy_timeout = 5000');
      db.prepare(`INSERT INTO member_commands (id, member_id, kind, member, command, pipe, state, actor, created_at, expires_at)
        VALUES ('c-from-newer', ?, 'agent', 'older-agent', 'upgrade', NULL, 'pending', 'admin', ?, ?)`).run(memberId, new Date(now).toISOString(), new Date(now + 300_000).toISOString());
    } finally {
      db.close();
    }
    const done = await eventually(async () => {
      const r = (await c.json('/api/v1/commands/c-from-newer', 'GET')).body;
      return r.state === 'failed' || r.state === 'succeeded' ? r : null;
    }, 30000, 'the agent answered');
    assert.equal(done.state, 'failed');
    assert.equal(done.command, 'upgrade');
    assert.match(String(done.message), /^this agent \(fustor [^)]+\) does not know the command "upgrade": upgrade it to use that command$/);
  } finally {
    await a.stop();
  }
});
