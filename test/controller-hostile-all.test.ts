/**
 * Hostile requests on EVERY management endpoint, enumerated from the controller's own OpenAPI document (so a
 * new route is covered the day it is added): no token, a viewer token on writes, broken JSON, wrong JSON
 * shapes, hostile path parameters, member endpoints with garbage credentials. Each answers a clear 4xx in
 * the `{code, message}` shape — never a 5xx or a stack trace — the process stays up and the observable
 * state (resources, revision, audit log, members, fleet) does not change.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { gatewayDoc, pipeDoc, startController, viewDoc, type RunningController } from './helpers/controller.ts';

let c: RunningController;
let viewer: string;
let routes: { method: string; path: string; body: boolean }[] = [];

/** Routes anyone may call (members authenticate by enrollment token, proof of possession or credential). */
const PUBLIC = new Set(['GET /healthz', 'POST /api/v1/enroll', 'POST /api/v1/credentials/renew', 'GET /api/v1/jwks', 'POST /api/v1/channel/poll', 'GET /api/v1/channel']);

/** POSTs that change nothing (a viewer may preview a diff). */
const VIEWER_POSTS = new Set(['POST /api/v1/diff']);

before(async () => {
  c = await startController();
  assert.equal((await c.json('/api/v1/apply', 'POST', { body: [gatewayDoc('gw1'), viewDoc('demo', 'gw1'), pipeDoc('p1', 'demo')] })).status, 200);
  const v = await c.json('/api/v1/tokens/operator', 'POST', { body: { name: 'hostile-viewer', role: 'viewer' } });
  viewer = v.body.token as string;
  const doc = (await c.json('/api/v1/openapi.json', 'GET')).body as { paths: Record<string, Record<string, { requestBody?: unknown }>> };
  routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops)
    .filter(([m]) => ['get', 'post', 'put', 'patch', 'delete'].includes(m))
    .map(([m, op]) => ({ method: m.toUpperCase(), path, body: op.requestBody !== undefined })));
});
after(async () => { await c.stop(); });

async function state(): Promise<string> {
  const kinds = await Promise.all(['gateways', 'views', 'pipes', 'secrets', 'querykeys'].map(async (k) => (await c.json(`/api/v1/resources/${k}`, 'GET')).body));
  const revision = (await c.json('/healthz', 'GET')).body.revision;
  const history = (await c.json('/api/v1/history?limit=1000', 'GET')).body;
  const agents = (await c.json('/api/v1/agents', 'GET')).body;
  const gateways = (await c.json('/api/v1/gateways', 'GET')).body;
  return JSON.stringify({ kinds, revision, history, agents, gateways });
}

function raw(method: string, path: string, opts: { body?: string; token?: string | null; contentType?: string } = {}): Promise<{ status: number; text: string }> {
  const u = new URL(c.url);
  const headers: Record<string, string> = {};
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? c.adminToken}`;
  if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** A clear 4xx: the status is in `allowed`, the body is `{code, message}` and carries no stack trace. */
function assertClear4xx(what: string, res: { status: number; text: string }, allowed: number[]): void {
  assert.ok(allowed.includes(res.status), `${what}: HTTP ${res.status} (expected ${allowed.join('/')}) ${res.text.slice(0, 200)}`);
  const body = JSON.parse(res.text) as { code?: unknown; message?: unknown };
  assert.equal(typeof body.code, 'string', `${what}: ${res.text.slice(0, 200)}`);
  assert.equal(typeof body.message, 'string', what);
  assert.ok(!res.text.includes('    at '), `${what}: a stack trace left the process`);
}

const fill = (path: string, value: string) => path.replace(/\{[^}]+\}/g, value);

test('every route in the OpenAPI document is covered and authenticated; no token → 401, viewer on a write → 403', async () => {
  const before = await state();
  assert.ok(routes.length >= 20, `only ${routes.length} routes in the OpenAPI document`);
  for (const r of routes) {
    const key = `${r.method} ${r.path}`;
    const path = fill(r.path, r.path.includes('{kind}') ? 'agent' : 'x');
    const anon = await raw(r.method, path, { token: null, ...(r.body ? { body: '{}' } : {}) });
    if (PUBLIC.has(key)) assert.ok(anon.status < 500, `${key} without a token: ${anon.status}`);
    else assertClear4xx(`${key} without a token`, anon, [401]);
    const bad = await raw(r.method, path, { token: 'fop_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', ...(r.body ? { body: '{}' } : {}) });
    if (!PUBLIC.has(key)) assertClear4xx(`${key} with an unknown token`, bad, [401]);
    if (r.method !== 'GET' && !PUBLIC.has(key) && !VIEWER_POSTS.has(key)) {
      assertClear4xx(`${key} as viewer`, await raw(r.method, path, { token: viewer, ...(r.body ? { body: '{}' } : {}) }), [403]);
    }
  }
  assert.equal(await state(), before);
});

test('every route that takes a body: broken JSON, wrong shapes and a wrong content type → 4xx, no change', async () => {
  const before = await state();
  for (const r of routes.filter((x) => x.body)) {
    const key = `${r.method} ${r.path}`;
    const path = fill(r.path, r.path.includes('{kind}') ? 'agent' : 'nobody');
    for (const body of ['{', '[1,2', 'null', '42', '"text"', '{"__proto__":{"polluted":true}}', JSON.stringify({ a: 'x'.repeat(10000) })]) {
      const res = await raw(r.method, path, { body });
      assert.ok(res.status >= 400 && res.status < 500, `${key} with ${body.slice(0, 30)}: HTTP ${res.status} ${res.text.slice(0, 200)}`);
      assertClear4xx(`${key} with ${body.slice(0, 30)}`, res, [400, 401, 403, 404, 409, 413, 415, 422]);
    }
    const xml = await raw(r.method, path, { body: '<a/>', contentType: 'application/xml' });
    assertClear4xx(`${key} as XML`, xml, [400, 401, 403, 404, 415]);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(await state(), before);
});

test('hostile path parameters on every parameterised route → 4xx, no change', async () => {
  const before = await state();
  for (const r of routes.filter((x) => x.path.includes('{'))) {
    for (const value of ['..%2F..%2Fetc', '%00', 'a'.repeat(300), '%E2%80%AE', 'name%20with%20spaces', '*']) {
      const res = await raw(r.method, fill(r.path, value), r.body ? { body: '{}' } : {});
      assertClear4xx(`${r.method} ${r.path} with ${value.slice(0, 20)}`, res, [400, 404, 422]);
    }
  }
  assert.equal(await state(), before);
});

test('member endpoints with garbage credentials and proofs → 4xx; the channel refuses them', async () => {
  const before = await state();
  const garbage = ['', 'x', 'a.b.c', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 'Bearer', 'fen_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'];
  for (const g of garbage) {
    assertClear4xx(`renew with ${g}`, await raw('POST', '/api/v1/credentials/renew', { token: null, body: JSON.stringify({ credential: g || 'x', proof: g || 'x' }) }), [400, 401]);
    assertClear4xx(`enroll with ${g}`, await raw('POST', '/api/v1/enroll', { token: null, body: JSON.stringify({ token: g || 'x', kind: 'agent', public_key: { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: 'A'.repeat(43) } }) }), [400, 401, 403]);
    const poll = await raw('POST', '/api/v1/channel/poll', { token: g === '' ? null : g, body: JSON.stringify({ frames: [] }) });
    assertClear4xx(`poll with ${g}`, poll, [400, 401, 403]);
  }
  assert.equal(await state(), before);
  assert.equal((await c.json('/healthz', 'GET')).status, 200, 'still up');
});
