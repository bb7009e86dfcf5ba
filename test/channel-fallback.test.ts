/**
 * The channel's long-poll fallback (spec 50 "WebSocket with an HTTP long-poll fallback"), with real
 * processes: a managed agent reaches the controller only through an HTTP proxy that refuses WebSocket
 * upgrades (as many corporate proxies do). It enrolls, falls back to long-poll, receives and acknowledges
 * manifests, answers commands, is seen as connected, and is told when it is revoked. FUSTOR_MEMBER_CHANNEL
 * forces a transport (and a bad value is one line).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect } from 'node:net';
import { ControlChannelClient } from '../src/kernel/control-channel-client.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startManagedAgent, type RunningAgent } from './helpers/agent.ts';
import { gatewayDoc, pipeDoc, startController, viewDoc, type RunningController, enrollMember } from './helpers/controller.ts';
import { eventually, FUSTOR_BIN } from './helpers/gateway.ts';

process.env.FUSTOR_CONTROLLER_HEARTBEAT_SEC = '1';
const ENV = { FUSTOR_MEMBER_RECONNECT_MAX_MS: '1000' };

const work = mkdtempSync(join(tmpdir(), 'fustor-fallback-'));
let c: RunningController;
let proxy: Server;
let proxyUrl: string;
const seen = { upgradesRefused: 0, upgradesForwarded: 0, polls: 0 };
/** Set to let the proxy carry WebSockets (the path got fixed). */
let allowUpgrades = false;
const agents: RunningAgent[] = [];

