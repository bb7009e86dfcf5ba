/**
 * Operating the gateway: health, readiness, metrics, OpenAPI, the startup contract (one-line errors and
 * non-zero exit on bad config or a busy port, the listening line, clean SIGTERM), and the example config.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { FUSTOR_BIN, ROOT, demoConfig, runGatewayExpectingFailure, startGateway } from './helpers/gateway.ts';

type Json = Record<string, unknown>;

test('/healthz needs no key; /readyz lists views and reasons; /metrics and the OpenAPI document need a key', async () => {
  const gw = await startGateway(demoConfig());
  try {
    const health = await gw.get('/healthz', null);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as Json).status, 'ok');

    const ready = await gw.get('/readyz', null);
    assert.equal(ready.status, 503);
    const report = await ready.json() as { ready: boolean; views: Record<string, { ready: boolean; reason: string }> };
    assert.equal(report.ready, false);
    assert.deepEqual(Object.keys(report.views), ['demo']);
    assert.equal(report.views.demo.reason, 'no active leader session');

    assert.equal((await gw.get('/metrics', null)).status, 401);
    const metrics = await gw.get('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type') ?? '', /text\/plain/);
    const text = await metrics.text();
    for (const line of [/^fustor_pipe_queue_depth\{pipe="demo"\} 0$/m, /^fustor_view_items\{view="demo"\} \d+$/m, /^fustor_view_ready\{view="demo"\} 0$/m, /^fustor_pipe_sessions\{pipe="demo",role="leader"\} 0$/m, /^fustor_pipe_rows_applied_total\{pipe="demo"\} 0$/m]) {
      assert.match(text, line);
    }

    assert.equal((await gw.get('/api/v1/openapi.json', null)).status, 401);
    const doc = await (await gw.get('/api/v1/openapi.json')).json() as { openapi: string; paths: Record<string, Record<string, Json>> };
    assert.match(doc.openapi, /^3\./);
    for (const path of ['/api/v1/pipe/session/', '/api/v1/pipe/ingest/{session_id}/events', '/api/v1/views/{view}/tree', '/api/v1/views/{view}/search', '/readyz']) {
      assert.ok(doc.paths[path], `OpenAPI lacks ${path}`);
    }
    const ingest = doc.paths['/api/v1/pipe/ingest/{session_id}/events'].post as { requestBody: { content: Record<string, { schema: { properties: Json } }> } };
    assert.ok(ingest.requestBody.content['application/json'].schema.properties.events, 'request body schema comes from the protocol');
    assert.ok(!gw.stdout().includes(gw.keys.query) && !gw.stdout().includes(gw.keys.agent), 'keys never reach the log');
  } finally {
    assert.equal(await gw.stop(), 0, 'SIGTERM exits 0');
  }
});

test('bad config: one line naming the file and the field, non-zero exit', async () => {
  const dangling = demoConfig({ pipe: { views: ['demo', 'nope'] } });
  const r1 = await runGatewayExpectingFailure(dangling);
  assert.notEqual(r1.code, 0);
  assert.equal(r1.stderr, `fustor: config error in ${join(r1.dir, 'fusion.yaml')}: pipes.demo.views[1]: view 'nope' is not defined (known views: demo)\n`);

  const r2 = await runGatewayExpectingFailure(demoConfig({ view: { driver: 'zfs' } }));
  assert.notEqual(r2.code, 0);
  assert.match(r2.stderr, /^fustor: config error in .*fusion\.yaml: views\.demo\.driver: unknown driver 'zfs' \(known drivers: fs, forest-fs\)\n$/);

  const r3 = await runGatewayExpectingFailure(demoConfig({ top: { port: 'eighty' } }));
  assert.match(r3.stderr, /^fustor: config error in .*fusion\.yaml: port: must be integer\n$/);

  const twice = demoConfig() as Record<string, Record<string, Record<string, unknown>>>;
  twice.pipes.second = { receiver: 'main', views: ['demo'] };
  (twice.receivers.main.api_keys as unknown[]).push({ key: 'test-agent-key-0001', pipe_id: 'second' });
  const r4 = await runGatewayExpectingFailure(twice);
  assert.match(r4.stderr, /^fustor: config error in .*: receivers\.main\.api_keys\[1\]\.key: this key is already bound to pipe 'demo'/);
  assert.ok(!r4.stderr.includes('test-agent-key-0001'), 'the key itself is not printed');

  const r5 = await runGatewayExpectingFailure('views:\n  demo:\n    driver: fs\n   api_keys: [x]\n');
  assert.notEqual(r5.code, 0);
  assert.match(r5.stderr, /^fustor: config error in .*fusion\.yaml: line \d+: .+\n$/);

  const r6 = await runGatewayExpectingFailure(demoConfig({ pipe: { surprise: true } }));
  assert.match(r6.stderr, /^fustor: config error in .*: pipes\.demo\.surprise: unknown field\n$/);
  for (const r of [r1, r2, r3, r4, r5, r6]) assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test('bad config spread over files: the error names the file that defines the entry', async () => {
  const files = {
    '10-receivers.yaml': { receivers: { main: { driver: 'http', api_keys: [{ key: 'test-agent-key-0001', pipe_id: 'demo' }] } } },
    '20-views.yaml': { views: { demo: { driver: 'fs', api_keys: ['test-query-key-0001'] } } },
    '30-pipes.yaml': { pipes: { demo: { receiver: 'nope', views: ['demo'] } } },
  };
  const r = await runGatewayExpectingFailure(files, { multiFile: true });
  assert.notEqual(r.code, 0);
  assert.equal(r.stderr, `fustor: config error in ${join(r.dir, '30-pipes.yaml')}: pipes.demo.receiver: receiver 'nope' is not defined (known receivers: main)\n`);
});

test('a later file replaces an earlier definition of the same id, with a warning', async () => {
  const files = {
    '10-a.yaml': demoConfig({ pipe: { sentinel_interval_sec: 5 } }),
    '20-b.yaml': { pipes: { demo: { receiver: 'main', views: ['demo'], sentinel_interval_sec: 7 } } },
  };
  const gw = await startGateway(files, { multiFile: true });
  try {
    const a = await gw.agent();
    assert.equal(a.created.sentinel_interval_sec, 7);
    assert.ok(gw.logs().some((r) => r.level === 40 && /pipes\.demo defined in .*10-a\.yaml is replaced by the definition in .*20-b\.yaml/.test(String(r.msg))));
  } finally {
    await gw.stop();
  }
});

test('a busy port: one line "port N in use: pass --port" and a non-zero exit', async () => {
  const gw = await startGateway(demoConfig());
  try {
    const port = new URL(gw.url).port;
    const r = await runGatewayExpectingFailure(demoConfig(), { args: ['--port', port, '--host', '127.0.0.1'] });
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr, `fustor: port ${port} in use: pass --port\n`);
  } finally {
    await gw.stop();
  }
});

test('flags: --config is required, --port must be a port number', async () => {
  const run = (args: string[]) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const p = spawn(FUSTOR_BIN, args, { cwd: ROOT });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.on('exit', (code) => resolve({ code, stderr }));
  });
  const noConfig = await run(['fusion']);
  assert.notEqual(noConfig.code, 0);
  assert.match(noConfig.stderr, /fusion needs --config DIR/);
  const badPort = await run(['fusion', '--config', 'examples/standalone/fusion', '--port', 'http']);
  assert.notEqual(badPort.code, 0);
  assert.match(badPort.stderr, /--port/);
});

test('the example configuration starts and accepts its demo keys', async () => {
  const p = spawn(FUSTOR_BIN, ['fusion', '--config', 'examples/standalone/fusion', '--port', '0', '--log-format', 'json'], { cwd: ROOT });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 20000);
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^fusion listening on (http:\/\/\S+)$/m.exec(out);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      });
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const disc = await fetch(`${url}/api/v1/pipe/session/`, { headers: { 'x-api-key': 'demo-agent-key-change-me' } });
    assert.deepEqual(await disc.json(), { view_id: 'demo', pipe_id: 'demo', status: 'authorized' });
    const sessions = await fetch(`${url}/api/v1/views/demo/sessions`, { headers: { 'x-api-key': 'demo-query-key-change-me' } });
    assert.equal(sessions.status, 200);
  } finally {
    const exited = new Promise((r) => p.on('exit', r));
    p.kill('SIGTERM');
    await exited;
  }
});
