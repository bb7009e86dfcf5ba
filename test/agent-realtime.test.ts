/**
 * Real agent process + real gateway process + real inotify on a temp directory: what happens on disk shows
 * up in the view (polled with a deadline, timings never asserted).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, closeSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoConfig, eventually, startGateway } from './helpers/gateway.ts';
import { agentConfig, startAgent, treeMap } from './helpers/agent.ts';

test('files and directories created, appended, closed, renamed, deleted → the view follows', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'fustor-agent-rt-'));
  mkdirSync(join(root, 'old/deep'), { recursive: true });
  writeFileSync(join(root, 'old/deep/before.txt'), 'x');
  const gw = await startGateway(demoConfig());
  const agent = await startAgent(agentConfig({ gateway: gw.url, root }));
  t.after(async () => {
    await agent.stop();
    await gw.stop();
    rmSync(root, { recursive: true, force: true });
  });
  const has = (path: string, pred: (n: NonNullable<Awaited<ReturnType<typeof treeMap>>>) => boolean = (m) => m.has(path)) =>
    eventually(async () => { const m = await treeMap(gw); return m !== null && pred(m); }, 15000, path);

  await has('/old/deep/before.txt');

  // create + close
  writeFileSync(join(root, 'a.txt'), 'hello');
  await has('/a.txt', (m) => m.get('/a.txt')?.size === 5);
  // append
  appendFileSync(join(root, 'a.txt'), ' world');
  await has('/a.txt', (m) => m.get('/a.txt')?.size === 11);
  // integrity_suspect while open for writing, false after close
  const fd = openSync(join(root, 'open.bin'), 'w');
  writeSync(fd, Buffer.alloc(1000));
  await has('/open.bin suspect', (m) => m.get('/open.bin')?.integrity_suspect === true);
  writeSync(fd, Buffer.alloc(1000));
  closeSync(fd);
  await has('/open.bin closed', (m) => m.get('/open.bin')?.integrity_suspect === false && m.get('/open.bin')?.size === 2000);
  // rename a file
  renameSync(join(root, 'a.txt'), join(root, 'b.txt'));
  await has('/b.txt', (m) => m.has('/b.txt') && !m.has('/a.txt'));
  // new directory with a file inside, then a nested move of a whole subtree
  mkdirSync(join(root, 'new/inner'), { recursive: true });
  writeFileSync(join(root, 'new/inner/c.txt'), 'c');
  await has('/new/inner/c.txt');
  renameSync(join(root, 'old'), join(root, 'new/inner/moved'));
  await has('/new/inner/moved/deep/before.txt', (m) => m.has('/new/inner/moved/deep/before.txt') && !m.has('/old') && !m.has('/old/deep/before.txt'));
  // a file written inside the moved directory (its watch must follow the move)
  writeFileSync(join(root, 'new/inner/moved/deep/after.txt'), 'after');
  await has('/new/inner/moved/deep/after.txt');
  // deletions: a file, then a whole directory
  unlinkSync(join(root, 'b.txt'));
  await has('/b.txt gone', (m) => !m.has('/b.txt'));
  rmSync(join(root, 'new'), { recursive: true });
  await has('/new gone', (m) => !m.has('/new') && !m.has('/new/inner/c.txt') && m.has('/open.bin'));

  const st = await eventually(async () => { const p = await agent.pipe('demo'); return p?.pipe?.role === 'leader' && p; }, 5000, 'status shows the leader');
  assert.equal(st?.state, 'running');
  assert.ok((st?.pipe?.watchCount ?? 0) >= 1);
  assert.equal(st?.restarts, 0);
  assert.equal(await agent.stop(), 0, 'SIGTERM → exit 0');
});
