/**
 * Hostile requests on every endpoint of a REAL controller: broken JSON, wrong types, huge bodies, unknown
 * kinds, names with `/` or `..`, bad query parameters, wrong content types. Each answers a clear 4xx in
 * the `{code, message, detail}` shape, the process stays up and the stored state does not change.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { gatewayDoc, pipeDoc, startController, viewDoc, type RunningController } from './helpers/controller.ts';

let c: RunningController;
let snapshot: string;

before(async () => {
  c = await startController();
  const res = await c.json('/api/v1/apply', 'POST', { body: [gatewayDoc('gw1'), viewDoc('demo', 'gw1'), pipeDoc('p1', 'demo')] });
  assert.equal(res.status, 200);
  snapshot = await state();
});
after(async () => { await c.stop(); });

/** Everything observable about the desired state (resources + revision + audit size + tokens). */
async function state(): Promise<string> {
  const kinds = await Promise.all(['gateways', 'views', 'pipes', 'secrets', 'querykeys'].map(async (k) => (await c.json(`/api/v1/resources/${k}`, 'GET')).body));
  const health = (await c.json('/healthz', 'GET')).body;
  const history = (await c.json('/api/v1/history?limit=1000', 'GET')).body;
  return JSON.stringify({ kinds, health, history });
}

