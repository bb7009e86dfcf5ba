/**
 * Two real agents on the same directory feeding one view: first leader, second follower (realtime only);
 * `kill -9` of the leader → the follower is promoted after the session timeout, snapshots, and the view
 * stays complete; the old leader restarted comes back as follower.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoConfig, eventually, startGateway } from './helpers/gateway.ts';
import { agentConfig, startAgent, treeMap, type RunningAgent } from './helpers/agent.ts';

test('leader / follower, failover on kill -9, old leader returns as follower', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'fustor-agent-lead-'));
  writeFileSync(join(root, 'seed.txt'), 'seed');
  const gw = await startGateway(demoConfig({ pipe: { session_timeout_seconds: 2 } }));
  const cfg = (agentId: string) => agentConfig({ gateway: gw.url, root, agentId, pipe: { session_timeout_seconds: 2 } });
  const a = await startAgent(cfg('agent-a'));
  const started: RunningAgent[] = [a];
  t.after(async () => {
    for (const x of started) await x.stop();
    await gw.stop();
    rmSync(root, { recursive: true, force: true });
  });
  const role = (x: RunningAgent) => eventually(async () => (await x.pipe('demo'))?.pipe?.role, 10000, 'role');
  await eventually(async () => (await treeMap(gw))?.has('/seed.txt'), 15000, 'view ready');
  assert.equal(await role(a), 'leader');

  const b = await startAgent(cfg('agent-b'));
  started.push(b);
  assert.equal(await role(b), 'follower');
  // The follower sends realtime rows, and never snapshots or audits.
  writeFileSync(join(root, 'both.txt'), 'x');
  await eventually(async () => ((await b.pipe('demo'))?.pipe?.rowsSent ?? 0) > 0, 10000, 'follower sent realtime rows');
  const fb = (await b.pipe('demo'))!.pipe!;
  assert.equal(fb.snapshots, 0);
  assert.equal(fb.audits, 0);

  // kill -9 the leader: the follower is promoted, snapshots, the view stays complete.
  a.kill('SIGKILL');
  await a.exited;
  writeFileSync(join(root, 'after-failover.txt'), 'y');
  await eventually(async () => { const p = (await b.pipe('demo'))?.pipe; return p?.role === 'leader' && p.snapshots >= 1; }, 20000, 'follower promoted and snapshotted');
  await eventually(async () => { const m = await treeMap(gw); return m !== null && ['/seed.txt', '/both.txt', '/after-failover.txt'].every((p) => m.has(p)); }, 20000, 'view complete');

  // The old leader comes back (same state dir: its stale socket is replaced) as follower.
  const a2 = await startAgent(cfg('agent-a'), { stateDir: a.stateDir });
  started.push(a2);
  assert.equal(await role(a2), 'follower');
  assert.equal((await b.pipe('demo'))?.pipe?.role, 'leader');
});
