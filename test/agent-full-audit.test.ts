/**
 * In-place edits in an unwatched directory do not change the directory's mtime, so an audit that trusts its
 * directory-mtime cache never lists that directory again; `full_audit_every` makes every Nth audit list
 * everything, so such an edit still reaches the view.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoConfig, eventually, startGateway } from './helpers/gateway.ts';
import { agentConfig, startAgent, treeMap } from './helpers/agent.ts';

test('full_audit_every — an in-place append in an unwatched directory is found by the next full audit', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'fustor-agent-full-audit-'));
  const subs = ['d1', 'd2', 'd3', 'd4', 'd5', 'd6'];
  for (const s of subs) {
    mkdirSync(join(root, s));
    writeFileSync(join(root, s, 'f.txt'), 'x');
  }
  const gw = await startGateway(demoConfig());
  const agent = await startAgent(agentConfig({
    gateway: gw.url, root, params: { watch_limit: 1 }, pipe: { audit_interval_sec: 1, full_audit_every: 2 },
  }));
  t.after(async () => {
    await agent.stop();
    await gw.stop();
    rmSync(root, { recursive: true, force: true });
  });
  await eventually(async () => (await treeMap(gw))?.get('/d6/f.txt')?.size === 1, 15000, 'snapshot in the view');
  // Let one cached audit pass so the directory-mtime cache is filled, then edit every file in place.
  await eventually(async () => ((await agent.pipe('demo'))?.pipe?.audits ?? 0) >= 1, 15000, 'a first audit');
  for (const s of subs) appendFileSync(join(root, s, 'f.txt'), 'more');
  const m = await eventually(async () => {
    const mm = await treeMap(gw);
    return mm !== null && subs.every((s) => mm.get(`/${s}/f.txt`)?.size === 5) && mm;
  }, 30000, 'every in-place edit in the view');
  // Most directories are unwatched (limit 1): their edits can only have come from a full audit.
  assert.ok(subs.filter((s) => m.get(`/${s}/f.txt`)?.agent_missing === true).length >= subs.length - 2);
});
