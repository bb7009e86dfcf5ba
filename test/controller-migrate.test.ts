/**
 * `fustor controller migrate --data-dir DIR --database postgres://…`: a REAL SQLite controller's state moved
 * into a fresh PostgreSQL database (FUSTOR_TEST_DATABASE_URL; skipped without it), then served by a REAL
 * PostgreSQL controller started with `--secret-key-file DIR/secret-key`: same resources, revision and history,
 * numbering continues, the tokens, the member credential, the sealed Secret, the QueryKey hash and the signing
 * keys all survive; refusals (controller still running, another key, a non-empty target, not a data dir) are
 * one line and write nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { gatewayDoc, pipeDoc, queryKeyDoc, secretDoc, startController, viewDoc, type RunningController, enrollMember } from './helpers/controller.ts';
import { FUSTOR_BIN, ROOT } from './helpers/gateway.ts';
import { deferrals, freshDatabase, PG_SKIP } from './helpers/postgres.ts';
import { SQLITE_MIGRATIONS, type Migration } from '../src/controller/store/sqlite-migrations.ts';
import { SqliteStore } from '../src/controller/store/sqlite-store.ts';

type Json = Record<string, unknown>;

interface Run { code: number | null; stdout: string; stderr: string }

/** `bin/fustor …args` to completion, without the FUSTOR_CONTROLLER_* settings of the environment. */
function fustor(args: string[]): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FUSTOR_CONTROLLER_')));
  const proc = spawn(FUSTOR_BIN, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
  return new Promise((resolve) => proc.on('exit', (code) => {
    clearTimeout(timer);
    resolve({ code, stdout, stderr });
  }));
}

function assertOneLineFailure(r: Run, re: RegExp): void {
  assert.notEqual(r.code, 0, `exit 0: ${r.stdout}`);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr.trim(), re);
}

const enroll = (c: RunningController, token: string, kind: 'agent' | 'gateway', name: string) => enrollMember(c, { token, kind, name });

