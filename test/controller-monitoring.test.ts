/**
 * Fleet monitoring against a REAL controller process (heartbeat 1 s), with members simulated by the real
 * member-side channel client after a real enrollment: states computed from reports (healthy, degraded,
 * unhealthy, offline, revoked), gateway views, a suspected partition when most members drop at once,
 * `/metrics`, and `fustor ctl get agents|gateway-members|fleet`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ControlChannelClient, type MemberReport } from '../src/kernel/control-channel-client.ts';
import type { AgentInfo, ApplyStatus, FleetStatus, GatewayMemberInfo } from '../src/protocol/index.ts';
import { startController, type RunningController, enrollMember } from './helpers/controller.ts';

// Read by the controller process (src/controller/channel/member-plane.ts): offline after 3 s without a report.
process.env.FUSTOR_CONTROLLER_HEARTBEAT_SEC = '1';

let c: RunningController;
const clients: ControlChannelClient[] = [];

before(async () => { c = await startController(); });
after(async () => {
  await Promise.all(clients.map((cl) => cl.stop()));
  await c.stop();
});

async function enroll(ctl: RunningController, name: string, kind: 'agent' | 'gateway' = 'agent'): Promise<string> {
  return (await enrollMember(ctl, { name, kind })).credential;
}

/** A member on the real channel client; `report` is read on every heartbeat, so tests change it in place. */
function connect(ctl: RunningController, credential: string, report: () => MemberReport, answer: () => { status: ApplyStatus; error?: string } = () => ({ status: 'APPLIED' })): ControlChannelClient {
  const cl = new ControlChannelClient({ url: ctl.url, credential: () => credential, report, onManifest: async () => answer(), backoff: { baseMs: 50, maxMs: 500 } });
  clients.push(cl);
  cl.start();
  return cl;
}

