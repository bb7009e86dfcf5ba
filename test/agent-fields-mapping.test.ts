/**
 * fields_mapping end to end: a real agent projects its rows before sending them, so the gateway sees only
 * the mapped fields (here: the size is replaced by a constant, as a projection would do to hide sizes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoConfig, eventually, startGateway } from './helpers/gateway.ts';
import { agentConfig, startAgent, treeMap } from './helpers/agent.ts';

test('fields_mapping — rows are projected by the agent before they reach the gateway (snapshot and realtime)', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'fustor-agent-map-'));
  writeFileSync(join(root, 'before.txt'), 'twelve bytes');
  const gw = await startGateway(demoConfig());
  const mapping = [
    { to: 'path', source: ['path'] },
    { to: 'file_name', source: ['file_name'] },
    { to: 'modified_time', source: ['modified_time:number'] },
    { to: 'is_directory', source: ['is_directory:boolean'] },
    { to: 'size', hardcoded_value: 7 },
  ];
  const agent = await startAgent(agentConfig({ gateway: gw.url, root, pipe: { fields_mapping: mapping } }));
  t.after(async () => {
    await agent.stop();
    await gw.stop();
    rmSync(root, { recursive: true, force: true });
  });
  await eventually(async () => (await treeMap(gw))?.get('/before.txt')?.size === 7, 15000, 'snapshot row projected');
  writeFileSync(join(root, 'after.txt'), 'a much longer content than seven bytes');
  await eventually(async () => (await treeMap(gw))?.get('/after.txt')?.size === 7, 15000, 'realtime row projected');
  const m = await treeMap(gw);
  assert.equal(m?.get('/after.txt')?.size, 7);
});
