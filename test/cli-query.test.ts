/**
 * The user commands (`fustor find`, `tree`, `stat`, `watch`) as real processes against a real gateway process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEMO_KEYS, FUSTOR_BIN, ROOT, demoConfig, dirRow, eventually, fileRow, realtimeBatch, snapshotBatch, startGateway,
  type AgentSession, type RunningGateway, type Row,
} from './helpers/gateway.ts';

const IDLE_AGENT_KEY = 'test-agent-key-idle1';
const now = Date.now() / 1000;
const old = now - 86400;
const MANY = 1500;

const rows: Row[] = [
  dirRow('/up', { mtime: old }),
  dirRow('/up/a', { mtime: old }),
  fileRow('/up/a/x.dat', { size: 100, mtime: old }),
  fileRow('/up/a/y.txt', { size: 5000, mtime: old }),
  fileRow('/up/a/{b}.dat', { size: 10, mtime: old }),
  dirRow('/up/b', { mtime: old }),
  fileRow('/up/b/z.dat', { size: 2 * 1048576 + 1, mtime: old }),
  dirRow('/up/b/deep', { mtime: old }),
  fileRow('/up/b/deep/w.dat', { size: 0, mtime: old }),
  dirRow('/up/hot', { mtime: now }),
  // Written just now: integrity_suspect for the whole test (hot threshold 3600 s, so a slow machine cannot age it out).
  fileRow('/up/hot/new.dat', { size: 10, mtime: now }),
  dirRow('/many', { mtime: old }),
  ...Array.from({ length: MANY }, (_, i) => fileRow(`/many/f_${String(i).padStart(4, '0')}.log`, { size: i, mtime: old })),
  dirRow('/w', { mtime: old }),
];

interface Run { code: number | null; stdout: string; stderr: string }

let gw: RunningGateway;
let agent: AgentSession;
let heartbeat: NodeJS.Timeout;
let home: string;

/** `fustor ARGS` with a clean environment: no profile, no FUSTOR_* variables unless given. */
function fustor(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FUSTOR_')));
  return new Promise((resolve, reject) => {
    const p = spawn(FUSTOR_BIN, args, { cwd: ROOT, env: { ...clean, FUSTOR_HOME: home, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const q = (...args: string[]) => fustor([...args, '--server', gw.url, '--key', DEMO_KEYS.query, '--view', 'demo']);
/** A port nothing listens on. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const lines = (r: Run) => r.stdout.split('\n').filter((l) => l !== '');
const sorted = (r: Run) => lines(r).sort();

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'fustor-cli-home-'));
  const config = demoConfig({ view: { driver_params: { hot_file_threshold: 3600, max_tree_items: 1000 } } }) as {
    receivers: { main: { api_keys: { key: string; pipe_id: string }[] } };
    views: Record<string, unknown>;
    pipes: Record<string, unknown>;
  };
  // A second view that never gets a leader: always "not ready".
  config.receivers.main.api_keys.push({ key: IDLE_AGENT_KEY, pipe_id: 'idle' });
  config.views.idle = { driver: 'fs', api_keys: [DEMO_KEYS.query] };
  config.pipes.idle = { receiver: 'main', views: ['idle'] };
  gw = await startGateway(config);
  agent = await gw.agent();
  await agent.pushOk(snapshotBatch(rows, { isEnd: true }));
  heartbeat = setInterval(() => void agent.heartbeat(), 3000);
  await eventually(async () => (await gw.get('/api/v1/views/demo/stats')).status === 200, 20000, 'view demo ready');
});

after(async () => {
  clearInterval(heartbeat);
  await gw?.stop();
});

describe('fustor find', () => {
  test('by name — prints the view paths that match the glob, one per line', async () => {
    const r = await q('find', '/up', '-name', '*.dat');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(sorted(r), ['/up/a/x.dat', '/up/a/{b}.dat', '/up/b/deep/w.dat', '/up/b/z.dat', '/up/hot/new.dat']);
  });

  test('by name — braces are literal, as with find', async () => {
    const r = await q('find', '-name', '{b}.dat');
    assert.deepEqual(sorted(r), ['/up/a/{b}.dat']);
  });

  test('by type — directories, starting point included as find does; --type works like -type', async () => {
    const r = await q('find', '/up', '-type', 'd');
    assert.deepEqual(sorted(r), ['/up', '/up/a', '/up/b', '/up/b/deep', '/up/hot']);
    const long = await q('find', '/up', '--type', 'd');
    assert.deepEqual(sorted(long), sorted(r));
  });

  test('by size — +N, -N and units as find counts them', async () => {
    assert.deepEqual(sorted(await q('find', '/up', '-type', 'f', '-size', '+1k')), ['/up/a/y.txt', '/up/b/z.dat']);
    assert.deepEqual(sorted(await q('find', '/up', '-size', '+2M')), ['/up/b/z.dat']);
    assert.deepEqual(sorted(await q('find', '/up', '-type', 'f', '-size', '-1k')), ['/up/b/deep/w.dat']);
    assert.deepEqual(sorted(await q('find', '/up', '-type', 'f', '-size', '100c')), ['/up/a/x.dat']);
  });

  test("by path — find's '*' also matches '/'", async () => {
    assert.deepEqual(sorted(await q('find', '/up', '-path', '*/b/*', '-type', 'f')), ['/up/b/deep/w.dat', '/up/b/z.dat']);
  });

  test('by mtime — --newer-than and -newer FILE', async () => {
    assert.deepEqual(sorted(await q('find', '/up', '-type', 'f', '--newer-than', String(Math.floor(now - 600)))), ['/up/hot/new.dat']);
    const ref = join(home, 'ref');
    writeFileSync(ref, '');
    const { utimesSync } = await import('node:fs');
    utimesSync(ref, now - 600, now - 600);
    assert.deepEqual(sorted(await q('find', '/up', '-type', 'f', '-newer', ref)), ['/up/hot/new.dat']);
  });

  test('pages through /search until done, or stops at --limit', async () => {
    const all = await q('find', '/many', '-name', 'f_*.log');
    assert.equal(all.code, 0, all.stderr);
    const paths = lines(all);
    assert.equal(paths.length, MANY);
    assert.equal(new Set(paths).size, MANY, 'no path printed twice across pages');
    const limited = await q('find', '/many', '-type', 'f', '--limit', '1200');
    assert.equal(lines(limited).length, 1200);
  });

  test('--json prints one node per line', async () => {
    const r = await q('find', '/up/b', '-type', 'f', '--json');
    const nodes = lines(r).map((l) => JSON.parse(l) as { path: string; size: number; content_type: string });
    assert.deepEqual(nodes.map((n) => [n.path, n.size, n.content_type]).sort(), [['/up/b/deep/w.dat', 0, 'file'], ['/up/b/z.dat', 2 * 1048576 + 1, 'file']]);
  });

  test('server, key and view may come from $FUSTOR_HOME/profile.yaml or the environment', async () => {
    const profileHome = mkdtempSync(join(tmpdir(), 'fustor-cli-profile-'));
    writeFileSync(join(profileHome, 'profile.yaml'), `server: ${gw.url}\nkey: ${DEMO_KEYS.query}\nview: demo\n`);
    const viaProfile = await fustor(['find', '-name', 'x.dat'], { FUSTOR_HOME: profileHome });
    assert.equal(viaProfile.code, 0, viaProfile.stderr);
    assert.deepEqual(lines(viaProfile), ['/up/a/x.dat']);
    const viaEnv = await fustor(['find', '-name', 'y.txt'], { FUSTOR_SERVER: gw.url, FUSTOR_KEY: DEMO_KEYS.query, FUSTOR_VIEW: 'demo' });
    assert.deepEqual(lines(viaEnv), ['/up/a/y.txt']);
    // A flag wins over the profile.
    const flagWins = await fustor(['find', '-name', 'x.dat', '--key', 'wrong-key-0001'], { FUSTOR_HOME: profileHome });
    assert.notEqual(flagWins.code, 0);
  });
});

describe('fustor tree', () => {
  test('prints the subtree as an indented tree with counts', async () => {
    const r = await q('tree', '/up');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, [
      '/up',
      '├── a/',
      '│   ├── x.dat',
      '│   ├── y.txt',
      '│   └── {b}.dat',
      '├── b/',
      '│   ├── deep/',
      '│   │   └── w.dat',
      '│   └── z.dat',
      '└── hot/',
      '    └── new.dat',
      '',
      '4 directories, 6 files',
      '',
    ].join('\n'));
  });

  test('--depth limits the levels; --json prints the /tree answer', async () => {
    const r = await q('tree', '/up', '--depth', '1');
    assert.equal(r.stdout, '/up\n├── a/\n├── b/\n└── hot/\n\n3 directories, 0 files\n');
    const j = JSON.parse((await q('tree', '/up/b', '--json')).stdout) as { path: string; children: { name: string }[] };
    assert.equal(j.path, '/up/b');
    assert.deepEqual(j.children.map((c) => c.name).sort(), ['deep', 'z.dat']);
  });
});

describe('fustor stat', () => {
  test('shows settled = true for a quiet directory without suspect files (exit 0 with --settled)', async () => {
    const r = await q('stat', '/up/a', '--quiet', '0', '--settled');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^settled:\s+true$/m);
    assert.match(r.stdout, /^quiet_for_seconds:\s+[\d.]+$/m);
    assert.match(r.stdout, /^file_count:\s+3$/m);
    assert.match(r.stdout, /^path:\s+\/up\/a$/m);
  });

  test('shows settled = false while a file below is still being written (exit 3 with --settled)', async () => {
    const r = await q('stat', '/up/hot', '--quiet', '0', '--settled');
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /^settled:\s+false$/m);
    const file = await q('stat', '/up/hot/new.dat', '--json');
    assert.equal((JSON.parse(file.stdout) as { integrity_suspect: boolean }).integrity_suspect, true);
  });
});

describe('errors — one line naming the cause and the fix, non-zero exit', () => {
  const oneLine = (r: Run, expected: string) => {
    assert.notEqual(r.code, 0);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `fustor: ${expected}\n`);
  };

  test('a rejected key', async () => {
    oneLine(await fustor(['find', '-name', 'x.dat', '--server', gw.url, '--key', 'not-a-known-key', '--view', 'demo']), '401: key rejected — pass --key or set FUSTOR_KEY');
  });

  test('no key at all', async () => {
    oneLine(await fustor(['tree', '/', '--server', gw.url, '--view', 'demo']), '401: no key sent — pass --key or set FUSTOR_KEY');
  });

  test('an unknown view names the views the key may see', async () => {
    oneLine(await fustor(['stat', '/up', '--server', gw.url, '--key', DEMO_KEYS.query, '--view', 'nope']), "view 'nope' unknown: known views: demo, idle");
  });

  test('a tree larger than max_tree_items says how to ask for less', async () => {
    oneLine(await q('tree', '/'), `the answer would hold ${rows.length + 1} nodes (limit 1000): pass --depth N or a narrower PATH`);
  });

  test('a view that is not ready says why and when to retry', async () => {
    const r = await fustor(['find', '-name', 'x', '--server', gw.url, '--key', DEMO_KEYS.query, '--view', 'idle']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^fustor: view not ready \(no active leader session\), retry in \d+ s \(or pass --wait SECONDS\)\n$/);
  });

  test('an unreachable gateway and a missing view', async () => {
    const port = await freePort();
    const r = await fustor(['find', '-name', 'x', '--server', `http://127.0.0.1:${port}`, '--view', 'demo']);
    oneLine(r, `cannot reach the gateway at http://127.0.0.1:${port} (ECONNREFUSED): start it, or pass --server URL / set FUSTOR_SERVER`);
    oneLine(await fustor(['find', '-name', 'x', '--server', gw.url]), `no view given: pass --view NAME, set FUSTOR_VIEW or add 'view:' to ${join(home, 'profile.yaml')}`);
  });

  test('--wait retries a 503 until the view becomes ready', async () => {
    const waiting = fustor(['stat', '/', '--server', gw.url, '--key', DEMO_KEYS.query, '--view', 'idle', '--wait', '30']);
    await new Promise((r) => setTimeout(r, 1500));
    const idle = await gw.agent('agent-9:idle', { key: IDLE_AGENT_KEY });
    await idle.pushOk(snapshotBatch([dirRow('/i')], { isEnd: true }));
    const beat = setInterval(() => void idle.heartbeat(), 3000);
    try {
      const r = await waiting;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^item_count:\s+2$/m);
    } finally {
      clearInterval(beat);
      await idle.close();
    }
  });
});

/** A running `fustor watch …`; stop() sends SIGINT and resolves with the exit code. */
function watch(args: string[]): { out: () => string; err: () => string; stop: () => Promise<number | null> } {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FUSTOR_')));
  const p = spawn(FUSTOR_BIN, ['watch', ...args, '--interval', '0.2', '--server', gw.url, '--key', DEMO_KEYS.query, '--view', 'demo'], { cwd: ROOT, env: { ...clean, FUSTOR_HOME: home } });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
  return {
    out: () => out,
    err: () => err,
    stop: () => {
      p.kill('SIGINT');
      return exited;
    },
  };
}

describe('fustor watch', () => {
  test('prints upsert and delete lines for changes under PATH, exits 0 on SIGINT', async () => {
    const { cursor } = await (await gw.get('/api/v1/views/demo/changes?since=now')).json() as { cursor: string };
    const w = watch(['/w', '--since', cursor]);
    try {
      await agent.pushOk(realtimeBatch([fileRow('/w/late.dat', { size: 5, mtime: old }), fileRow('/up/a/elsewhere.dat', { mtime: old })]));
      await agent.pushOk(realtimeBatch([{ path: '/w/late.dat' }], { type: 'delete' }));
      await eventually(async () => w.out().includes('delete /w/late.dat'), 20000, 'the delete line');
      assert.deepEqual(w.out().split('\n').filter((l) => l !== ''), ['upsert /w/late.dat', 'delete /w/late.dat']);
    } finally {
      assert.equal(await w.stop(), 0);
    }
  });

  test('an expired or foreign cursor prints fresh_instance and goes on from now', async () => {
    const w = watch(['/w', '--since', 'another-instance.1']);
    try {
      await eventually(async () => w.out().includes('fresh_instance /w'), 20000, 'the fresh_instance line');
      assert.match(w.err(), /changes may have been missed/);
      await agent.pushOk(realtimeBatch([fileRow('/w/after.dat', { mtime: old })]));
      await eventually(async () => w.out().includes('upsert /w/after.dat'), 20000, 'a change after the reset');
    } finally {
      assert.equal(await w.stop(), 0);
    }
  });
});
