/**
 * Targeted commands (spec 50 "plus targeted commands"): `fustor ctl rescan | restart-pipe | renew | get
 * commands` against real processes — a controller, a managed gateway and two managed agents sharing a
 * directory (one leader, one follower). Rescan starts a full audit on the leader and a root scan on the
 * follower; restart-pipe restarts only the named pipe; renew replaces the credential on the host; bad
 * requests are clear 4xx; a command for an agent that is away waits, expires after its TTL, or is
 * delivered when the agent comes back.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startManagedAgent, type RunningAgent } from './helpers/agent.ts';
import { gatewayDoc, pipeDoc, startController, viewDoc, type RunningController } from './helpers/controller.ts';
import { eventually, startManagedGateway, type RunningGateway } from './helpers/gateway.ts';

// Reports every second and a short reconnect backoff, so nothing waits for 15 s heartbeats.
process.env.FUSTOR_CONTROLLER_HEARTBEAT_SEC = '1';
const ENV = { FUSTOR_MEMBER_RECONNECT_MAX_MS: '1000' };

const work = mkdtempSync(join(tmpdir(), 'fustor-commands-'));
const shared = join(work, 'shared');
const own = join(work, 'own');
let c: RunningController;
let gw: RunningGateway;
const agents = new Map<string, RunningAgent>();

async function startAgent(name: string, token?: string): Promise<RunningAgent> {
  const a = await startManagedAgent({ controller: c.url, name, stateDir: join(work, name), env: ENV, ...(token === undefined ? {} : { token }) });
  agents.set(name, a);
  return a;
}

const ok = async (args: string[]) => {
  const r = await c.ctl(args);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

const pipeOf = async (name: string, pipe: string) => (await agents.get(name)!.pipe(pipe))?.pipe ?? null;

before(async () => {
  mkdirSync(shared, { recursive: true });
  mkdirSync(own, { recursive: true });
  writeFileSync(join(shared, 'a.dat'), 'a');
  c = await startController();
  gw = await startManagedGateway({ controller: c.url, stateDir: join(work, 'gw'), token: await ok(['token', 'create', '--kind', 'gateway']), name: 'cgw', env: ENV });
  const token = await ok(['token', 'create', '--kind', 'agent', '--labels', 'site=cmd', '--uses', '2']);
  await startAgent('cmd-a', token);
  await startAgent('cmd-b', token);
  const res = await c.json('/api/v1/apply', 'POST', {
    body: [
      gatewayDoc('cgw', gw.url), viewDoc('cview', 'cgw'), viewDoc('cown', 'cgw'),
      pipeDoc('p1', 'cview', { agentSelector: { matchLabels: { site: 'cmd' } }, source: { driver: 'fs', uri: shared } }),
      pipeDoc('p2', 'cown', { agent: 'cmd-a', agentSelector: undefined, source: { driver: 'fs', uri: own } }),
    ],
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  // p1 has a leader and a follower; p2 (one agent) a leader; every pipe has finished its snapshot.
  await eventually(async () => {
    const roles = [await pipeOf('cmd-a', 'p1'), await pipeOf('cmd-b', 'p1')].map((p) => p?.role).sort();
    const p2 = await pipeOf('cmd-a', 'p2');
    return roles[0] === 'follower' && roles[1] === 'leader' && p2?.role === 'leader' && p2.leaderWork !== 'snapshot' && p2.snapshots > 0;
  }, 60000, 'pipes running with one leader each').catch(async (e: Error) => {
    throw new Error(`${e.message}: ${JSON.stringify(await Promise.all([...agents.values()].map(async (a) => (await a.status()).pipes)))}`);
  });
});

after(async () => {
  for (const a of agents.values()) await a.stop().catch(() => undefined);
  await gw?.stop().catch(() => undefined);
  await c?.stop().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

test('rescan: the leader starts a full audit, the follower a scan of the root; without --pipe every pipe of the agent', async () => {
  const leader = (await pipeOf('cmd-a', 'p1'))?.role === 'leader' ? 'cmd-a' : 'cmd-b';
  const follower = leader === 'cmd-a' ? 'cmd-b' : 'cmd-a';
  await eventually(async () => (await pipeOf(leader, 'p1'))?.leaderWork === 'idle', 60000, 'leader idle after its snapshot');
  const audits = (await pipeOf(leader, 'p1'))!.audits;
  const out = await ok(['rescan', leader, '--pipe', 'p1']);
  assert.match(out, /^command c-[0-9a-f]+ succeeded: pipe p1: full audit started \(leader; audit cache cleared\)$/);
  await eventually(async () => ((await pipeOf(leader, 'p1'))?.audits ?? 0) > audits, 30000, 'the audit ran on the leader');

  const scans = (await pipeOf(follower, 'p1'))!.scans;
  assert.match(await ok(['rescan', follower, '--pipe', 'p1']), /succeeded: pipe p1: scan of the whole root started \(follower; the leader audits\)$/);
  await eventually(async () => ((await pipeOf(follower, 'p1'))?.scans ?? 0) > scans, 30000, 'the scan ran on the follower');

  const all = await ok(['rescan', 'cmd-a']);
  assert.match(all, /pipe p1: .*; pipe p2: /, 'both pipes of cmd-a answered');
});

test('restart-pipe restarts only that pipe; renew replaces the credential on the host (agents and gateways)', async () => {
  const p1 = await agents.get('cmd-a')!.pipe('p1');
  const p2 = await agents.get('cmd-a')!.pipe('p2');
  assert.match(await ok(['restart-pipe', 'cmd-a', 'p2']), /succeeded: pipe p2 restarted/);
  await eventually(async () => {
    const now = await agents.get('cmd-a')!.pipe('p2');
    return now !== undefined && now.startedAt !== p2?.startedAt && now.restarts === (p2?.restarts ?? 0) + 1 && now.state === 'running';
  }, 30000, 'p2 restarted and running');
  assert.equal((await agents.get('cmd-a')!.pipe('p1'))?.startedAt, p1?.startedAt, 'p1 was not restarted');

  const credFile = join(work, 'cmd-a', 'identity', 'credential');
  const before = readFileSync(credFile, 'utf8');
  assert.match(await ok(['renew', 'agent', 'cmd-a']), /succeeded: credential renewed; expires at \d{4}-/);
  assert.notEqual(readFileSync(credFile, 'utf8'), before, 'a new credential is on the host');
  assert.match(await ok(['renew', 'gateway', 'cgw']), /succeeded: credential renewed/);

  // The agent still pushes with the renewed credential: a new file reaches the view.
  const key = await ok(['key', 'create', 'cmdkey', '--views', 'cview']);
  writeFileSync(join(shared, 'after-renew.dat'), 'r');
  await eventually(async () => (await gw.get('/api/v1/views/cview/metadata?path=/after-renew.dat', key)).status === 200, 30000, 'file pushed after the renewal');
});

test('refused: unknown agent or pipe, a command the kind does not take, bad bodies, a viewer token, a revoked member — one line, nothing stored', async () => {
  const count = async () => ((await c.json('/api/v1/commands', 'GET')).body.items as unknown[]).length;
  const n = await count();
  const expectFail = async (args: string[], re: RegExp) => {
    const r = await c.ctl(args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  };
  await expectFail(['rescan', 'nobody'], /^fustor: 404: no agent named 'nobody' is enrolled/);
  await expectFail(['restart-pipe', 'cmd-b', 'p2'], /404: agent 'cmd-b' runs no pipe 'p2'; its pipes: p1$/m);
  await expectFail(['renew', 'pipe', 'p1'], /'pipe' has no credential to renew: use agent or gateway/);
  await expectFail(['rescan', 'cmd-a', '--ttl', 'soon'], /duration/);

  const post = (path: string, body: unknown, token?: string | null) => c.json(path, 'POST', { body, ...(token === undefined ? {} : { token }) });
  assert.equal((await post('/api/v1/gateways/cgw/commands', { command: 'rescan' })).status, 400);
  assert.equal((await post('/api/v1/agents/cmd-a/commands', { command: 'restart_pipe' })).status, 400);
  assert.equal((await post('/api/v1/agents/cmd-a/commands', { command: 'renew_credential', pipe: 'p1' })).status, 400);
  assert.equal((await post('/api/v1/agents/cmd-a/commands', { command: 'format_disk' })).status, 422);
  assert.equal((await post('/api/v1/agents/cmd-a/commands', { command: 'rescan', ttl_sec: 0 })).status, 422);
  assert.equal((await post('/api/v1/agents/cmd-a/commands', { command: 'rescan' }, null)).status, 401);
  const viewer = await ok(['token', 'operator', 'watcher', '--role', 'viewer']);
  assert.equal((await post('/api/v1/agents/cmd-a/commands', { command: 'rescan' }, viewer)).status, 403);
  assert.equal((await c.json('/api/v1/commands', 'GET', { token: viewer })).status, 200, 'a viewer may read commands');
  assert.equal((await c.json('/api/v1/commands/c-nope', 'GET')).status, 404);
  assert.equal(await count(), n, 'no refused command was stored');

  // An agent's own credential cannot send or read commands.
  const cred = readFileSync(join(work, 'cmd-b', 'identity', 'credential'), 'utf8').trim();
  assert.equal((await post('/api/v1/agents/cmd-a/commands', { command: 'rescan' }, cred)).status, 401);
});

test('an agent that is away: the command waits (exit 1 after --wait), expires after --ttl, or is delivered when it returns; get commands and history show them', async () => {
  await agents.get('cmd-b')!.stop();
  await eventually(async () => (await c.json('/api/v1/agents/cmd-b', 'GET')).body.connected === false, 20000, 'controller sees cmd-b gone');

  const waited = await c.ctl(['rescan', 'cmd-b', '--wait', '1s']);
  assert.equal(waited.code, 1);
  assert.match(waited.stderr, /^fustor: command c-[0-9a-f]+ still pending after 1s: agent 'cmd-b' is not connected; the controller keeps trying until /);

  const shortId = await ok(['rescan', 'cmd-b', '--no-wait', '--ttl', '1s']);
  assert.match(shortId, /^c-[0-9a-f]+$/);
  await eventually(async () => (await c.json(`/api/v1/commands/${shortId}`, 'GET')).body.state === 'expired', 10000, 'expired after its ttl');

  const laterId = await ok(['renew', 'agent', 'cmd-b', '--no-wait']);
  assert.equal((await c.json(`/api/v1/commands/${laterId}`, 'GET')).body.state, 'pending');
  await startAgent('cmd-b');
  const done = await eventually(async () => {
    const r = await c.json(`/api/v1/commands/${laterId}`, 'GET');
    return r.body.state === 'succeeded' ? r.body : null;
  }, 30000, 'delivered when the agent came back');
  assert.match(String(done.message), /credential renewed/);
  assert.notEqual(done.delivered_at, null);
  const expired = await c.json(`/api/v1/commands/${shortId}`, 'GET');
  assert.equal(expired.body.state, 'expired', 'an expired command is never delivered, even when the agent returns');

  const table = await ok(['get', 'commands']);
  assert.match(table, /^ID\s+MEMBER\s+COMMAND\s+PIPE\s+STATE/);
  assert.match(table, new RegExp(`${laterId}\\s+agent/cmd-b\\s+renew_credential\\s+-\\s+succeeded`));
  assert.match(table, new RegExp(`${shortId}\\s+agent/cmd-b\\s+rescan\\s+-\\s+expired`));
  const detail = await ok(['get', 'agent', 'cmd-b']);
  assert.match(detail, /COMMAND\s+PIPE\s+STATE\s+CREATED\s+MESSAGE/, 'get agent NAME ends with its recent commands');
  assert.match(detail, /renew_credential\s+-\s+succeeded\s+\S+\s+credential renewed/);
  assert.match(detail, /rescan\s+-\s+expired/);
  const one = JSON.parse(await ok(['get', 'commands', laterId, '-o', 'json'])) as { id: string; actor: string };
  assert.equal(one.id, laterId);
  assert.equal(one.actor, 'admin');
  const history = JSON.parse(await ok(['history', '-o', 'json'])) as { action: string; name: string }[];
  assert.ok(history.some((e) => e.action === 'command.renew_credential' && e.name === 'cmd-b'), 'the audit log records who sent what to whom');

  // Revoked members take no commands.
  await ok(['revoke', 'agent', 'cmd-b']);
  const r = await c.ctl(['rescan', 'cmd-b']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /409: agent 'cmd-b' is revoked: it receives no commands/);
});
