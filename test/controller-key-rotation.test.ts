/**
 * Rotation of the credential-signing key with real processes: a controller (activation delay shortened),
 * a managed gateway and a managed agent feeding a view. The new key is published at once and signs after
 * the delay; the old one stays published; credentials renewed afterwards carry the new key and the gateway
 * (which never saw it) still accepts the agent's data; the ring survives a restart; only admins rotate.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { startManagedAgent, type RunningAgent } from './helpers/agent.ts';
import { gatewayDoc, pipeDoc, startController, viewDoc, type RunningController } from './helpers/controller.ts';
import { eventually, startManagedGateway, type RunningGateway } from './helpers/gateway.ts';

process.env.FUSTOR_CONTROLLER_HEARTBEAT_SEC = '1';
const ENV = { FUSTOR_MEMBER_RECONNECT_MAX_MS: '1000' };
const CONTROLLER_ENV = { FUSTOR_CONTROLLER_KEY_ACTIVATION_SEC: '2' };

const work = mkdtempSync(join(tmpdir(), 'fustor-rotate-'));
const root = join(work, 'data');
const dataDir = join(work, 'controller');
let c: RunningController;
let gw: RunningGateway;
let agent: RunningAgent;
let key: string;

interface KeyInfo { kid: string; signing: boolean; retired_at: string | null; published_until: string | null }

const ok = async (args: string[]) => {
  const r = await c.ctl(args);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};
const keys = async () => JSON.parse(await ok(['signing-key', 'list', '-o', 'json'])) as KeyInfo[];
const jwksKids = async () => ((await c.json('/api/v1/jwks', 'GET', { token: null })).body.keys as { kid: string }[]).map((k) => k.kid);
const credentialKid = (file: string) => decodeProtectedHeader(readFileSync(file, 'utf8').trim()).kid;

before(async () => {
  mkdirSync(root, { recursive: true });
  c = await startController({ dataDir, env: CONTROLLER_ENV });
  gw = await startManagedGateway({ controller: c.url, stateDir: join(work, 'gw'), token: await ok(['token', 'create', '--kind', 'gateway']), name: 'rgw', env: ENV });
  agent = await startManagedAgent({ controller: c.url, token: await ok(['token', 'create', '--kind', 'agent']), name: 'rot-a', stateDir: join(work, 'a'), env: ENV });
  const res = await c.json('/api/v1/apply', 'POST', { body: [gatewayDoc('rgw', gw.url), viewDoc('rview', 'rgw'), pipeDoc('rp', 'rview', { agent: 'rot-a', agentSelector: undefined, source: { driver: 'fs', uri: root } })] });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  key = await ok(['key', 'create', 'rkey', '--views', 'rview']);
  writeFileSync(join(root, 'before.dat'), 'b');
  await eventually(async () => (await gw.get('/api/v1/views/rview/metadata?path=/before.dat', key)).status === 200, 60000, 'data flows before the rotation');
});

after(async () => {
  await agent?.stop().catch(() => undefined);
  await gw?.stop().catch(() => undefined);
  await c?.stop().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

test('rotate: published at once, signing after the delay; renewed credentials carry the new key and the gateway still takes the data; the old key stays published', async () => {
  const [old] = await keys();
  assert.equal(old.signing, true);
  assert.deepEqual(await jwksKids(), [old.kid]);
  const credFile = join(work, 'a', 'identity', 'credential');
  assert.equal(credentialKid(credFile), old.kid);

  const out = await ok(['signing-key', 'rotate']);
  const m = /^signing key (\S+) published; it signs from (\S+)\nkey (\S+) retires then; published until (\S+)$/.exec(out);
  assert.ok(m !== null, out);
  const [, newKid, , retiring] = m;
  assert.equal(retiring, old.kid);
  assert.deepEqual((await jwksKids()).sort(), [old.kid, newKid].sort(), 'both keys published at once');

  await eventually(async () => (await keys()).find((k) => k.kid === newKid)?.signing === true, 20000, 'the new key signs after the activation delay');
  const retired = (await keys()).find((k) => k.kid === old.kid);
  assert.ok(retired !== undefined, 'the old key is still listed');
  assert.equal(retired.signing, false);
  assert.ok(retired.published_until !== null && Date.parse(retired.published_until) > Date.now(), 'the old key stays published for a while');

  assert.match(await ok(['renew', 'agent', 'rot-a']), /succeeded: credential renewed/);
  assert.equal(credentialKid(credFile), newKid, 'the renewed credential is signed with the new key');
  // The gateway learned the new key by itself (refetch on an unknown key id) and accepts the agent's pushes.
  writeFileSync(join(root, 'after.dat'), 'a');
  await eventually(async () => (await gw.get('/api/v1/views/rview/metadata?path=/after.dat', key)).status === 200, 30000, 'data pushed with the new-key credential reaches the view');
  assert.match(await ok(['renew', 'gateway', 'rgw']), /succeeded/);
  assert.equal(credentialKid(join(work, 'gw', 'identity', 'credential')), newKid);
});

test('only admins rotate; the ring survives a controller restart', async () => {
  const operator = await ok(['token', 'operator', 'op1', '--role', 'operator']);
  const refused = await c.ctl(['signing-key', 'rotate'], { token: operator });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /403: .*admin role/);
  const viewer = await ok(['token', 'operator', 'v1', '--role', 'viewer']);
  assert.equal((await c.ctl(['signing-key', 'list'], { token: viewer })).code, 0, 'a viewer may list the keys (public halves only)');
  assert.equal(readFileSync(join(dataDir, 'signing-key.json'), 'utf8').includes('"keys"'), true);

  const history = JSON.parse(await ok(['history', '-o', 'json'])) as { action: string; kind: string; actor: string }[];
  assert.ok(history.some((e) => e.action === 'signing-key.rotated' && e.kind === 'SigningKey' && e.actor === 'admin'), 'the rotation is in the audit log');

  const before = await keys();
  await c.stop();
  c = await startController({ dataDir, env: CONTROLLER_ENV, adminToken: c.adminToken });
  assert.deepEqual(await keys(), before, 'same keys, same roles after a restart');
  assert.equal(new Set(await jwksKids()).size, before.length);
});