/** The member's manifest content over the long-poll channel (a full report asks for it). */
async function manifestOf(c: RunningController, credential: string): Promise<Json> {
  const report = { type: 'report', seq: 0, full: true, version: '0.1.0', running_revision: null, running_hash: null, status: 'APPLIED' };
  for (let i = 0; i < 20; i++) {
    const res = await c.json('/api/v1/channel/poll', 'POST', { token: credential, body: { frames: [report], wait_sec: 1 } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const m = (res.body.frames as Json[]).find((f) => f.type === 'manifest');
    if (m !== undefined) return m.content as Json;
  }
  throw new Error('no manifest');
}

const KINDS = ['gateways', 'views', 'pipes', 'secrets', 'querykeys'];

/** Everything the API shows of the state, for before/after comparisons. */
async function snapshot(c: RunningController): Promise<Json> {
  const resources: Json = {};
  for (const k of KINDS) resources[k] = (await c.json(`/api/v1/resources/${k}`, 'GET')).body;
  return {
    revision: (await c.json('/healthz', 'GET', { token: null })).body.revision,
    resources,
    history: (await c.json('/api/v1/history?limit=500', 'GET')).body.items,
  };
}

const kids = async (c: RunningController) => ((await c.json('/api/v1/jwks', 'GET', { token: null })).body.keys as { kid: string }[]).map((k) => k.kid).sort();

test('migrate — a SQLite controller moved to PostgreSQL: same resources, revision and history; numbering continues; tokens, member credentials, Secrets, query keys and signing keys carry over', { skip: PG_SKIP }, async (t) => {
  const defer = deferrals(t);
  const db = await freshDatabase(defer);
  const root = mkdtempSync(join(tmpdir(), 'fustor-migrate-'));
  defer(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'sqlite');

  // ---- the SQLite controller: resources over two revisions, tokens, an agent and a gateway enrolled.
  const s = await startController({ dataDir: dir });
  defer(() => s.stop());
  const first = await s.json('/api/v1/apply', 'POST', {
    body: [gatewayDoc('gw1'), viewDoc('v1', 'gw1'), secretDoc('cred', { password: 's3cret' }), pipeDoc('p1', 'v1', { source: { driver: 'fs', uri: '/data/p1', credentialRef: 'cred' } })],
  });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const second = await s.json('/api/v1/apply', 'POST', { body: [queryKeyDoc('readers', ['v1']), viewDoc('v2', 'gw1')] });
  assert.equal(second.status, 200, JSON.stringify(second.body));
  const operator = await s.json('/api/v1/tokens/operator', 'POST', { body: { name: 'ci', role: 'operator' } });
  assert.equal(operator.status, 201, JSON.stringify(operator.body));
  const agentToken = await s.json('/api/v1/tokens/enrollment', 'POST', { body: { kind: 'agent', labels: { site: 'a' }, uses: 2 } });
  assert.equal(agentToken.status, 201, JSON.stringify(agentToken.body));
  const gatewayToken = (await s.json('/api/v1/tokens/enrollment', 'POST', { body: { kind: 'gateway' } })).body.token as string;
  const agent = await enroll(s, agentToken.body.token as string, 'agent', 'agent-1');
  const gateway = await enroll(s, gatewayToken, 'gateway', 'gw1');
  const agentManifest = await manifestOf(s, agent.credential);
  assert.deepEqual((agentManifest.pipes as Json[]).map((p) => p.credential), [{ password: 's3cret' }]);
  const gatewayManifest = await manifestOf(s, gateway.credential);
  assert.equal((gatewayManifest.query_keys as unknown[]).length, 1);
  const before = await snapshot(s);
  const kidsBefore = await kids(s);

  // While the SQLite controller runs: refused, nothing written (the real migrate below finds the target empty).
  const running = await fustor(['controller', 'migrate', '--data-dir', dir, '--database', db.url]);
  assertOneLineFailure(running, /^fustor: .*controller\.db is in use by another process \(is the SQLite controller still running\?\): stop the controller/);
  assert.equal(await s.stop(), 0);

  // Another secret key than the one the database was written with: refused, nothing written.
  const otherKey = join(root, 'other-key');
  writeFileSync(otherKey, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const wrongKey = await fustor(['controller', 'migrate', '--data-dir', dir, '--database', db.url, '--secret-key-file', otherKey]);
  assertOneLineFailure(wrongKey, /^fustor: .*other-key is not the secret key .*controller\.db was written with .*: pass --secret-key-file PATH/);

  // ---- the migration: the URL carries a password (trust auth ignores it), which must never be printed.
  const url = new URL(db.url);
  url.password = 'hunter2-not-printed';
  const migrated = await fustor(['controller', 'migrate', '--data-dir', dir, '--database', url.toString()]);
  assert.equal(migrated.code, 0, migrated.stderr);
  assert.ok(!(migrated.stdout + migrated.stderr).includes('hunter2'), 'the database password was printed');
  const lines = migrated.stdout.trim().split('\n');
  assert.equal(lines.length, 2, migrated.stdout);
  assert.match(lines[0], /^copied 6 resources, 2 revisions \(current: 2\), \d+ audit entries, 2 operator tokens, 2 enrollment tokens, 2 members, 2 fleet rows, 0 commands, 1 signing key and the secret-key fingerprint from .* to postgres:\/\/postgres:\*\*\*@/);
  assert.ok(lines[1].startsWith(`start the replicas with: fustor controller --database postgres://postgres:***@`), lines[1]);
  assert.ok(lines[1].includes(`--secret-key-file ${join(dir, 'secret-key')}`), lines[1]);

  // ---- a PostgreSQL replica on the migrated database, with the SQLite controller's key and admin token.
  const p = await startController({ dataDir: join(root, 'pg'), adminToken: s.adminToken, args: ['--database', db.url, '--secret-key-file', join(dir, 'secret-key')] });
  defer(() => p.stop());
  assert.equal((await p.json('/healthz', 'GET', { token: null })).body.store, 'postgres');
  assert.deepEqual(await snapshot(p), before, 'resources, revision or history differ after the move');
  assert.deepEqual(await kids(p), kidsBefore, 'the JWKS changed');

  // Tokens: the operator token and the admin token authenticate; the enrollment token keeps its last use.
  assert.equal((await p.json('/api/v1/resources/views', 'GET', { token: operator.body.token as string })).status, 200);
  const next = await p.json('/api/v1/apply', 'POST', { body: [viewDoc('v3', 'gw1')] });
  assert.equal(next.status, 200, JSON.stringify(next.body));
  assert.equal(next.body.revision, (before.revision as number) + 1, 'the next apply does not continue the numbering');
  const history = (await p.json('/api/v1/history?limit=500', 'GET')).body.items as { id: number; revision: number | null }[];
  const lastId = Math.max(...(before.history as { id: number }[]).map((h) => h.id));
  assert.equal(history[0].revision, next.body.revision);
  assert.equal(history[0].id, lastId + 1, 'audit ids do not continue');
  await enroll(p, agentToken.body.token as string, 'agent', 'agent-2');
  const usedUp = await p.json('/api/v1/enroll', 'POST', { token: null, body: { token: agentToken.body.token, kind: 'agent', name: 'agent-3', public_key: await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey) } });
  assert.notEqual(usedUp.status, 201, 'the enrollment token had one use left');

  // Members: the credentials issued by the SQLite controller authenticate; the manifests carry the Secret's
  // data (secret box + sealed Secret survived) and the QueryKey's hash.
  const poll = await p.json('/api/v1/channel/poll', 'POST', { token: agent.credential, body: { frames: [], wait_sec: 0 } });
  assert.equal(poll.status, 200, JSON.stringify(poll.body));
  assert.deepEqual((await manifestOf(p, agent.credential)).pipes, agentManifest.pipes);
  const gm = await manifestOf(p, gateway.credential);
  assert.deepEqual(gm.query_keys, gatewayManifest.query_keys);
  const agents = (await p.json('/api/v1/agents', 'GET')).body.items as { name: string }[];
  assert.deepEqual(agents.map((a) => a.name).sort(), ['agent-1', 'agent-2']);

  // ---- a second migrate into the now non-empty database: one line, nothing changed.
  const after = await snapshot(p);
  const again = await fustor(['controller', 'migrate', '--data-dir', dir, '--database', db.url]);
  assertOneLineFailure(again, /^fustor: database "fustor_t_[0-9a-f]+" on .* is not empty \(rows in .*\): nothing was copied; migrate into a new empty database/);
  assert.deepEqual(await snapshot(p), after, 'the refused migrate changed the database');
});

test('migrate refusals — not a data dir, not a controller database, another schema version, no or an unreachable database: one line each, exit non-zero', { skip: PG_SKIP }, async (t) => {
  const defer = deferrals(t);
  const db = await freshDatabase(defer);
  const root = mkdtempSync(join(tmpdir(), 'fustor-migrate-bad-'));
  defer(() => rmSync(root, { recursive: true, force: true }));
  const migrate = (dir: string, database = db.url) => fustor(['controller', 'migrate', '--data-dir', join(root, dir), '--database', database]);
  /** A data dir whose database has the schema of `migrations` (and a secret key). */
  const dataDir = (name: string, migrations: readonly Migration[]) => {
    mkdirSync(join(root, name));
    SqliteStore.open(join(root, name, 'controller.db'), migrations).dispose();
    writeFileSync(join(root, name, 'secret-key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  };

  mkdirSync(join(root, 'empty'));
  assertOneLineFailure(await migrate('empty'), /^fustor: .*empty is not a controller data dir \(no controller\.db\): pass the --data-dir the SQLite controller ran with$/);
  mkdirSync(join(root, 'junk'));
  writeFileSync(join(root, 'junk', 'controller.db'), 'not a database, only text long enough to be read as a header '.repeat(20));
  assertOneLineFailure(await migrate('junk'), /^fustor: cannot open .*controller\.db .*: pass the --data-dir of the SQLite controller$/);
  dataDir('old', SQLITE_MIGRATIONS.slice(0, 3));
  assertOneLineFailure(await migrate('old'), /^fustor: .*controller\.db is at schema version 3, older than this fustor writes \(\d+\): start this fustor's controller on the data dir once/);
  dataDir('new', [...SQLITE_MIGRATIONS, { version: 99, name: 'from the future', sql: 'CREATE TABLE future (x TEXT)' }]);
  assertOneLineFailure(await migrate('new'), /^fustor: .*controller\.db is at schema version 99, newer than this fustor knows/);
  dataDir('ok', SQLITE_MIGRATIONS);
  assertOneLineFailure(await fustor(['controller', 'migrate', '--data-dir', join(root, 'ok')]), /^fustor: controller migrate needs --database/);
  const refused = await migrate('ok', 'postgres://u:hunter2@127.0.0.1:1/db');
  assertOneLineFailure(refused, /^fustor: cannot connect to PostgreSQL at 127\.0\.0\.1:1: connection refused: start PostgreSQL there or fix --database/);
  assert.ok(!refused.stderr.includes('hunter2'));
  assertOneLineFailure(await fustor(['controller', 'migrate', '--data-dir', join(root, 'ok'), '--database', db.url, '--port', '9']), /^fustor: controller migrate takes only --data-dir, --database and --secret-key-file, not --port$/);

  // None of the refusals wrote to the target: the copy of the valid data dir still goes through.
  const ok = await migrate('ok');
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^copied 0 resources, 0 revisions \(current: 0\), 0 audit entries, 0 operator tokens/);
});
