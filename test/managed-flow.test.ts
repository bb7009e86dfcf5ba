/**
 * The managed flow end to end, with real processes only: a controller, a managed gateway
 * (`fustor fusion --controller`) and two managed agents (`fustor agent --controller`) on a real directory.
 * Enroll with tokens → apply a View and a Pipe by selector → files appear in the view (`fustor find`);
 * change the pipe → the agents ack the new revision; kill -9 the controller → data keeps flowing and
 * queries keep answering; the controller returns → members reconnect; revoke an agent → the gateway
 * refuses its data while the other agent keeps feeding the view.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { startManagedAgent, type RunningAgent } from './helpers/agent.ts';
import { gatewayDoc, pipeDoc, startController, viewDoc, type RunningController } from './helpers/controller.ts';
import { eventually, FUSTOR_BIN, startManagedGateway, type RunningGateway } from './helpers/gateway.ts';

const run = promisify(execFile);
// Reports every second and short reconnect backoff, so the test does not wait for 15 s heartbeats.
process.env.FUSTOR_CONTROLLER_HEARTBEAT_SEC = '1';
const ENV = { FUSTOR_MEMBER_RECONNECT_MAX_MS: '1000' };

const work = mkdtempSync(join(tmpdir(), 'fustor-flow-'));
const root = join(work, 'data');
const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

test('managed flow: enroll, apply by selector, files appear; pipe change acked; controller kill -9; revoked agent refused by the gateway', async () => {
  writeFileSync(join(work, '.keep'), '');
  await import('node:fs/promises').then((fs) => fs.mkdir(join(root, 'in'), { recursive: true }));
  writeFileSync(join(root, 'in', 'first.dat'), 'x');
  const dataDir = join(work, 'controller');
  let c: RunningController = await startController({ dataDir });
  cleanup.push(() => c.stop());
  const port = new URL(c.url).port;
  const ctl = async (args: string[]) => {
    const r = await c.ctl(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };

  // Enrollment with tokens: one gateway, two agents sharing a label.
  const gwToken = await ctl(['token', 'create', '--kind', 'gateway']);
  const gw: RunningGateway = await startManagedGateway({ controller: c.url, stateDir: join(work, 'gw'), token: gwToken, name: 'gw1', env: ENV });
  cleanup.push(() => gw.stop());
  const agentToken = await ctl(['token', 'create', '--kind', 'agent', '--labels', 'site=lab', '--uses', '2']);
  const agents: RunningAgent[] = [];
  for (const name of ['host-a', 'host-b']) {
    const a = await startManagedAgent({ controller: c.url, token: agentToken, name, stateDir: join(work, name), env: ENV });
    agents.push(a);
    cleanup.push(() => a.stop());
  }
  const [hostA, hostB] = agents;

  // Desired state: a view on the gateway and a pipe every site=lab agent runs.
  const docs = join(work, 'docs.yaml');
  const pipe = (extra: Record<string, unknown> = {}) => pipeDoc('lab', 'labview', { agentSelector: { matchLabels: { site: 'lab' } }, source: { driver: 'fs', uri: root }, ...extra });
  writeFileSync(docs, [gatewayDoc('gw1', gw.url), viewDoc('labview', 'gw1'), pipe()].map((d) => JSON.stringify(d)).join('\n---\n'));
  assert.match(await ctl(['apply', '-f', docs]), /revision \d+/);
  const key = await ctl(['key', 'create', 'reviewers', '--views', 'labview']);

  const find = async () => {
    const r = await run(FUSTOR_BIN, ['find', '--server', gw.url, '--key', key, '--view', 'labview', '-name', '*.dat']).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
    return r.stdout.split('\n').filter(Boolean).sort();
  };
  await eventually(async () => (await find()).includes('/in/first.dat'), 60000, 'first file in the view');
  writeFileSync(join(root, 'in', 'second.dat'), 'y');
  await eventually(async () => (await find()).includes('/in/second.dat'), 30000, 'realtime file in the view');

  // Both agents feed the view (one leader, one follower), identified by their enrolled names.
  const sessions = async () => {
    const res = await gw.get('/api/v1/views/labview/sessions', key);
    if (res.status !== 200) return [];
    return (await res.json() as { active_sessions: { agent_id: string; role: string }[] }).active_sessions;
  };
  await eventually(async () => (await sessions()).length === 2, 30000, 'two sessions');
  assert.deepEqual((await sessions()).map((s) => s.role).sort(), ['follower', 'leader']);

  // Change the pipe: both agents apply and acknowledge the new revision.
  writeFileSync(docs, [gatewayDoc('gw1', gw.url), viewDoc('labview', 'gw1'), pipe({ audit_interval_sec: 600 })].map((d) => JSON.stringify(d)).join('\n---\n'));
  const rev = Number(/revision (\d+)/.exec(await ctl(['apply', '-f', docs]))![1]);
  for (const a of agents) await eventually(async () => (await a.status()).managed?.revision === rev, 30000, 'new revision applied');
  await eventually(async () => {
    const out = JSON.parse(await ctl(['get', 'agents', '-o', 'json'])) as { items?: Record<string, unknown>[] } | Record<string, unknown>[];
    const items = Array.isArray(out) ? out : out.items ?? [];
    return items.filter((i) => JSON.stringify(i).includes(`"running_revision":${rev}`)).length === 2;
  }, 30000, 'controller sees both acks');

  // kill -9 the controller: data keeps flowing, queries keep answering.
  await c.kill();
  writeFileSync(join(root, 'in', 'during-outage.dat'), 'z');
  await eventually(async () => (await find()).includes('/in/during-outage.dat'), 30000, 'data flows without the controller');
  for (const a of agents) await eventually(async () => (await a.status()).managed?.connected === false, 30000, 'agent sees the controller gone');

  // The controller returns on the same port: everybody reconnects.
  c = await startController({ dataDir, args: ['--port', port] });
  for (const a of agents) await eventually(async () => (await a.status()).managed?.connected === true, 30000, 'agent reconnected');

  // Revoke host-a: the gateway drops its session and refuses its data; host-b keeps the view fed.
  await ctl(['revoke', 'agent', 'host-a']);
  await eventually(async () => {
    const s = await sessions();
    return s.length === 1 && s[0].agent_id.startsWith('host-b') && s;
  }, 30000, 'only host-b feeds the view');
  writeFileSync(join(root, 'in', 'after-revoke.dat'), 'w');
  await eventually(async () => (await find()).includes('/in/after-revoke.dat'), 30000, 'host-b still feeds the view');
  // host-a learns it on its own channel, independently of the gateway: polled.
  await eventually(async () => /revoked/.test((await hostA.status()).managed?.lastError ?? ''), 30000, 'host-a knows it is revoked');
  // host-b's channel is its own state, read from another process: polled, not read once.
  await eventually(async () => (await hostB.status()).managed?.connected === true, 30000, 'host-b still connected');
});
