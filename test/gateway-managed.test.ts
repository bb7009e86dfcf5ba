/**
 * The managed gateway (`fustor fusion --controller URL`, spec 50) against a REAL controller process: it
 * enrolls with a gateway enrollment token, runs the View/Pipe/QueryKey the controller's manifest gives
 * it, verifies the credentials of managed agents (simulated here: enrolled through the API with their own
 * key, pushing real ingest requests) against the controller's public keys, refuses unassigned, forged and
 * revoked agents, and keeps serving from its cached manifest and keys while the controller is down.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { startController, gatewayDoc, viewDoc, queryKeyDoc, type RunningController, enrollMember } from './helpers/controller.ts';
import {
  demoConfig, dirRow, eventually, fileRow, realtimeBatch, request, runFusionExpectingFailure, runGatewayExpectingFailure, snapshotBatch, startManagedGateway,
  type Batch, type RunningGateway,
} from './helpers/gateway.ts';

type Json = Record<string, unknown>;

// Heartbeats every second, so the controller sees reports without waiting 15 s.
process.env.FUSTOR_CONTROLLER_HEARTBEAT_SEC = '1';
const MEMBER_ENV = { FUSTOR_MEMBER_RECONNECT_MAX_MS: '1000' };
const GW = 'gw-managed';
const PIPE = 'docs-a';

let c: RunningController;
let gw: RunningGateway;
const work = mkdtempSync(join(tmpdir(), 'fustor-gw-managed-'));
const stateDir = join(work, 'state');
let queryKey = '';
type Agent = { id: string; credential: string; key: CryptoKey };
let hostA: Agent;
let hostB: Agent;

async function enrollmentToken(kind: 'agent' | 'gateway'): Promise<string> {
  const res = await c.json('/api/v1/tokens/enrollment', 'POST', { body: { kind } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.token as string;
}

/** A managed agent as the controller sees it: its own key pair, enrolled with an agent token. */
async function enrollAgent(name: string): Promise<Agent> {
  const m = await enrollMember(c, { name, token: await enrollmentToken('agent') });
  return { id: m.id, credential: m.credential, key: m.privateKey };
}

