/**
 * Survival (spec 40 "Shell and payload"): pipes that throw, hang or run out of memory are restarted and
 * reported while the other pipes keep delivering; a bad config fails with one line; SIGHUP restarts only
 * the changed pipe; a stopped agent (SIGSTOP past the session timeout) and a gateway killed with -9 and
 * restarted are recovered from. Real processes, real directories.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEMO_KEYS, FUSTOR_BIN, eventually, startGateway, type RunningGateway } from './helpers/gateway.ts';
import { runAgentExpectingFailure, startAgent, treeMap } from './helpers/agent.ts';

const run = promisify(execFile);

/** Gateway with one fs view + pipe + ingest key per id. */
function multiConfig(ids: string[], timeout = 30): Record<string, unknown> {
  return {
    host: '127.0.0.1',
    session_cleanup_interval: 0.2,
    receivers: { main: { driver: 'http', api_keys: ids.map((id) => ({ key: `${DEMO_KEYS.agent}-${id}`, pipe_id: id })) } },
    views: Object.fromEntries(ids.map((id) => [id, { driver: 'fs', api_keys: [DEMO_KEYS.query] }])),
    pipes: Object.fromEntries(ids.map((id) => [id, { receiver: 'main', views: [id], session_timeout_seconds: timeout }])),
  };
}

/** Agent with one pipe (own dir, own sender) per id. */
function multiAgent(gw: string, roots: Record<string, string>, extra: Record<string, Record<string, unknown>> = {}): Record<string, unknown> {
  const ids = Object.keys(roots);
  return {
    agent_id: 'agent-f',
    sources: Object.fromEntries(ids.map((id) => [id, { driver: 'fs', uri: roots[id], driver_params: { throttle_interval_sec: 0.2 } }])),
    senders: Object.fromEntries(ids.map((id) => [id, { driver: 'fusion', uri: gw, credential: { key: `${DEMO_KEYS.agent}-${id}` }, timeout: 5 }])),
    pipes: Object.fromEntries(ids.map((id) => [id, { source: id, sender: id, session_timeout_seconds: 2, ...extra[id] }])),
  };
}

function dirs(ids: string[]): Record<string, string> {
  return Object.fromEntries(ids.map((id) => {
    const d = mkdtempSync(join(tmpdir(), `fustor-agent-${id}-`));
    writeFileSync(join(d, 'seed.txt'), id);
    return [id, d];
  }));
}

const inView = (gw: RunningGateway, view: string, path: string) =>
  eventually(async () => (await treeMap(gw, view))?.has(path), 30000, `${path} in ${view}`);

