/** `fustor up DIR --port 0`: prints URL + key; `fustor find` with them lists the dir's files; a new file appears. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FUSTOR_BIN, ROOT, eventually } from './helpers/gateway.ts';

const run = promisify(execFile);

test('fustor up DIR --port 0 → URL, key, example find; find lists the files; a new file appears', async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'fustor-up-data-'));
  const home = mkdtempSync(join(tmpdir(), 'fustor-up-home-'));
  mkdirSync(join(data, 'sub'));
  writeFileSync(join(data, 'sub', 'one.txt'), '1');
  const proc = spawn(FUSTOR_BIN, ['up', data, '--port', '0', '--log-format', 'json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FUSTOR_HOME: home } });
  let out = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  proc.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const exited = new Promise<number | null>((r) => proc.on('exit', (c) => r(c)));
  t.after(async () => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    rmSync(data, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });
  const m = await eventually(async () => /^try: (fustor find .*)$/m.test(out) && out, 60000, 'ready lines');
  const url = /^fustor up: query API at (http:\/\/\S+)$/m.exec(m)![1];
  const key = /^query key: (\S+)$/m.exec(m)![1];
  const view = /--view (\S+)/.exec(/^try: .*$/m.exec(m)![0])![1];
  assert.equal((statSync(join(home, 'up', 'keys.json')).mode & 0o777), 0o600);
  const find = async () => (await run(FUSTOR_BIN, ['find', '--server', url, '--key', key, '--view', view, '-name', '*'])).stdout.split('\n').filter(Boolean).sort();
  assert.deepEqual(await find(), ['/sub', '/sub/one.txt']);
  writeFileSync(join(data, 'sub', 'two.txt'), '2');
  await eventually(async () => (await find()).includes('/sub/two.txt'), 15000, 'new file listed');
  proc.kill('SIGTERM');
  assert.equal(await exited, 0);
});
