/**
 * Admission of channel connections under a herd (spec 50: "the controller rate-limits admissions so a
 * restart of the controller does not become a thundering herd"): beyond FUSTOR_CONTROLLER_ADMISSION_PENDING
 * admissions in progress (admitted, first frame not yet received) the controller answers a cheap 503 BUSY with
 * Retry-After instead of queueing the work; a first frame or a close frees the slot; failed handshakes do not leak slots.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import WebSocket from 'ws';
import { startController, type RunningController, enrollMember } from './helpers/controller.ts';

let c: RunningController;
let credential = '';
const silentCredentials: string[] = [];

async function enroll(name: string): Promise<string> {
  return (await enrollMember(c, { name })).credential;
}

before(async () => {
  // A silent member's slot is freed after 10 min here (default 10 s), so only a first frame can free one within the
  // test's 10 s retry windows: the test cannot pass through the timeout.
  c = await startController({ env: { FUSTOR_CONTROLLER_ADMISSION_PENDING: '2', FUSTOR_CONTROLLER_ADMISSION_RATE: '1000', FUSTOR_CONTROLLER_ADMISSION_BURST: '1000', FUSTOR_CONTROLLER_ADMISSION_FIRST_FRAME_SEC: '600' } });
  credential = await enroll('herd');
  // Distinct members: a second channel of the SAME member would replace (close) the first and free its slot.
  silentCredentials.push(await enroll('silent-a'), await enroll('silent-b'));
});
after(async () => { await c.stop(); });

type Outcome = { opened: true } | { opened: false; status: number; retryAfter: string | undefined; body: string };

function connect(): Promise<Outcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${c.url.replace('http', 'ws')}/api/v1/channel`, { headers: { authorization: `Bearer ${credential}` } });
    ws.once('open', () => {
      ws.terminate();
      resolve({ opened: true });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ opened: false, status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body }));
    });
    ws.once('error', () => undefined);
  });
}

/** A member that connects and stays silent: it holds an admission slot until its first frame (or it closes). */
async function silent(cred: string): Promise<WebSocket> {
  const ws = new WebSocket(`${c.url.replace('http', 'ws')}/api/v1/channel`, { headers: { authorization: `Bearer ${cred}` } });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`silent member refused: HTTP ${res.statusCode ?? 0}`)));
  });
  return ws;
}

test('beyond the pending-admission cap a new channel gets 503 BUSY with Retry-After; a freed slot admits again', async () => {
  const a = await silent(silentCredentials[0]);
  const b = await silent(silentCredentials[1]);
  const refused = await connect();
  assert.equal(refused.opened, false, 'two members hold the two slots: the third is refused');
  if (!refused.opened) {
    assert.equal(refused.status, 503, refused.body);
    assert.equal(refused.retryAfter, '1');
    assert.equal((JSON.parse(refused.body) as { code: string }).code, 'BUSY');
  }
  // A member's first frame frees its slot (a report; here any frame does — junk is answered and closed).
  a.send(JSON.stringify({ type: 'report', seq: 0, full: true, version: 't', running_revision: null, running_hash: null, status: 'APPLIED' }));
  await eventuallyOpens();
  b.terminate();
  a.terminate();
  // Every slot was released: one at a time, each connects.
  for (let i = 0; i < 3; i++) assert.deepEqual(await connect(), { opened: true });
  const metrics = await c.request('/metrics', 'GET');
  assert.match(await metrics.text(), /fustor_controller_admissions_refused_total [1-9]/);
});

/** The slot frees when the server has read the frame: retry briefly until a connect is admitted. */
async function eventuallyOpens(): Promise<void> {
  const end = Date.now() + 10_000;
  for (;;) {
    if ((await connect()).opened) return;
    if (Date.now() > end) throw new Error('no slot was freed by the first frame');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('failed handshakes (valid credential, bad WebSocket version) do not leak admission slots', async () => {
  const u = new URL(c.url);
  for (let i = 0; i < 5; i++) {
    const status = await new Promise<number>((resolve) => {
      const req = httpRequest({
        host: u.hostname, port: u.port, path: '/api/v1/channel',
        headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '99', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', authorization: `Bearer ${credential}` },
      });
      req.on('response', (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('upgrade', (_res, socket) => { socket.destroy(); resolve(101); });
      req.on('error', () => resolve(-1));
      req.end();
    });
    assert.ok(status >= 400 || status === -1, `bad handshake answered ${status}`);
  }
  for (let i = 0; i < 3; i++) assert.deepEqual(await connect(), { opened: true });
});