test('a pipe that throws, hangs or runs out of memory is restarted and reported; the other pipe keeps delivering', async (t) => {
  const ids = ['good', 'thrower', 'hanger', 'hog'];
  const roots = dirs(ids);
  const gw = await startGateway(multiConfig(ids));
  // Hang timeout 8 s: the healthy pipe must never miss its heartbeats that long (it is asserted never
  // restarted below), even on a loaded host busy with the three failing workers restarting.
  const agent = await startAgent(multiAgent(gw.url, roots, {
    thrower: { debug_fault: 'throw' },
    hanger: { debug_fault: 'hang' },
    hog: { debug_fault: 'oom', max_memory_mb: 64 },
  }), { env: { FUSTOR_AGENT_HANG_TIMEOUT_SEC: '8', FUSTOR_AGENT_BACKOFF_CAP_SEC: '2' } });
  t.after(async () => {
    await agent.stop();
    await gw.stop();
    for (const d of Object.values(roots)) rmSync(d, { recursive: true, force: true });
  });
  await inView(gw, 'good', '/seed.txt').catch((e: Error) => { throw new Error(`${e.message}\nagent:\n${agent.stdout().split('\n').filter((l) => l.includes('"good"') || !l.includes('"pipe"')).join('\n')}\n${agent.stderr()}`); });
  const expected: Record<string, RegExp> = { thrower: /crashed: debug_fault: throw/, hanger: /hung: no heartbeat/, hog: /out of memory/ };
  for (const [id, re] of Object.entries(expected)) {
    const st = await eventually(async () => {
      const p = await agent.pipe(id);
      return p !== undefined && p.restarts >= 1 && p.failures >= 1 && re.test(p.lastFailure?.reason ?? '') && p;
    }, 60000, `${id} restarted after its fault`);
    assert.match(st.lastFailure!.reason, re);
  }
  // Repeated failures make the pipe degraded (never an exit).
  await eventually(async () => ((await agent.pipe('thrower'))?.degraded ?? []).some((r) => /consecutive failures/.test(r)), 60000, 'thrower degraded');
  // The healthy pipe was never restarted and still delivers.
  writeFileSync(join(roots.good, 'later.txt'), 'later');
  await inView(gw, 'good', '/later.txt');
  const good = await agent.pipe('good');
  assert.equal(good?.restarts, 0, JSON.stringify(good));
  assert.equal(good?.failures, 0);
  assert.equal(agent.proc.exitCode, null, 'the agent process is alive');
  // `fustor agent status` shows it.
  const { stdout } = await run(FUSTOR_BIN, ['agent', 'status', '--state-dir', agent.stateDir]);
  assert.match(stdout, /^PIPE\s+STATE\s+ROLE\s+SESSION\s+EV\/S\s+WALK\s+WATCHES\s+RESTARTS/m);
  assert.match(stdout, /^good\s+running\s+leader\s/m);
  assert.match(stdout, /^thrower\s/m);
  assert.equal(await agent.stop(), 0);
});

test('bad config → one-line error naming file and field, exit non-zero', async () => {
  const res = await runAgentExpectingFailure({
    sources: { s: { driver: 'fs', uri: '/tmp' } },
    senders: { f: { driver: 'fusion', uri: 'http://127.0.0.1:1', credential: { key: 'k-123456789' } } },
    pipes: { p: { source: 'nope', sender: 'f' } },
  });
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, /^fustor: config error in \S+agent\.yaml: pipes\.p\.source: source 'nope' is not defined/);
  assert.equal(res.stderr.trim().split('\n').length, 1);
  const flags = await runAgentExpectingFailure('agent_id: [1, 2]\n');
  assert.notEqual(flags.code, 0);
  assert.match(flags.stderr, /agent_id/);
});

test('SIGHUP with one pipe changed restarts only that pipe; agent reload applies the diff too', async (t) => {
  const ids = ['pa', 'pb'];
  const roots = dirs(ids);
  const gw = await startGateway(multiConfig(ids));
  const agent = await startAgent(multiAgent(gw.url, roots));
  t.after(async () => {
    await agent.stop();
    await gw.stop();
    for (const d of Object.values(roots)) rmSync(d, { recursive: true, force: true });
  });
  await inView(gw, 'pa', '/seed.txt');
  await inView(gw, 'pb', '/seed.txt');
  await agent.reload(multiAgent(gw.url, roots, { pb: { audit_interval_sec: 999 } }));
  const st = await agent.status();
  assert.deepEqual(st.lastReload?.diff, { added: [], removed: [], changed: ['pb'], unchanged: ['pa'] });
  assert.equal(st.pipes.find((p) => p.pipeId === 'pa')?.restarts, 0);
  assert.equal(st.pipes.find((p) => p.pipeId === 'pb')?.restarts, 1);
  writeFileSync(join(roots.pb, 'after-reload.txt'), 'x');
  await inView(gw, 'pb', '/after-reload.txt');
  // `fustor agent reload`: remove pb, keep pa untouched.
  const cfg = multiAgent(gw.url, { pa: roots.pa });
  writeFileSync(join(agent.configDir, 'agent.yaml'), (await import('yaml')).stringify(cfg));
  const { stdout } = await run(FUSTOR_BIN, ['agent', 'reload', '--state-dir', agent.stateDir]);
  assert.match(stdout, /reloaded: added -, removed pb, changed -, unchanged 1/);
  const after = await agent.status();
  assert.deepEqual(after.pipes.map((p) => [p.pipeId, p.restarts]), [['pa', 0]]);
  // An invalid config at reload is refused; the running pipes stay.
  writeFileSync(join(agent.configDir, 'agent.yaml'), 'pipes: { x: { source: nope, sender: nope } }\n');
  const refused = await run(FUSTOR_BIN, ['agent', 'reload', '--state-dir', agent.stateDir]).then(() => null, (e: { code: number; stderr: string }) => e);
  assert.ok(refused !== null && refused.code !== 0);
  assert.match(refused.stderr, /reload refused: config error/);
  assert.deepEqual((await agent.status()).pipes.map((p) => p.pipeId), ['pa']);
});

