/**
 * `fustor up DIR --port 0 --controller-port 0`: controller + gateway + agent in managed mode; prints the
 * controller URL, the admin token file, the query URL and key; `fustor find` with them lists the dir's files;
 * a new file appears; the controller lists the agent and gateway; a restart reuses identities and the key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FUSTOR_BIN, ROOT, eventually } from './helpers/gateway.ts';

const run = promisify(execFile);

test('fustor up DIR → controller, gateway and agent enrolled over loopback; find lists the files; a new file appears; a restart reuses everything', async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'fustor-up-data-'));
  const home = mkdtempSync(join(tmpdir(), 'fustor-up-home-'));
  mkdirSync(join(data, 'sub'));
  writeFileSync(join(data, 'sub', 'one.txt'), '1');
  const procs: ReturnType<typeof spawn>[] = [];
  t.after(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    rmSync(data, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });
  const up = async () => {
    const proc = spawn(FUSTOR_BIN, ['up', data, '--port', '0', '--controller-port', '0', '--log-format', 'json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FUSTOR_HOME: home } });
    procs.push(proc);
    let out = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    proc.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const exited = new Promise<number | null>((r) => proc.on('exit', (c) => r(c)));
    const m = await eventually(async () => /^try: (fustor find .*)$/m.test(out) && out, 90000, 'ready lines');
    const [, controller, tokenFile] = /^fustor up: controller at (http:\/\/\S+) \(admin token: (\S+)\)$/m.exec(m)!;
    const url = /^fustor up: query API at (http:\/\/\S+)$/m.exec(m)![1];
    const key = /^query key: (\S+)$/m.exec(m)![1];
    const view = /--view (\S+)/.exec(/^try: .*$/m.exec(m)![0])![1];
    return { proc, exited, controller, tokenFile, url, key, view };
  };
  const first = await up();
  assert.equal(statSync(first.tokenFile).mode & 0o777, 0o600);
  assert.equal(statSync(join(home, 'up', 'query-key')).mode & 0o777, 0o600);
  const find = async (u: { url: string; key: string; view: string }) => (await run(FUSTOR_BIN, ['find', '--server', u.url, '--key', u.key, '--view', u.view, '-name', '*'])).stdout.split('\n').filter(Boolean).sort();
  assert.deepEqual(await find(first), ['/sub', '/sub/one.txt']);
  writeFileSync(join(data, 'sub', 'two.txt'), '2');
  await eventually(async () => (await find(first)).includes('/sub/two.txt'), 30000, 'new file listed');
  const admin = readFileSync(first.tokenFile, 'utf8').trim();
  const agents = await run(FUSTOR_BIN, ['ctl', '--server', first.controller, '--token', admin, 'get', 'agents', '-o', 'json']);
  assert.match(agents.stdout, /"name": "local"/);
  first.proc.kill('SIGTERM');
  assert.equal(await first.exited, 0);

  // A restart reuses the identities and the query key (no new enrollment token is needed).
  const second = await up();
  assert.equal(second.key, first.key);
  await eventually(async () => (await find(second)).includes('/sub/two.txt'), 30000, 'files after restart');
  second.proc.kill('SIGTERM');
  assert.equal(await second.exited, 0);
});