/** Forwards plain HTTP to the controller; answers every WebSocket upgrade with 400, like a proxy without WebSocket support. */
function startProxy(target: URL): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/api/v1/channel/poll') === true) seen.polls++;
    const up = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('upgrade', (req, socket, head) => {
    if (allowUpgrades) {
      seen.upgradesForwarded++;
      const up = connect(Number(target.port), target.hostname, () => {
        up.write(`${req.method} ${req.url} HTTP/1.1\r\n${Object.entries(req.headers).map(([k, v]) => `${k}: ${String(v)}`).join('\r\n')}\r\n\r\n`);
        up.write(head);
        up.pipe(socket).pipe(up);
      });
      up.on('error', () => socket.destroy());
      socket.on('error', () => up.destroy());
      return;
    }
    seen.upgradesRefused++;
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 28\r\nConnection: close\r\n\r\nWebSocket is not supported.\n');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

before(async () => {
  c = await startController();
  proxy = await startProxy(new URL(c.url));
  const addr = proxy.address();
  proxyUrl = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
});

after(async () => {
  for (const a of agents) await a.stop().catch(() => undefined);
  proxy?.closeAllConnections();
  await new Promise((r) => proxy?.close(r));
  await c?.stop();
  rmSync(work, { recursive: true, force: true });
});

const ok = async (args: string[]) => {
  const r = await c.ctl(args);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

async function apply(docs: Record<string, unknown>[]): Promise<number> {
  const res = await c.json('/api/v1/apply', 'POST', { body: docs });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.revision as number;
}

test('behind a proxy that refuses WebSockets: the agent falls back to long-poll, runs and acknowledges manifests, answers commands, is connected, and learns its revocation', async () => {
  const token = await ok(['token', 'create', '--kind', 'agent']);
  const a = await startManagedAgent({ controller: proxyUrl, token, name: 'behind-proxy', stateDir: join(work, 'a'), env: ENV });
  agents.push(a);
  await eventually(async () => /channel open over long-poll \(the WebSocket upgrade failed \(HTTP 400\)\)/.test(a.stdout()), 20000, 'fallback logged');
  assert.ok(seen.upgradesRefused >= 1, 'the WebSocket was tried first');
  await eventually(async () => (await c.json('/api/v1/agents/behind-proxy', 'GET')).body.connected === true, 20000, 'connected over long-poll');

  const root = mkdtempSync(join(work, 'root-'));
  const rev1 = await apply([gatewayDoc('pgw', 'http://127.0.0.1:9'), viewDoc('pv', 'pgw'), pipeDoc('pp', 'pv', { agent: 'behind-proxy', agentSelector: undefined, source: { driver: 'fs', uri: root } })]);
  await eventually(async () => (await a.pipe('pp'))?.state === 'running', 20000, 'the pipe of the manifest runs');
  await eventually(async () => {
    const r = (await c.json('/api/v1/agents/behind-proxy', 'GET')).body;
    return r.running_revision === rev1 && r.apply_status === 'APPLIED' && r.connected === true ? r : null;
  }, 20000, 'the controller sees the ack and the member connected');
  const rev2 = await apply([pipeDoc('pp', 'pv', { agent: 'behind-proxy', agentSelector: undefined, source: { driver: 'fs', uri: root }, audit_interval_sec: 60 })]);
  await eventually(async () => (await c.json('/api/v1/agents/behind-proxy', 'GET')).body.running_revision === rev2, 20000, 'a change is pushed and acked over long-poll');

  assert.match(await ok(['renew', 'agent', 'behind-proxy']), /succeeded: credential renewed/);
  assert.match(await ok(['restart-pipe', 'behind-proxy', 'pp']), /succeeded: pipe pp restarted/);
  assert.ok(seen.polls > 3, `long-poll exchanges went through the proxy (${seen.polls})`);

  await ok(['revoke', 'agent', 'behind-proxy']);
  await eventually(async () => ((await a.status()).managed?.lastError ?? '').includes('revoked'), 20000, 'the agent knows it is revoked');
  await eventually(async () => (await a.status()).pipes.length === 0, 20000, 'its pipes stopped');
});

test('FUSTOR_MEMBER_CHANNEL=poll skips the WebSocket; a bad value is one line naming the variable', async () => {
  const token = await ok(['token', 'create', '--kind', 'agent']);
  const refused = seen.upgradesRefused;
  const a = await startManagedAgent({ controller: proxyUrl, token, name: 'poll-only', stateDir: join(work, 'b'), env: { ...ENV, FUSTOR_MEMBER_CHANNEL: 'poll' } });
  agents.push(a);
  await eventually(async () => (await c.json('/api/v1/agents/poll-only', 'GET')).body.connected === true, 20000, 'connected');
  await eventually(async () => /channel open over long-poll"/.test(a.stdout()), 20000, 'long-poll logged without a fallback reason');
  assert.equal(seen.upgradesRefused, refused, 'no upgrade attempted');

  const bad = spawnSync(FUSTOR_BIN, ['agent', '--controller', c.url, '--token', 'x', '--state-dir', join(work, 'c')], { env: { ...process.env, FUSTOR_MEMBER_CHANNEL: 'carrier-pigeon' }, encoding: 'utf8', timeout: 30000 });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /FUSTOR_MEMBER_CHANNEL must be auto, websocket or poll, not "carrier-pigeon"/);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
});

test('in long-poll mode the WebSocket is probed again: once the path carries it, the channel moves back to WebSocket', async () => {
  const token = await ok(['token', 'create', '--kind', 'agent']);
  const enrolled = await enrollMember(c, { token, name: 'prober' });
  const opened: string[] = [];
  const client = new ControlChannelClient({
    url: proxyUrl, credential: () => enrolled.credential, report: () => ({ version: '0.1.0' }), backoff: { baseMs: 50, maxMs: 500 },
    onManifest: async () => ({ status: 'APPLIED' }), onOpen: (t) => opened.push(t), websocketProbeMs: 1000,
  });
  allowUpgrades = false;
  client.start();
  try {
    await eventually(async () => client.transport === 'long-poll', 20000, 'long-poll first');
    // The probe (every second here) ends the current long-poll session, so `connected` flaps: poll for it.
    await eventually(async () => (await c.json('/api/v1/agents/prober', 'GET')).body.connected === true, 20000, 'connected over long-poll');
    const refusedBefore = seen.upgradesRefused;
    await eventually(async () => seen.upgradesRefused > refusedBefore, 20000, 'the WebSocket is probed again');
    await eventually(async () => client.transport === 'long-poll', 20000, 'a refused probe goes back to long-poll');
    allowUpgrades = true;
    await eventually(async () => client.transport === 'websocket', 20000, 'moved to WebSocket');
    assert.ok(seen.upgradesForwarded >= 1);
    assert.deepEqual([opened[0], opened.at(-1)], ['long-poll', 'websocket']);
    await eventually(async () => (await c.json('/api/v1/agents/prober', 'GET')).body.connected === true, 20000, 'connected over WebSocket');
  } finally {
    allowUpgrades = false;
    await client.stop();
  }
});
