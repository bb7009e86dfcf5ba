/**
 * The management API of a REAL controller process (SQLite in a temp dir): roles, apply → revision, get,
 * history, unchanged re-apply, all-or-nothing validation, references, delete refusal, Secrets encrypted at
 * rest and never returned, QueryKeys shown once and stored hashed, diff, tokens, OpenAPI.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gatewayDoc, pipeDoc, queryKeyDoc, secretDoc, startController, viewDoc, type RunningController } from './helpers/controller.ts';

type Json = Record<string, unknown>;

let c: RunningController;
let operator: string;
let viewer: string;

before(async () => {
  c = await startController();
  const mk = async (name: string, role: string) => {
    const res = await c.json('/api/v1/tokens/operator', 'POST', { body: { name, role } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.token as string;
  };
  operator = await mk('ops', 'operator');
  viewer = await mk('watcher', 'viewer');
});
after(async () => { await c.stop(); });

const apply = (docs: unknown, token?: string) => c.json('/api/v1/apply', 'POST', { body: docs, token });
const items = async (kind: string) => ((await c.json(`/api/v1/resources/${kind}`, 'GET')).body.items as Json[]);
const names = async (kind: string) => (await items(kind)).map((r) => (r.metadata as Json).name).sort();
const dbBytes = () => Buffer.concat(readdirSync(c.dataDir).filter((f) => f.startsWith('controller.db')).map((f) => readFileSync(join(c.dataDir, f))));

const baseSet = () => [gatewayDoc('gw1'), viewDoc('demo', 'gw1'), pipeDoc('p1', 'demo')];

test('roles — no token 401, bad token 401, viewer cannot apply (403), operator cannot create operator tokens (403)', async () => {
  let res = await c.json('/api/v1/resources/views', 'GET', { token: null });
  assert.equal(res.status, 401);
  assert.equal(res.body.code, 'AUTH_MISSING');
  res = await c.json('/api/v1/resources/views', 'GET', { token: 'fop_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
  assert.equal(res.status, 401);
  assert.equal(res.body.code, 'AUTH_INVALID');
  res = await c.json('/api/v1/resources/views', 'GET', { token: viewer });
  assert.equal(res.status, 200);
  res = await apply([gatewayDoc('nope')], viewer);
  assert.equal(res.status, 403);
  assert.equal(res.body.code, 'UNAUTHORIZED_ROLE');
  assert.match(res.body.message as string, /needs the operator role/);
  res = await c.json('/api/v1/tokens/operator', 'POST', { token: operator, body: { name: 'x', role: 'admin' } });
  assert.equal(res.status, 403);
  res = await c.json('/api/v1/tokens/enrollment', 'POST', { token: viewer, body: { kind: 'agent' } });
  assert.equal(res.status, 403);
  res = await c.json('/healthz', 'GET', { token: null });
  assert.equal(res.status, 200);
  assert.deepEqual(await names('gateways'), [], 'the refused apply left nothing');
});

test('apply — a Gateway+View+Pipe set is one revision; get returns them; re-apply unchanged makes no revision; history lists them', async () => {
  const res = await apply(baseSet(), operator);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const rev = res.body.revision as number;
  assert.ok(rev >= 1);
  assert.deepEqual((res.body.resources as Json[]).map((r) => `${r.kind}/${r.name} ${r.action}`), ['Gateway/gw1 created', 'View/demo created', 'Pipe/p1 created']);

  const view = await c.json('/api/v1/resources/View/demo', 'GET', { token: viewer });
  assert.equal(view.status, 200);
  assert.deepEqual(view.body.spec, { driver: 'fs', gateway: 'gw1' });
  assert.equal((view.body.metadata as Json).revision, rev);
  assert.deepEqual(await names('PIPES'), ['p1']);

  const again = await apply(baseSet(), operator);
  assert.equal(again.body.revision, null);
  assert.equal(again.body.current_revision, rev);
  assert.ok((again.body.resources as Json[]).every((r) => r.action === 'unchanged'));

  const history = await c.json('/api/v1/history', 'GET', { token: viewer });
  const entries = (history.body.items as Json[]).filter((e) => e.revision === rev);
  assert.deepEqual(entries.map((e) => `${e.action} ${e.kind}/${e.name} by ${e.actor}`).sort(), ['created Gateway/gw1 by ops', 'created Pipe/p1 by ops', 'created View/demo by ops']);
  for (const e of entries) {
    assert.equal(e.before_hash, null);
    assert.match(e.after_hash as string, /^sha256:[0-9a-f]{64}$/);
  }

  const changed = await apply([pipeDoc('p1', 'demo', { audit_interval_sec: 60 })], operator);
  assert.equal(changed.body.revision, rev + 1);
  const last = ((await c.json('/api/v1/history?limit=1', 'GET')).body.items as Json[])[0];
  assert.equal(last.action, 'changed');
  assert.notEqual(last.before_hash, last.after_hash);
});

test('apply — one invalid document in a multi-document apply → 422 with every field path, NOTHING applied', async () => {
  const before = await items('pipes');
  const revBefore = (await c.json('/healthz', 'GET')).body.revision;
  const res = await apply([
    gatewayDoc('gw-new'),
    { apiVersion: 'fustor.io/v1', kind: 'Pipe', metadata: { name: 'bad' }, spec: { agent: 'a', agentSelector: { matchLabels: {} }, source: { driver: 'nfs', uri: 7 }, view: 'demo', extra: 1 } },
    { apiVersion: 'fustor.io/v2', kind: 'Widget', metadata: { name: '../x' }, spec: {} },
    pipeDoc('p1', 'demo', { audit_interval_sec: 5 }),
  ], operator);
  assert.equal(res.status, 422);
  assert.equal(res.body.code, 'VALIDATION');
  const paths = (res.body.details as Json[]).map((d) => d.path);
  for (const p of ['[1].spec.agent', '[1].spec.source.driver', '[1].spec.source.uri', '[1].spec.extra', '[2].apiVersion', '[2].kind', '[2].metadata.name']) {
    assert.ok(paths.includes(p), `${p} missing in ${JSON.stringify(paths)}`);
  }
  assert.match(res.body.message as string, /^nothing applied: /);
  assert.deepEqual(await items('pipes'), before);
  assert.deepEqual(await names('gateways'), ['gw1']);
  assert.equal((await c.json('/healthz', 'GET')).body.revision, revBefore);
});

test('apply — dangling references → 422 naming the field; references within the same apply are fine', async () => {
  let res = await apply([pipeDoc('p2', 'missing-view')], operator);
  assert.equal(res.status, 422);
  assert.deepEqual((res.body.details as Json[]).map((d) => [d.path, d.document]), [['[0].spec.view', 'Pipe/p2']]);
  assert.match(JSON.stringify(res.body.details), /View \\"missing-view\\" does not exist/);
  res = await apply([viewDoc('v2', 'gw-missing'), pipeDoc('p3', 'demo', { source: { driver: 'fs', uri: '/x', credentialRef: 'nosecret' } })], operator);
  assert.equal(res.status, 422);
  assert.deepEqual((res.body.details as Json[]).map((d) => d.path).sort(), ['[0].spec.gateway', '[1].spec.source.credentialRef']);
  res = await apply([pipeDoc('p4', 'v4'), viewDoc('v4', 'gw4'), gatewayDoc('gw4')], operator);
  assert.equal(res.status, 200, JSON.stringify(res.body));
});

test('delete — refused with 409 naming the referrers while referenced; allowed once free', async () => {
  let res = await c.json('/api/v1/resources/views/v4', 'DELETE', { token: operator });
  assert.equal(res.status, 409);
  assert.equal(res.body.code, 'CONFLICT');
  assert.match(res.body.message as string, /Pipe\/p4 \(spec\.view\)/);
  res = await c.json('/api/v1/resources/pipe/p4', 'DELETE', { token: viewer });
  assert.equal(res.status, 403);
  res = await c.json('/api/v1/resources/pipe/p4', 'DELETE', { token: operator });
  assert.equal(res.status, 200);
  assert.equal(res.body.action, 'deleted');
  res = await c.json('/api/v1/resources/views/v4', 'DELETE', { token: operator });
  assert.equal(res.status, 200);
  res = await c.json('/api/v1/resources/views/v4', 'DELETE', { token: operator });
  assert.equal(res.status, 404);
  const h = (await c.json('/api/v1/history?limit=1', 'GET')).body.items as Json[];
  assert.equal(h[0].action, 'deleted');
  assert.equal(h[0].after_hash, null);
});

test('Secret — values never returned by GET, not in plaintext in the SQLite files; changes detected without showing values', async () => {
  const plain = 'S3cr3t-value-that-must-not-leak-7f1d';
  let res = await apply([secretDoc('creds', { password: plain, user: 'u-plain-user-9931' }), pipeDoc('p1', 'demo', { audit_interval_sec: 60, source: { driver: 'fs', uri: '/data/p1', credentialRef: 'creds' } })], operator);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const one = await c.json('/api/v1/resources/secrets/creds', 'GET');
  assert.deepEqual(one.body.spec, { data: { password: '[redacted]', user: '[redacted]' } });
  assert.match((one.body.metadata as Json).hash as string, /^hmac-sha256:/);
  const all = JSON.stringify(await items('secret'));
  assert.ok(!all.includes(plain));
  const history = JSON.stringify((await c.json('/api/v1/history', 'GET')).body);
  assert.ok(!history.includes(plain));
  const bytes = dbBytes();
  assert.equal(bytes.indexOf(plain), -1, 'the secret value is in the database files in plaintext');
  assert.equal(bytes.indexOf('u-plain-user-9931'), -1);

  res = await apply([secretDoc('creds', { password: plain, user: 'u-plain-user-9931' })], operator);
  assert.equal(res.body.revision, null, 'same secret → unchanged');
  const diff = await c.json('/api/v1/diff', 'POST', { body: [secretDoc('creds', { password: 'other', user: 'u-plain-user-9931' })] });
  assert.equal(diff.status, 200);
  const entry = (diff.body.resources as Json[])[0];
  assert.equal(entry.action, 'changed');
  assert.deepEqual(entry.fields, ['spec.data.password']);
  assert.ok(!JSON.stringify(diff.body).includes('other"'));
});

test('QueryKey — the key is shown once (create answer), stored hashed, never returned again', async () => {
  const res = await c.json('/api/v1/keys', 'POST', { token: operator, body: { name: 'reviewers', views: ['demo'] } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const key = res.body.key as string;
  assert.match(key, /^fqk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  const got = await c.json('/api/v1/resources/querykeys/reviewers', 'GET');
  assert.deepEqual(got.body.spec, { views: ['demo'] });
  assert.ok(!JSON.stringify(got.body).includes(key));
  assert.equal(dbBytes().indexOf(key), -1, 'the key is stored in plaintext');
  const dup = await c.json('/api/v1/keys', 'POST', { token: operator, body: { name: 'reviewers', views: ['demo'] } });
  assert.equal(dup.status, 409);
  const missing = await c.json('/api/v1/keys', 'POST', { token: operator, body: { name: 'k2', views: ['nope'] } });
  assert.equal(missing.status, 422);
  // Via apply: created → key in the answer; re-apply → unchanged, no key.
  const a1 = await apply([queryKeyDoc('k3', ['demo'])], operator);
  const r1 = (a1.body.resources as Json[])[0];
  assert.equal(r1.action, 'created');
  assert.match(r1.key as string, /^fqk_/);
  const a2 = await apply([queryKeyDoc('k3', ['demo'])], operator);
  assert.equal((a2.body.resources as Json[])[0].key, undefined);
});

test('diff — per resource created/changed/unchanged/deleted and the gateways touched; nothing applied', async () => {
  const rev = (await c.json('/healthz', 'GET')).body.revision;
  const res = await c.json('/api/v1/diff?prune=false', 'POST', { token: viewer, body: [gatewayDoc('gw1'), viewDoc('demo', 'gw1', { live_mode: true }), viewDoc('newview', 'gw1')] });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const by = Object.fromEntries((res.body.resources as Json[]).map((r) => [`${r.kind}/${r.name}`, r]));
  assert.equal(by['Gateway/gw1'].action, 'unchanged');
  assert.equal(by['View/demo'].action, 'changed');
  assert.deepEqual(by['View/demo'].fields, ['spec.live_mode']);
  assert.deepEqual(by['View/demo'].gateways, ['gw1']);
  assert.equal(by['View/newview'].action, 'created');
  assert.deepEqual(res.body.gateways, ['gw1']);
  assert.deepEqual(res.body.agents, []);
  assert.equal((await c.json('/healthz', 'GET')).body.revision, rev);
  assert.deepEqual((await names('views')).includes('newview'), false);
});

test('tokens — enrollment token shown once with defaults; agents and gateways lists are empty; OpenAPI documents the API', async () => {
  const res = await c.json('/api/v1/tokens/enrollment', 'POST', { token: operator, body: { kind: 'agent', labels: { site: 'a' } } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal(res.body.uses, 1);
  assert.match(res.body.token as string, /^fen_/);
  assert.ok(Date.parse(res.body.expires_at as string) > Date.now() + 3500_000);
  assert.equal(dbBytes().indexOf(res.body.token as string), -1);
  assert.deepEqual((await c.json('/api/v1/agents', 'GET', { token: viewer })).body, { items: [] });
  assert.deepEqual((await c.json('/api/v1/gateways', 'GET', { token: viewer })).body, { items: [] });
  const doc = await c.json('/api/v1/openapi.json', 'GET', { token: viewer });
  assert.equal(doc.status, 200);
  const paths = Object.keys(doc.body.paths as Json);
  for (const p of ['/api/v1/apply', '/api/v1/diff', '/api/v1/resources/{kind}', '/api/v1/resources/{kind}/{name}', '/api/v1/history', '/api/v1/tokens/operator', '/api/v1/tokens/enrollment', '/api/v1/keys', '/api/v1/agents', '/api/v1/gateways']) {
    assert.ok(paths.includes(p), `${p} not in the OpenAPI document`);
  }
  const dup = await c.json('/api/v1/tokens/operator', 'POST', { body: { name: 'ops', role: 'viewer' } });
  assert.equal(dup.status, 409);
});