test('SIGSTOP/SIGCONT past the session timeout → the agent recovers (new session, nothing missing)', async (t) => {
  const roots = dirs(['demo']);
  const gw = await startGateway(multiConfig(['demo'], 2));
  const agent = await startAgent(multiAgent(gw.url, roots));
  t.after(async () => {
    agent.kill('SIGCONT');
    await agent.stop();
    await gw.stop();
    rmSync(roots.demo, { recursive: true, force: true });
  });
  await inView(gw, 'demo', '/seed.txt');
  const before = await eventually(async () => (await agent.pipe('demo'))?.pipe?.sessionId, 20000, 'session id');
  agent.kill('SIGSTOP');
  writeFileSync(join(roots.demo, 'while-stopped.txt'), 'x');
  mkdirSync(join(roots.demo, 'dir-while-stopped'));
  writeFileSync(join(roots.demo, 'dir-while-stopped/f.txt'), 'y');
  // Past the session timeout: the gateway ends the session.
  await eventually(async () => {
    const res = await gw.get('/api/v1/views/demo/sessions');
    const body = await res.json() as { count?: number };
    return res.status !== 200 || body.count === 0;
  }, 20000, 'session expired at the gateway');
  agent.kill('SIGCONT');
  await inView(gw, 'demo', '/while-stopped.txt');
  await inView(gw, 'demo', '/dir-while-stopped/f.txt');
  const after = await eventually(async () => { const p = await agent.pipe('demo'); return p?.pipe?.role === 'leader' && p.pipe.sessionId !== before && p; }, 20000, 'new leader session');
  assert.notEqual(after.pipe?.sessionId, before);
  assert.equal(after.restarts, 0, 'recovered inside the pipe, no restart needed');
});

test('gateway killed (-9) and restarted on the same port under load → agent reconnects, view rebuilt, nothing missing', async (t) => {
  const roots = dirs(['demo']);
  const config = multiConfig(['demo'], 3);
  let gw = await startGateway(config);
  const port = Number(new URL(gw.url).port);
  const agent = await startAgent(multiAgent(gw.url, roots));
  let writing = true;
  const written: string[] = [];
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      writeFileSync(join(roots.demo, `load-${i}.txt`), String(i));
      written.push(`/load-${i}.txt`);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  t.after(async () => {
    writing = false;
    await writer;
    await agent.stop();
    await gw.stop();
    rmSync(roots.demo, { recursive: true, force: true });
  });
  await inView(gw, 'demo', '/seed.txt');
  await new Promise((r) => setTimeout(r, 500));
  gw.proc.kill('SIGKILL');
  await new Promise((r) => gw.proc.once('exit', r));
  await new Promise((r) => setTimeout(r, 1000));
  gw = await startGateway(config, { port });
  await new Promise((r) => setTimeout(r, 1000));
  writing = false;
  await writer;
  await eventually(async () => {
    const m = await treeMap(gw, 'demo');
    return m !== null && m.has('/seed.txt') && written.every((p) => m.has(p));
  }, 60000, `all ${written.length} files in the rebuilt view`);
  assert.equal(agent.proc.exitCode, null);
  assert.equal((await agent.pipe('demo'))?.restarts, 0);
});
