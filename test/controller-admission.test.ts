/**
 * Admission of channel connections under a herd (spec 50: "the controller rate-limits admissions so a
 * restart of the controller does not become a thundering herd"): beyond FUSTOR_CONTROLLER_ADMISSION_PENDING
 * upgrades in progress the controller answers a cheap 503 BUSY with Retry-After instead of queueing the
 * credential checks; refused members retry; failed handshakes do not leak admission slots.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import WebSocket from 'ws';
import { exportJWK, generateKeyPair } from 'jose';
import { startController, type RunningController } from './helpers/controller.ts';

let c: RunningController;
let credential = '';

before(async () => {
  c = await startController({ env: { FUSTOR_CONTROLLER_ADMISSION_PENDING: '2', FUSTOR_CONTROLLER_ADMISSION_RATE: '1000', FUSTOR_CONTROLLER_ADMISSION_BURST: '1000' } });
  const tok = await c.json('/api/v1/tokens/enrollment', 'POST', { body: { kind: 'agent' } });
  const { publicKey } = await generateKeyPair('ES256', { extractable: true });
  const res = await c.json('/api/v1/enroll', 'POST', { token: null, body: { token: tok.body.token, kind: 'agent', name: 'herd', public_key: await exportJWK(publicKey) } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  credential = res.body.credential as string;
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

test('a herd beyond the pending-admission cap gets 503 BUSY with Retry-After; a retry then connects', async () => {
  const outcomes = await Promise.all(Array.from({ length: 40 }, () => connect()));
  const refused = outcomes.filter((o): o is Extract<Outcome, { opened: false }> => !o.opened);
  assert.ok(outcomes.some((o) => o.opened), 'some connections are admitted');
  assert.ok(refused.length > 0, 'with 40 simultaneous upgrades and a cap of 2, some are refused');
  for (const r of refused) {
    assert.equal(r.status, 503, r.body);
    assert.equal(r.retryAfter, '1');
    assert.equal((JSON.parse(r.body) as { code: string }).code, 'BUSY');
  }
  // Every slot was released: one at a time, each connects.
  for (let i = 0; i < 3; i++) assert.deepEqual(await connect(), { opened: true });
  const metrics = await c.request('/metrics', 'GET');
  assert.match(await metrics.text(), /fustor_controller_admissions_refused_total [1-9]/);
});

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