/** Renewal by proof of possession, as a managed agent does at half-life. */
async function renew(a: Agent): Promise<string> {
  const proof = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject(a.id).setAudience('fustor-renew')
    .setIssuedAt().setExpirationTime('2m').setJti(crypto.randomUUID()).sign(a.key);
  const res = await c.json('/api/v1/credentials/renew', 'POST', { token: null, body: { credential: a.credential, proof } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.credential as string;
}

/** What a managed agent sends: its credential and the pipe it pushes for. */
const agentHeaders = (credential: string, pipe = PIPE, header: 'bearer' | 'x-api-key' = 'bearer'): Record<string, string> => ({
  ...(header === 'bearer' ? { authorization: `Bearer ${credential}` } : { 'x-api-key': credential }),
  'x-fustor-pipe': pipe,
});

async function createSession(g: RunningGateway, headers: Record<string, string>, taskId: string): Promise<Response> {
  return request(`${g.url}/api/v1/pipe/session/`, 'POST', { headers, body: { task_id: taskId, client_info: { source_uri: `fs://${taskId}` } } });
}

async function openSession(g: RunningGateway, credential: string, taskId: string): Promise<string> {
  const res = await createSession(g, agentHeaders(credential), taskId);
  const body = await res.json() as Json;
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.session_id as string;
}

const push = (g: RunningGateway, sid: string, headers: Record<string, string>, b: Batch) => request(`${g.url}/api/v1/pipe/ingest/${sid}/events`, 'POST', { headers, body: b });

/** Files in view `docs` once it is ready (and holds at least `atLeast`). */
async function viewFiles(g: RunningGateway, atLeast = 1): Promise<number> {
  return eventually(async () => {
    const r = await request(`${g.url}/api/v1/views/docs/stats`, 'GET', { key: queryKey });
    const n = r.status === 200 ? ((await r.json()) as Json).total_files as number : 0;
    return n >= atLeast ? n : null;
  }, 30_000, 'view docs ready');
}

before(async () => {
  c = await startController();
});

after(async () => {
  await gw?.stop();
  await c?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('CLI — --controller without a token on a fresh state dir, or together with --config: one line naming the fix', async () => {
  const fresh = await runFusionExpectingFailure(['--controller', c.url, '--state-dir', join(work, 'empty'), '--port', '0']);
  assert.equal(fresh.code, 1);
  assert.equal(fresh.stderr.trim().split('\n').length, 1, fresh.stderr);
  assert.match(fresh.stderr, /not enrolled yet .*pass --token/);
  const both = await runGatewayExpectingFailure(demoConfig(), { args: ['--controller', c.url, '--port', '0'] });
  assert.equal(both.code, 1);
  assert.match(both.stderr, /^fustor: --config \(standalone\) and --controller \(managed\) exclude each other/);
  assert.equal(both.stderr.trim().split('\n').length, 1, both.stderr);
});

test('enrolls with a gateway token, serves nothing before its manifest, then runs the View, Pipe and QueryKey applied to the controller', async () => {
  gw = await startManagedGateway({ controller: c.url, stateDir, token: await enrollmentToken('gateway'), name: GW, env: MEMBER_ENV });
  const gwLine = gw.stdout().split('\n').find((l) => l.startsWith('managed by '));
  assert.equal(gwLine, `managed by ${c.url} as gateway ${GW}`);
  hostA = await enrollAgent('host-a');
  hostB = await enrollAgent('host-b');
  // Its first manifest (no views yet) is applied and cached: an agent credential has no pipe to push to.
  await eventually(async () => existsSync(join(stateDir, 'manifest.json')), 30_000, 'first manifest cached');
  const early = await createSession(gw, agentHeaders(hostA.credential), `host-a:${PIPE}`);
  assert.equal(early.status, 403);
  assert.match(((await early.json()) as Json).message as string, new RegExp(`pipe '${PIPE}' is not served by this gateway`));

  const applied = await c.json('/api/v1/apply', 'POST', {
    body: [
      gatewayDoc(GW, gw.url), viewDoc('docs', GW),
      { apiVersion: 'fustor.io/v1', kind: 'Pipe', metadata: { name: PIPE }, spec: { agent: 'host-a', source: { driver: 'fs', uri: '/data/a' }, view: 'docs' } },
      queryKeyDoc('readers', ['docs']),
    ],
  });
  assert.equal(applied.status, 200, JSON.stringify(applied.body));
  queryKey = (applied.body.resources as Json[]).find((r) => r.kind === 'QueryKey')!.key as string;
  assert.match(queryKey, /^fqk_/);
  // Key discovery answers once the manifest is applied.
  const discovered = await eventually(async () => {
    const r = await request(`${gw.url}/api/v1/pipe/session/`, 'GET', { headers: agentHeaders(hostA.credential) });
    return r.status === 200 ? r.json() as Promise<Json> : null;
  }, 30_000, 'manifest applied by the gateway');
  assert.deepEqual(discovered, { view_id: 'docs', pipe_id: PIPE, status: 'authorized' });
});

test('a managed agent pushes with its credential and x-fustor-pipe; the data is served to the QueryKey', async () => {
  const sid = await openSession(gw, hostA.credential, `host-a:${PIPE}`);
  const res = await push(gw, sid, agentHeaders(hostA.credential), snapshotBatch([dirRow('/data'), fileRow('/data/a.txt'), fileRow('/data/b.txt')], { isEnd: true }));
  assert.equal(res.status, 200, await res.text());
  assert.equal(await viewFiles(gw), 2);
  // The credential may also travel in X-API-Key.
  const hb = await request(`${gw.url}/api/v1/pipe/session/${sid}/heartbeat`, 'POST', { headers: agentHeaders(hostA.credential, PIPE, 'x-api-key'), body: { can_realtime: true } });
  assert.equal(hb.status, 200, await hb.text());
  // The session belongs to the agent, not to one credential: it survives the renewal at half-life.
  const renewed = await renew(hostA);
  assert.notEqual(renewed, hostA.credential);
  hostA.credential = renewed;
  const pushed = await push(gw, sid, agentHeaders(renewed), realtimeBatch([fileRow('/data/d.txt')]));
  assert.equal(pushed.status, 200, await pushed.text());
  assert.equal(await viewFiles(gw, 3), 3);
  assert.equal((await request(`${gw.url}/api/v1/views/docs/stats`, 'GET', { key: 'fqk_0000000000000000_not-a-key-of-this-gateway-at-all-xxxxxxxx' })).status, 401);
  assert.equal((await request(`${gw.url}/api/v1/views/docs/stats`, 'GET', { key: hostA.credential })).status, 403, 'an agent credential does not read views');
});

test('refused: an agent not assigned to the pipe (403), no pipe header (403), a forged credential (401)', async () => {
  const unassigned = await createSession(gw, agentHeaders(hostB.credential), `host-b:${PIPE}`);
  assert.equal(unassigned.status, 403);
  assert.match(((await unassigned.json()) as Json).message as string, new RegExp(`agent ${hostB.id} is not assigned to pipe '${PIPE}'`));

  const noPipe = await request(`${gw.url}/api/v1/pipe/session/`, 'POST', { headers: { authorization: `Bearer ${hostA.credential}` }, body: { task_id: 'host-a:x' } });
  assert.equal(noPipe.status, 403);
  assert.match(((await noPipe.json()) as Json).message as string, /x-fustor-pipe/);

  // Same claims and key id as the controller's, signed with another key.
  const jwks = await c.json('/api/v1/jwks', 'GET', { token: null });
  const kid = ((jwks.body.keys as Json[])[0]).kid as string;
  const { privateKey } = await generateKeyPair('ES256');
  for (const header of [{ alg: 'ES256', kid }, { alg: 'ES256' }]) {
    const forged = await new SignJWT({ kind: 'agent' }).setProtectedHeader(header).setIssuer('fustor-controller').setAudience('fustor')
      .setSubject(hostA.id).setIssuedAt().setExpirationTime('1h').sign(privateKey);
    const res = await createSession(gw, agentHeaders(forged), `host-a:${PIPE}`);
    assert.equal(res.status, 401, JSON.stringify(header));
    assert.match(((await res.json()) as Json).message as string, /^agent credential rejected/);
  }
});

test('controller down: a restarted gateway starts from its cached manifest and keys, takes the agent\'s data and answers; the channel comes back with the controller', async () => {
  const port = new URL(c.url).port;
  await c.kill();
  assert.equal(await gw.stop(), 0);
  for (const f of ['manifest.json', 'jwks.json']) assert.equal(statSync(join(stateDir, f)).mode & 0o777, 0o600, f);

  gw = await startManagedGateway({ controller: c.url, stateDir, env: MEMBER_ENV });
  const sid = await openSession(gw, hostA.credential, `host-a:${PIPE}`);
  const res = await push(gw, sid, agentHeaders(hostA.credential), snapshotBatch([dirRow('/data'), fileRow('/data/c.txt')], { isEnd: true }));
  assert.equal(res.status, 200, await res.text());
  assert.equal(await viewFiles(gw), 1);
  assert.equal((await createSession(gw, agentHeaders(hostB.credential), `host-b:${PIPE}`)).status, 403, 'the cached manifest still decides');

  const beat = () => request(`${gw.url}/api/v1/pipe/session/${sid}/heartbeat`, 'POST', { headers: agentHeaders(hostA.credential), body: { can_realtime: true } });
  assert.equal((await beat()).status, 200);
  const back = Date.now();
  c = await startController({ dataDir: c.dataDir, args: ['--port', port] });
  const seen = await eventually(async () => {
    // The agent's session lives on its heartbeats (30 s timeout), as with a real agent: the report checked
    // below must not depend on how long the controller takes to come back.
    const hb = await beat();
    assert.equal(hb.status, 200, await hb.text());
    const r = await c.json('/api/v1/gateways', 'GET');
    const item = (r.body.items as Json[] | undefined)?.find((g) => g.name === GW);
    // `connected` is the controller's view of the channel, which a loaded host can drop and reopen between
    // two reports: part of the condition polled, not read once from the first fresh report.
    return item !== undefined && typeof item.last_seen === 'string' && Date.parse(item.last_seen) >= back && item.connected === true ? item : null;
  }, 60_000, 'the gateway reports to the restarted controller and is connected');
  // What the gateway reports on every heartbeat: per view readiness, sessions and the leader agent.
  assert.equal(seen.connected, true, JSON.stringify(seen));
  assert.equal(seen.advertise_url, gw.url);
  const docs = (seen.views as Json[]).find((v) => v.id === 'docs');
  assert.equal(docs?.ready, true, JSON.stringify(seen));
  assert.equal(docs?.sessions, 1);
  assert.deepEqual(docs?.leaders, [hostA.id]);
});

test('revoking the agent ends its session and refuses its data with 403', async () => {
  const sid = await openSession(gw, hostA.credential, `host-a:${PIPE}`);
  const revoked = await c.json('/api/v1/members/agent/host-a/revoke', 'POST');
  assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
  const refused = await eventually(async () => {
    const r = await request(`${gw.url}/api/v1/pipe/session/${sid}/heartbeat`, 'POST', { headers: agentHeaders(hostA.credential), body: { can_realtime: true } });
    return r.status === 403 ? r.json() as Promise<Json> : null;
  }, 30_000, 'revocation reaches the gateway');
  assert.match(refused.message as string, /revoked by the controller/);
  const pushed = await push(gw, sid, agentHeaders(hostA.credential), snapshotBatch([fileRow('/data/late.txt')]));
  assert.equal(pushed.status, 403);
  const pipes = await request(`${gw.url}/api/v1/pipe/pipes/${PIPE}`, 'GET', { key: queryKey });
  assert.equal(((await pipes.json()) as Json).active_sessions, 0);
  await gw.waitForLog((r) => r.msg === 'session ended' && r.session === sid && r.reason === 'access revoked');
});
