/**
 * The managed agent (`fustor agent --controller URL --token T`): real controller and agent processes, real
 * directories. Enrollment and identity, manifests applied with the per-pipe diff, FAILED manifests keep the
 * last good one, the manifest cache (0600, only this agent's secrets) used when the controller is down,
 * reconnection, revocation and reused tokens. Data reaching a gateway is covered in test/managed-flow.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startManagedAgent, type RunningAgent } from './helpers/agent.ts';
import { gatewayDoc, pipeDoc, secretDoc, startController, viewDoc, type Doc, type RunningController } from './helpers/controller.ts';
import { eventually } from './helpers/gateway.ts';

let c: RunningController;
const dirs: string[] = [];
const tmp = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

before(async () => { c = await startController(); });
after(async () => {
  await c.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function token(labels: string, uses = 1): Promise<string> {
  const r = await c.ctl(['token', 'create', '--kind', 'agent', '--labels', labels, '--uses', String(uses)]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

async function apply(docs: Doc[]): Promise<number> {
  const res = await c.json('/api/v1/apply', 'POST', { body: docs });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.revision as number;
}

const pipeState = async (a: RunningAgent, id: string) => (await a.pipe(id))?.state;
const managed = async (a: RunningAgent) => (await a.status()).managed!;

test('two agents enrolled by label run the selected pipe; a change restarts only that pipe and the ack carries the new revision; a bad manifest is refused and the last good one keeps running', async () => {
  const rootA = tmp('fustor-ma-a-');
  const rootB = tmp('fustor-ma-b-');
  const t = await token('site=m1', 2);
  const a1 = await startManagedAgent({ controller: c.url, token: t, name: 'm1-a' });
  const a2 = await startManagedAgent({ controller: c.url, token: t, name: 'm1-b' });
  try {
    assert.match(a1.stdout(), /agent running: managed by \S+ as m1-a, 0 pipes/);
    const sel = { agentSelector: { matchLabels: { site: 'm1' } } };
    const rev1 = await apply([
      gatewayDoc('m1gw', 'http://127.0.0.1:9'), viewDoc('m1v', 'm1gw'),
      pipeDoc('m1p', 'm1v', { ...sel, source: { driver: 'fs', uri: rootA } }),
      pipeDoc('m1q', 'm1v', { ...sel, source: { driver: 'fs', uri: rootB } }),
    ]);
    for (const a of [a1, a2]) {
      await eventually(async () => (await managed(a)).revision === rev1, 20000, 'first manifest applied');
      await eventually(async () => (await pipeState(a, 'm1p')) === 'running' && (await pipeState(a, 'm1q')) === 'running', 20000, 'pipes running');
    }
    const before = await a1.pipe('m1q');

    const rev2 = await apply([pipeDoc('m1p', 'm1v', { ...sel, source: { driver: 'fs', uri: rootA }, audit_interval_sec: 120 })]);
    for (const a of [a1, a2]) await eventually(async () => (await managed(a)).revision === rev2, 20000, 'changed manifest applied');
    const st = await a1.status();
    assert.deepEqual(st.lastReload?.diff, { added: [], removed: [], changed: ['m1p'], unchanged: ['m1q'] });
    assert.equal((await a1.pipe('m1q'))?.startedAt, before?.startedAt, 'the unchanged pipe was not restarted');

    // A source directory this host does not have: the agent refuses the manifest and keeps revision rev2.
    await eventually(async () => (await a1.pipe('m1p'))?.startedAt != null, 20000, 'm1p restarted');
    const good = await a1.pipe('m1p');
    const rev3 = await apply([pipeDoc('m1p', 'm1v', { ...sel, source: { driver: 'fs', uri: join(rootA, 'missing') } })]);
    assert.ok(rev3 > rev2);
    await eventually(async () => ((await managed(a1)).lastError ?? '').includes('is not a directory on this host'), 20000, 'FAILED reported');
    const m = await managed(a1);
    assert.equal(m.revision, rev2, 'still running the last good revision');
    assert.equal((await a1.pipe('m1p'))?.startedAt, good?.startedAt, 'the last good pipe keeps running, not restarted');
    // The agent's log lines are written asynchronously (pino): the line may come after the status answer.
    await eventually(async () => /manifest refused; the last good one keeps running/.test(a1.stdout()), 20000, 'the refusal logged');
    // The controller sees the rejection: FAILED with the agent's error, still running rev2.
    const seen = await eventually(async () => {
      const r = await c.json('/api/v1/agents/m1-a', 'GET');
      return r.body.apply_status === 'FAILED' && r.body;
    }, 20000, 'controller sees FAILED');
    assert.match(String(seen.apply_error), /is not a directory on this host/);
    assert.equal(seen.running_revision, rev2);
  } finally {
    await a1.stop();
    await a2.stop();
  }
});

test('an agent receives only its own pipes and secrets; its identity and manifest cache are 0600', async () => {
  const root = tmp('fustor-ms-');
  const ta = await token('site=s1');
  const tb = await token('site=s2');
  const sa = tmp('fustor-ms-state-a-');
  const a = await startManagedAgent({ controller: c.url, token: ta, name: 's-a', stateDir: sa });
  const b = await startManagedAgent({ controller: c.url, token: tb, name: 's-b' });
  try {
    const rev = await apply([
      gatewayDoc('sgw', 'http://127.0.0.1:9'), viewDoc('sv', 'sgw'),
      secretDoc('sec-a', { password: 'alpha-secret-value' }), secretDoc('sec-b', { password: 'bravo-secret-value' }),
      pipeDoc('spa', 'sv', { agent: 's-a', agentSelector: undefined, source: { driver: 'fs', uri: root, credentialRef: 'sec-a' } }),
      pipeDoc('spb', 'sv', { agent: 's-b', agentSelector: undefined, source: { driver: 'fs', uri: root, credentialRef: 'sec-b' } }),
    ]);
    await eventually(async () => (await managed(a)).revision === rev, 20000, 'manifest applied');
    const cache = readFileSync(join(sa, 'manifest.json'), 'utf8');
    assert.match(cache, /alpha-secret-value/, 'its own secret is in its manifest');
    assert.doesNotMatch(cache, /bravo-secret-value|spb|sec-b/, "another agent's pipe and secret never reach it");
    for (const f of ['manifest.json', 'identity/key.json', 'identity/credential']) {
      assert.equal(statSync(join(sa, f)).mode & 0o777, 0o600, f);
    }
    assert.deepEqual((await a.status()).pipes.map((p) => p.pipeId), ['spa']);
    // The agent's own credential opens nothing of the management API (no other manifest, no Secret).
    const cred = readFileSync(join(sa, 'identity', 'credential'), 'utf8').trim();
    for (const path of ['/api/v1/resources/Secret/sec-b', '/api/v1/resources/Pipe', '/api/v1/agents', '/api/v1/history']) {
      const res = await c.json(path, 'GET', { token: cred });
      assert.ok(res.status === 401 || res.status === 403, `${path}: ${res.status}`);
      assert.doesNotMatch(JSON.stringify(res.body), /bravo-secret-value/);
    }
    await eventually(async () => (await b.status()).pipes.map((p) => p.pipeId).join() === 'spb', 20000, 'b runs its pipe');
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('controller down: a restarted agent runs its cached manifest; it reconnects when the controller returns', async () => {
  const dataDir = join(tmp('fustor-mc-ctrl-'), 'data');
  const ctrl = await startController({ dataDir });
  const port = new URL(ctrl.url).port;
  const root = tmp('fustor-mc-');
  const stateDir = tmp('fustor-mc-state-');
  const t = (await ctrl.ctl(['token', 'create', '--kind', 'agent', '--labels', 'site=c1'])).stdout.trim();
  let a = await startManagedAgent({ controller: ctrl.url, token: t, name: 'c-a', stateDir });
  let ctrl2: RunningController | undefined;
  try {
    const res = await ctrl.json('/api/v1/apply', 'POST', { body: [gatewayDoc('cgw', 'http://127.0.0.1:9'), viewDoc('cv', 'cgw'), pipeDoc('cp', 'cv', { agentSelector: { matchLabels: { site: 'c1' } }, source: { driver: 'fs', uri: root } })] });
    const rev = res.body.revision as number;
    await eventually(async () => (await managed(a)).revision === rev, 20000, 'manifest applied');
    await ctrl.kill();
    await a.stop();
    a = await startManagedAgent({ controller: ctrl.url, stateDir });
    assert.match(a.stdout(), /1 pipes/);
    await eventually(async () => (await pipeState(a, 'cp')) === 'running', 20000, 'cached pipe running');
    assert.equal((await managed(a)).connected, false);
    assert.equal((await managed(a)).revision, rev);

    ctrl2 = await startController({ dataDir, args: ['--port', port] });
    await eventually(async () => (await managed(a)).connected, 40000, 'reconnected');
    assert.equal((await managed(a)).revision, rev);
  } finally {
    await a.stop();
    await ctrl2?.stop();
  }
});

test('enrollment: a used one-time token is refused with one line; a revoked agent stops its pipes and is refused on restart', async () => {
  const root = tmp('fustor-mr-');
  const stateDir = tmp('fustor-mr-state-');
  const t = await token('site=r1');
  const a = await startManagedAgent({ controller: c.url, token: t, name: 'r-a', stateDir });
  try {
    const again = await startManagedAgent({ controller: c.url, token: t, name: 'r-b' }).then(
      async (x) => { await x.stop(); return 'started'; },
      (e: Error) => e.message,
    );
    assert.match(again, /enrollment refused by the controller \(HTTP 40\d\)/);

    const rev = await apply([gatewayDoc('rgw', 'http://127.0.0.1:9'), viewDoc('rv', 'rgw'), pipeDoc('rp', 'rv', { agentSelector: { matchLabels: { site: 'r1' } }, source: { driver: 'fs', uri: root } })]);
    await eventually(async () => (await managed(a)).revision === rev && (await pipeState(a, 'rp')) === 'running', 20000, 'running');
    const r = await c.ctl(['revoke', 'agent', 'r-a']);
    assert.equal(r.code, 0, r.stderr);
    await eventually(async () => (await a.status()).pipes.length === 0, 20000, 'pipes stopped after revocation');
    assert.match((await managed(a)).lastError ?? '', /revoked/);
  } finally {
    await a.stop();
  }
  // A restart with the revoked identity: the cached manifest is still there, but the channel is refused.
  const again = await startManagedAgent({ controller: c.url, stateDir });
  try {
    await eventually(async () => /revoked/.test((await managed(again)).lastError ?? '') && (await again.status()).pipes.length === 0, 20000, 'refused on restart, pipes stopped');
  } finally {
    await again.stop();
  }
});

test('examples/managed (used by the README) is a valid set of resources', async () => {
  const r = await c.ctl(['diff', '-f', join(process.cwd(), 'examples', 'managed')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Gateway\/gw1/);
  assert.match(r.stdout, /Pipe\/lab-uploads/);
});

test('managed agent start-up errors are one line naming the fix', async () => {
  const fails = async (opts: Parameters<typeof startManagedAgent>[0]) => startManagedAgent(opts).then(
    async (a) => { await a.stop(); return 'started'; },
    (e: Error) => e.message,
  );
  assert.match(await fails({ controller: c.url }), /fustor: this host is not enrolled yet .*pass --token with an enrollment token from `fustor ctl token create --kind agent`/);
  assert.match(await fails({ controller: 'http://127.0.0.1:1', token: 'fen_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }), /fustor: cannot reach the controller at http:\/\/127\.0\.0\.1:1 to enroll .*check --controller/);
  assert.match(await fails({ controller: c.url, token: 'not-a-token' }), /fustor: enrollment refused by the controller \(HTTP 4\d\d\)/);
  assert.match(await fails({ controller: 'ftp://x' }), /--controller must be an http:\/\/ or https:\/\/ URL/);
});
