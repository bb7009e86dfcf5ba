/**
 * The control channel against a REAL controller process: manifests per member (pipes selected by labels,
 * only the member's own secrets), FAILED not re-pushed until the desired state changes, long-poll fallback,
 * revocation closing the channel, hostile frames.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { exportJWK, generateKeyPair } from 'jose';
import { ControlChannelClient } from '../src/kernel/control-channel-client.ts';
import type { ApplyStatus, ControllerFrame, ManifestFrame } from '../src/protocol/index.ts';
import { gatewayDoc, pipeDoc, secretDoc, startController, viewDoc, type RunningController, enrollMember } from './helpers/controller.ts';

type Json = Record<string, unknown>;
let c: RunningController;

before(async () => { c = await startController(); });
after(async () => { await c.stop(); });

async function enroll(name: string, labels: Record<string, string>, kind: 'agent' | 'gateway' = 'agent'): Promise<{ id: string; credential: string }> {
  return enrollMember(c, { name, labels, kind });
}

async function until(pred: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

function client(credential: string, answer: (m: ManifestFrame) => { status: ApplyStatus; error?: string }) {
  const manifests: ManifestFrame[] = [];
  const cl = new ControlChannelClient({
    url: c.url, credential: () => credential, report: () => ({ version: '0.1.0' }), backoff: { baseMs: 50, maxMs: 200 },
    onManifest: async (m) => {
      manifests.push(m);
      return answer(m);
    },
  });
  cl.start();
  return { cl, manifests };
}

const apply = async (docs: unknown[]) => {
  const r = await c.json('/api/v1/apply', 'POST', { body: docs });
  assert.equal(r.status, 200, JSON.stringify(r.body));
};

test('manifests: the selected agent gets its pipe and its secret; another agent gets neither; FAILED not re-pushed', async () => {
  const a = await enroll('agent-a', { site: 'a' });
  const b = await enroll('agent-b', { site: 'b' });
  let fail = false;
  const ca = client(a.credential, () => (fail ? { status: 'FAILED', error: 'boom' } : { status: 'APPLIED' }));
  const cb = client(b.credential, () => ({ status: 'APPLIED' }));
  await until(() => ca.cl.connected && cb.cl.connected);
  await apply([
    gatewayDoc('gw1', 'http://gw1.example:8101'), viewDoc('v1', 'gw1'),
    secretDoc('cred-a', { password: 's3cret-a' }), secretDoc('cred-b', { password: 's3cret-b' }),
    pipeDoc('pa', 'v1', { source: { driver: 'fs', uri: '/data/a', credentialRef: 'cred-a' } }),
    pipeDoc('pb', 'v1', { agentSelector: { matchLabels: { site: 'b' } }, source: { driver: 'fs', uri: '/data/b', credentialRef: 'cred-b' } }),
  ]);
  await until(() => ca.manifests.some((m) => (m.content as Json & { pipes: Json[] }).pipes.length === 1));
  const ma = ca.manifests.at(-1)!;
  const pipes = (ma.content as { pipes: Json[] }).pipes;
  assert.equal(pipes[0].id, 'pa');
  assert.equal(pipes[0].gateway_url, 'http://gw1.example:8101');
  assert.deepEqual(pipes[0].credential, { password: 's3cret-a' });
  assert.match(ma.hash, /^sha256:[0-9a-f]{64}$/);
  assert.ok(!JSON.stringify(ca.manifests).includes('s3cret-b'));
  await until(() => cb.manifests.some((m) => (m.content as { pipes: Json[] }).pipes.length === 1));
  assert.ok(!JSON.stringify(cb.manifests).includes('s3cret-a'));
  assert.deepEqual((cb.manifests.at(-1)!.content as { pipes: Json[] }).pipes.map((p) => p.id), ['pb']);

  // A change the agent rejects: pushed once, not again on heartbeats/re-evaluation, until a new apply.
  fail = true;
  await apply([pipeDoc('pa', 'v1', { source: { driver: 'fs', uri: '/data/a2', credentialRef: 'cred-a' } })]);
  await until(() => ca.manifests.some((m) => JSON.stringify(m.content).includes('/data/a2')));
  const count = ca.manifests.length;
  ca.cl.sendReport();
  ca.cl.sendReport(true);
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(ca.manifests.length, count, 'a FAILED manifest was pushed again');
  fail = false;
  await apply([pipeDoc('pa', 'v1', { source: { driver: 'fs', uri: '/data/a3', credentialRef: 'cred-a' } })]);
  await until(() => ca.manifests.some((m) => JSON.stringify(m.content).includes('/data/a3')));
  await ca.cl.stop();
  await cb.cl.stop();
});

test('long-poll fallback delivers the same manifest; revoke closes the channel with "revoked"', async () => {
  const a = await enroll('agent-poll', { site: 'b' });
  const poll = await c.json('/api/v1/channel/poll', 'POST', {
    token: a.credential,
    body: { frames: [{ type: 'report', seq: 0, full: true, version: '0.1.0', running_revision: null, running_hash: null, status: 'APPLIED' }], wait_sec: 2 },
  });
  assert.equal(poll.status, 200, JSON.stringify(poll.body));
  const frames = poll.body.frames as Json[];
  const m = frames.find((f) => f.type === 'manifest') as Json & { content: { pipes: Json[] } };
  assert.ok(m !== undefined, JSON.stringify(frames));
  assert.deepEqual(m.content.pipes.map((p) => p.id), ['pb']);
  assert.equal((await c.json('/api/v1/channel/poll', 'POST', { token: null, body: { frames: [] } })).status, 401);

  const ws = client(a.credential, () => ({ status: 'APPLIED' }));
  await until(() => ws.cl.connected);
  const rev = await c.json('/api/v1/members/agent/agent-poll/revoke', 'POST');
  assert.equal(rev.status, 200);
  await until(() => ws.cl.received.some((f: ControllerFrame) => f.type === 'revoked') && !ws.cl.connected);
  const again = await c.json('/api/v1/channel/poll', 'POST', { token: a.credential, body: { frames: [] } });
  assert.equal(again.status, 403);
  await ws.cl.stop();
});

test('hostile: bad credential refused at upgrade; junk frames → error frame + close; controller alive', async () => {
  const bad = new WebSocket(`${c.url.replace('http', 'ws')}/api/v1/channel`, { headers: { authorization: 'Bearer nope' } });
  const status = await new Promise<number>((resolve) => {
    bad.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
    bad.on('error', () => resolve(-1));
  });
  assert.equal(status, 401);
  const a = await enroll('agent-hostile', {});
  for (const junk of ['not json', '[]', '{"type":"manifest"}', '{"type":"report","seq":-1}', JSON.stringify({ type: 'report', seq: 0, version: 'x'.repeat(1000), running_revision: null, running_hash: null, status: 'APPLIED' })]) {
    const ws = new WebSocket(`${c.url.replace('http', 'ws')}/api/v1/channel`, { headers: { authorization: `Bearer ${a.credential}` } });
    const frames: Json[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(String(d)) as Json));
    await new Promise((r) => ws.once('open', r));
    ws.send(junk);
    const code = await new Promise<number>((r) => ws.once('close', (cc) => r(cc)));
    assert.equal(code, 4400, junk);
    const err = frames.find((f) => f.type === 'error');
    assert.ok(err !== undefined && typeof err.message === 'string', JSON.stringify(frames));
  }
  assert.equal((await c.json('/healthz', 'GET', { token: null })).status, 200);
});

test('gateway manifest: views, trust (issuer + JWKS of the listening URL, or of --public-url), query keys as hashes only', async () => {
  await apply([gatewayDoc('gwm'), viewDoc('gwm-view', 'gwm')]);
  const key = await c.json('/api/v1/keys', 'POST', { body: { name: 'gwm-key', views: ['gwm-view'] } });
  assert.equal(key.status, 201, JSON.stringify(key.body));
  const g = await enroll('gwm', {}, 'gateway');
  const { cl, manifests } = client(g.credential, () => ({ status: 'APPLIED' }));
  try {
    await until(() => manifests.length > 0);
    const m = manifests[0].content as { kind: string; views: { id: string }[]; trust: { issuer: string; jwks_url: string }; query_keys: { name: string; hash: string }[] };
    assert.equal(m.kind, 'gateway');
    assert.deepEqual(m.views.map((v) => v.id), ['gwm-view']);
    assert.equal(m.trust.jwks_url, `${c.url}/api/v1/jwks`);
    assert.equal(m.query_keys[0].name, 'gwm-key');
    assert.match(m.query_keys[0].hash, /^sha256:[0-9a-f]{64}$/);
    assert.ok(!JSON.stringify(manifests).includes(key.body.key as string), 'the query key itself never leaves the controller');
  } finally {
    await cl.stop();
  }

  // Behind a load balancer: --public-url names the JWKS every replica's manifests point at.
  const behind = await startController({ args: ['--public-url', 'https://ctl.example/'] });
  try {
    assert.equal((await behind.json('/api/v1/apply', 'POST', { body: [gatewayDoc('gwp'), viewDoc('gwp-view', 'gwp')] })).status, 200);
    const tok = await behind.json('/api/v1/tokens/enrollment', 'POST', { body: { kind: 'gateway' } });
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const e = await behind.json('/api/v1/enroll', 'POST', { token: null, body: { token: tok.body.token, kind: 'gateway', name: 'gwp', public_key: await exportJWK(publicKey) } });
    const got: ManifestFrame[] = [];
    const cl2 = new ControlChannelClient({
      url: behind.url, credential: () => e.body.credential as string, report: () => ({ version: '0.1.0' }), backoff: { baseMs: 50, maxMs: 200 },
      onManifest: async (m) => { got.push(m); return { status: 'APPLIED' }; },
    });
    cl2.start();
    try {
      await until(() => got.length > 0);
      assert.equal((got[0].content as { trust: { jwks_url: string } }).trust.jwks_url, 'https://ctl.example/api/v1/jwks');
    } finally {
      await cl2.stop();
    }
  } finally {
    await behind.stop();
  }
});