/** A raw request (no URL normalisation by fetch). */
function raw(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const u = new URL(c.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers: { authorization: `Bearer ${c.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text === '' ? {} : JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function assertError(res: { status: number; body: Record<string, unknown> }, status: number, code: string, message?: RegExp): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.code, code, JSON.stringify(res.body));
  assert.equal(typeof res.body.message, 'string');
  assert.equal(res.body.detail, res.body.message);
  assert.ok(!JSON.stringify(res.body).includes('    at '), 'a stack trace left the process');
  if (message) assert.match(res.body.message as string, message);
}

const WRITE_ENDPOINTS = ['/api/v1/apply', '/api/v1/diff', '/api/v1/tokens/operator', '/api/v1/tokens/enrollment', '/api/v1/keys'];

test('hostile — broken JSON, empty bodies, wrong types and non-JSON content types on every write endpoint → 4xx, no change', async () => {
  for (const path of WRITE_ENDPOINTS) {
    assertError(await raw('POST', path, '{"broken": '), 422, 'VALIDATION', /invalid JSON/);
    assertError(await raw('POST', path, ''), 422, 'VALIDATION', /empty/);
    assertError(await raw('POST', path, '"a string"'), 422, 'VALIDATION');
    assertError(await raw('POST', path, 'x=1', { 'content-type': 'text/plain' }), 415, 'BAD_REQUEST', /application\/json/);
    assertError(await raw('POST', path, Buffer.from([0x5b, 0xff, 0x5d]).toString('latin1'), {}), 422, 'VALIDATION');
  }
  assertError(await raw('POST', '/api/v1/tokens/operator', JSON.stringify({ name: 'x', role: 'root' })), 422, 'VALIDATION', /role/);
  assertError(await raw('POST', '/api/v1/tokens/enrollment', JSON.stringify({ kind: 'agent', uses: 0 })), 422, 'VALIDATION', /uses/);
  assertError(await raw('POST', '/api/v1/tokens/enrollment', JSON.stringify({ kind: 'agent', labels: { 'bad key': 'v' } })), 422, 'VALIDATION', /label key/);
  assertError(await raw('POST', '/api/v1/keys', JSON.stringify({ name: '../etc', views: ['demo'] })), 422, 'VALIDATION', /body\.name: must be an id/);
  assertError(await raw('POST', '/api/v1/apply', JSON.stringify([1, null, 'x', []])), 422, 'VALIDATION', /must be a resource document/);
  assertError(await raw('POST', '/api/v1/apply', JSON.stringify({ documents: [] })), 422, 'VALIDATION');
  assert.equal(await state(), snapshot);
});

test('hostile — huge bodies → 413; too many documents → 422; deep nesting rejected; no change', async () => {
  const huge = JSON.stringify([{ apiVersion: 'fustor.io/v1', kind: 'Gateway', metadata: { name: 'big' }, spec: { url: 'http://x', pad: 'x'.repeat(5 * 1024 * 1024) } }]);
  assertError(await raw('POST', '/api/v1/apply', huge), 413, 'PAYLOAD_TOO_LARGE');
  const many = JSON.stringify(Array.from({ length: 1001 }, (_, i) => gatewayDoc(`g${i}`)));
  assertError(await raw('POST', '/api/v1/apply', many), 422, 'VALIDATION', /1000/);
  const depth = 5000;
  const deep = `[{"apiVersion":"fustor.io/v1","kind":"Pipe","metadata":{"name":"deep"},"spec":{"agent":"a","view":"demo","source":{"driver":"fs","uri":"/x","driver_params":{"p":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}}}}]`;
  assertError(await raw('POST', '/api/v1/apply', deep), 422, 'VALIDATION', /nested deeper than 64 levels/);
  assertError(await raw('POST', '/api/v1/diff', deep), 422, 'VALIDATION', /nested deeper/);
  assert.equal(await state(), snapshot);
});

test('hostile — unknown kinds, names with / or .., over-long segments, bad query parameters → 400/404, no change', async () => {
  assertError(await raw('GET', '/api/v1/resources/widgets'), 400, 'BAD_REQUEST', /unknown kind "widgets"/);
  assertError(await raw('GET', '/api/v1/resources/widgets/x'), 400, 'BAD_REQUEST', /unknown kind/);
  assertError(await raw('DELETE', '/api/v1/resources/widgets/x'), 400, 'BAD_REQUEST', /unknown kind/);
  assertError(await raw('GET', '/api/v1/resources/views/%2e%2e'), 400, 'BAD_REQUEST', /path\.name: must be an id/);
  assertError(await raw('DELETE', '/api/v1/resources/views/a%2Fb'), 400, 'BAD_REQUEST', /must be an id/);
  assertError(await raw('DELETE', '/api/v1/resources/views/..'), 400, 'BAD_REQUEST', /must be an id/);
  assertError(await raw('GET', '/api/v1/resources/views/..%2F..%2Fetc'), 400, 'BAD_REQUEST', /must be an id/);
  assertError(await raw('GET', '/api/v1/resources/views/a/b'), 404, 'NOT_FOUND');
  assertError(await raw('GET', `/api/v1/resources/views/${'n'.repeat(300)}`), 400, 'BAD_REQUEST', /longer than/);
  assertError(await raw('GET', '/api/v1/resources/views/%zz'), 400, 'BAD_REQUEST', /percent-encoding/);
  assertError(await raw('GET', '/api/v1/resources/views/nope'), 404, 'NOT_FOUND', /View\/nope does not exist/);
  assertError(await raw('GET', '/api/v1/history?limit=abc'), 400, 'BAD_REQUEST', /limit/);
  assertError(await raw('GET', '/api/v1/history?limit=100000'), 400, 'BAD_REQUEST', /limit/);
  assertError(await raw('GET', '/api/v1/history?bogus=1'), 400, 'BAD_REQUEST');
  assertError(await raw('POST', '/api/v1/apply?prune=maybe', '[]'), 400, 'BAD_REQUEST', /prune/);
  assertError(await raw('GET', '/api/v1/nothing-here'), 404, 'NOT_FOUND');
  assertError(await raw('GET', '/api/v1/resources/views', undefined, { authorization: 'Basic abc' }), 401, 'AUTH_MISSING');
  assertError(await raw('GET', '/api/v1/resources/views', undefined, { authorization: `Bearer ${'x'.repeat(10000)}` }), 401, 'AUTH_INVALID');
  assert.equal(await state(), snapshot);
  assert.equal((await c.json('/healthz', 'GET', { token: null })).status, 200);
});

test('hostile — an empty apply and a prune that would dangle are refused or no-ops, never half-applied', async () => {
  const empty = await raw('POST', '/api/v1/apply', '[]');
  assert.equal(empty.status, 200);
  assert.equal(empty.body.revision, null);
  // Prune with only the pipe: its view would be deleted → 422 (references are checked in the desired state).
  const prune = await raw('POST', '/api/v1/apply?prune=true', JSON.stringify([pipeDoc('p1', 'demo')]));
  assertError(prune, 422, 'VALIDATION', /is not in this apply/);
  assert.equal(await state(), snapshot);
});