/** Polls `read` until `ok` holds (generous deadline: the states depend on heartbeats). */
async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  let last: T = await read();
  while (!ok(last)) {
    if (Date.now() > end) throw new Error(`${what}: not reached; last seen ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
    last = await read();
  }
  return last;
}

const agent = (name: string, ctl = c) => async () => (await ctl.json(`/api/v1/agents/${name}`, 'GET')).body as unknown as AgentInfo;
const fleet = (ctl = c) => async () => (await ctl.json('/api/v1/fleet', 'GET')).body as unknown as FleetStatus;

const running = (id: string, extra: Record<string, unknown> = {}) => ({ id, state: 'running', events_per_sec: 12.5, backlog: 3, freshness_lag_sec: 1.5, role: 'leader' as const, ...extra });

test('a reporting agent is healthy: running revision, apply status, version, pipes and host metrics in the API', async () => {
  connect(c, await enroll(c, 'mon-ok'), () => ({ version: '0.1.0', components: [running('p1')], metrics: { load1: 0.25 } }));
  // `connected` (the controller's view of the channel) is polled with the state: a loaded host can drop and
  // reopen the channel between reports.
  const a = await eventually(agent('mon-ok'), (a) => a.state === 'healthy' && a.running_revision !== null && a.connected, 'mon-ok healthy and connected with a running manifest');
  assert.deepEqual(a.reasons, []);
  assert.equal(a.connected, true);
  assert.equal(a.apply_status, 'APPLIED');
  assert.equal(a.version, '0.1.0');
  assert.match(a.running_hash ?? '', /^sha256:/);
  assert.deepEqual(a.pipes, [{ id: 'p1', state: 'running', role: 'leader', events_per_sec: 12.5, backlog: 3, freshness_lag_sec: 1.5, degraded_reasons: [] }]);
  assert.deepEqual(a.metrics, { load1: 0.25 });
  assert.ok(a.last_seen !== null);
  const list = (await c.json('/api/v1/agents', 'GET')).body.items as AgentInfo[];
  assert.ok(list.some((x) => x.name === 'mon-ok' && x.state === 'healthy'));
});

test('degraded_reasons in a report → degraded with the reason; clearing them → healthy again', async () => {
  let reasons: string[] = ['inotify watch limit reached'];
  connect(c, await enroll(c, 'mon-deg'), () => ({ version: '0.1.0', components: [running('p1', { degraded_reasons: reasons })] }));
  const a = await eventually(agent('mon-deg'), (a) => a.state === 'degraded', 'mon-deg degraded');
  assert.deepEqual(a.reasons, ['pipe p1: inotify watch limit reached']);
  assert.deepEqual(a.pipes[0].degraded_reasons, ['inotify watch limit reached']);
  reasons = [];
  await eventually(agent('mon-deg'), (a) => a.state === 'healthy', 'mon-deg healthy after the reason cleared');
});

test('a manifest the agent fails to apply → unhealthy with the error (nothing running)', async () => {
  connect(c, await enroll(c, 'mon-fail'), () => ({ version: '0.1.0' }), () => ({ status: 'FAILED', error: 'cannot open /data/a: EACCES' }));
  const a = await eventually(agent('mon-fail'), (a) => a.state === 'unhealthy', 'mon-fail unhealthy');
  assert.equal(a.apply_status, 'FAILED');
  assert.equal(a.apply_error, 'cannot open /data/a: EACCES');
  assert.deepEqual(a.reasons, ['apply failed: cannot open /data/a: EACCES; nothing running']);
});

test('a gateway shows its views (sessions, leaders, ready) and advertised URL; a view not ready is degraded', async () => {
  let ready = false;
  connect(c, await enroll(c, 'mon-gw', 'gateway'), () => ({
    version: '0.1.0', advertise_url: 'http://gw.example:8101', components: [{ id: 'v1', state: 'running', sessions: 2, leaders: ['agent-a'], ready }],
  }));
  const get = async () => (await c.json('/api/v1/gateways/mon-gw', 'GET')).body as unknown as GatewayMemberInfo;
  const g = await eventually(get, (g) => g.state === 'degraded', 'mon-gw degraded while v1 is not ready');
  assert.deepEqual(g.reasons, ['view v1 not ready']);
  assert.equal(g.advertise_url, 'http://gw.example:8101');
  ready = true;
  const h = await eventually(get, (g) => g.state === 'healthy', 'mon-gw healthy once v1 is ready');
  assert.deepEqual(h.views, [{ id: 'v1', state: 'running', sessions: 2, leaders: ['agent-a'], ready: true, events_per_sec: null, backlog: null, freshness_lag_sec: null, degraded_reasons: [] }]);
  const list = (await c.json('/api/v1/gateways', 'GET')).body.items as GatewayMemberInfo[];
  assert.deepEqual(list.map((x) => x.name), ['mon-gw']);
  assert.equal((await c.json('/api/v1/gateways/nope', 'GET')).status, 404);
});

test('never connected → offline "never connected"; a member that stops → offline after 3 missed heartbeats; revoked → revoked', async () => {
  await enroll(c, 'mon-never');
  const never = await agent('mon-never')();
  assert.equal(never.state, 'offline');
  assert.deepEqual(never.reasons, ['never connected']);

  const cl = connect(c, await enroll(c, 'mon-stop'), () => ({ version: '0.1.0', components: [running('p1')] }));
  await eventually(agent('mon-stop'), (a) => a.state === 'healthy', 'mon-stop healthy');
  await cl.stop();
  const off = await eventually(agent('mon-stop'), (a) => a.state === 'offline', 'mon-stop offline');
  assert.equal(off.connected, false);
  assert.ok(off.reasons.some((r) => /^no report for \d+(\.\d)? s \(3 heartbeats of 1 s missed\)$/.test(r)), JSON.stringify(off.reasons));

  assert.equal((await c.json('/api/v1/members/agent/mon-fail/revoke', 'POST')).status, 200);
  const rev = await agent('mon-fail')();
  assert.equal(rev.state, 'revoked');
  assert.match(rev.reasons[0], /^revoked at /);
  assert.equal((await c.json('/api/v1/agents/nope', 'GET')).status, 404);
});

test('/metrics: member counts by kind and state, per-pipe gauges, revision; authenticated like every endpoint', async () => {
  assert.equal((await c.request('/metrics', 'GET', { token: null })).status, 401);
  const viewer = (await c.json('/api/v1/tokens/operator', 'POST', { body: { name: 'metrics-reader', role: 'viewer' } })).body.token as string;
  // Polled: the members of the earlier tests report every second, and a scrape sees the fleet of that instant.
  const online = [
    /^fustor_controller_members\{kind="gateway",state="healthy"\} 1$/m,
    /^fustor_controller_member_freshness_lag_seconds\{kind="agent",member="mon-ok",component="p1"\} 1\.5$/m,
    /^fustor_controller_member_events_per_second\{kind="agent",member="mon-ok",component="p1"\} 12\.5$/m,
    /^fustor_controller_member_backlog\{kind="agent",member="mon-ok",component="p1"\} 3$/m,
  ];
  const scrape = async () => {
    const res = await c.request('/metrics', 'GET', { token: viewer });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    return res.text();
  };
  const text = await eventually(scrape, (t) => online.every((re) => re.test(t)), 'metrics of the online members');
  assert.match(text, /^fustor_controller_members\{kind="agent",state="revoked"\} 1$/m);
  assert.match(text, /^fustor_controller_members\{kind="agent",state="offline"\} [1-9]/m);
  assert.match(text, /^fustor_controller_partition_suspected [01]$/m);
  assert.doesNotMatch(text, /member="mon-stop"/, 'an offline member has no per-pipe series');
  assert.match(text, /^fustor_controller_channel_connections \d+$/m);
  assert.match(text, /^fustor_controller_admissions_refused_total 0$/m);
  assert.match(text, /^fustor_controller_revision \d+$/m);
});

test('ctl get agents (table, -o json), get agent NAME, get gateway-members, get fleet -o json', async () => {
  // Each listing is retried until the members of the earlier tests show as online (they report every second).
  const okRow = /^mon-ok\s+healthy\s+\d+\s+1\/1\s+2s\s+\d+s ago\s+-$/m;
  const ctlUntil = (args: string[], re: RegExp) => eventually(() => c.ctl(args), (r) => r.code !== 0 || re.test(r.stdout), `ctl ${args.join(' ')}`);
  const [table, json, one, gws, fl, gatewaysResources] = await Promise.all([
    ctlUntil(['get', 'agents'], okRow), ctlUntil(['get', 'agents', '-o', 'json'], /"state": "healthy"/), ctlUntil(['get', 'agent', 'mon-ok'], okRow),
    ctlUntil(['get', 'gateway-members'], /^mon-gw\s+healthy/m), ctlUntil(['get', 'fleet', '-o', 'json'], /"healthy": 1/), c.ctl(['get', 'gateways']),
  ]);
  for (const r of [table, json, one, gws, fl, gatewaysResources]) assert.equal(r.code, 0, r.stderr);
  const lines = table.stdout.trim().split('\n');
  assert.deepEqual(lines[0].split(/\s+/), ['NAME', 'STATE', 'REVISION', 'PIPES', 'LAG', 'LAST-SEEN', 'REASON']);
  assert.match(table.stdout, /^mon-fail\s+revoked\s+-\s+-\s+-\s+\S+ ago\s+revoked at \S+$/m);
  assert.match(table.stdout, /^mon-never\s+offline\s+-\s+-\s+-\s+never\s+never connected$/m);
  const items = JSON.parse(json.stdout) as AgentInfo[];
  assert.deepEqual(items.find((a) => a.name === 'mon-ok')?.pipes.map((p) => p.id), ['p1']);
  assert.match(one.stdout, /^PIPE\s+STATE\s+ROLE\s+EVENTS\/S\s+BACKLOG\s+LAG\s+REASONS$/m);
  assert.match(one.stdout, /^p1\s+running\s+leader\s+12\.5\s+3\s+2s\s+-$/m);
  assert.match(gws.stdout, /^NAME\s+STATE\s+REVISION\s+VIEWS\s+LAG\s+LAST-SEEN\s+REASON$/m);
  assert.match(gws.stdout, /^mon-gw\s+healthy\s+\d+\s+1\/1\s+-\s+\d+s ago\s+-$/m);
  assert.equal(gatewaysResources.stdout.trim(), 'NAME  REVISION  SPEC', '`get gateways` stays the Gateway resources');
  const f = JSON.parse(fl.stdout) as FleetStatus;
  assert.equal(f.heartbeat_sec, 1);
  assert.equal(f.offline_after_sec, 3);
  assert.equal(f.agents.revoked, 1);
  assert.equal(f.gateways.healthy + f.gateways.offline, 1);
  assert.equal(typeof f.desired_revision, 'number');
});

test('most members dropping at once → partition_suspected with a reason, named by each member; ctl get fleet warns', async () => {
  const p = await startController();
  try {
    const names = ['part-1', 'part-2', 'part-3', 'part-4'];
    const cls = await Promise.all(names.map(async (n) => connect(p, await enroll(p, n), () => ({ version: '0.1.0', components: [running('p1')] }))));
    for (const n of names) await eventually(agent(n, p), (a) => a.state === 'healthy', `${n} healthy`);
    await Promise.all(cls.slice(0, 3).map((cl) => cl.stop()));
    const f = await eventually(fleet(p), (f) => f.partition_suspected, 'partition suspected');
    assert.match(f.partition_reason ?? '', /^possible network partition between the controller and [34] members, last seen within \d+ s of each other$/);
    for (const n of names.slice(0, 3)) assert.ok(f.partition_members.includes(`agent/${n}`), JSON.stringify(f.partition_members));
    const a = await agent('part-1', p)();
    assert.equal(a.state, 'offline');
    assert.match(a.reasons[0], /^possible network partition between the controller and [34] members/);
    const text = await (await p.request('/metrics', 'GET')).text();
    assert.match(text, /^fustor_controller_partition_suspected 1$/m);
    const out = await p.ctl(['get', 'fleet']);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^desired revision \d+; heartbeat 1 s, offline after 3 s without a report$/m);
    assert.match(out.stdout, /^KIND\s+TOTAL\s+HEALTHY\s+DEGRADED\s+UNHEALTHY\s+UPDATING\s+OFFLINE\s+REVOKED$/m);
    assert.match(out.stdout, /^WARNING: possible network partition between the controller and \d members, .*\(agent\/part-1, /m);
  } finally {
    await p.stop();
  }
});
