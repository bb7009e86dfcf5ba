/**
 * The controller process (spec 00 contract, spec 50 identity and revisions): first start writes and prints
 * the admin token once, later starts do not; migrations are recorded; revisions stay unique across a
 * kill -9 and restart; SIGTERM exits 0; bad flags fail with one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { gatewayDoc, runControllerExpectingFailure, startController } from './helpers/controller.ts';

test('first start — writes DIR/admin-token (0600) and prints it once; a second start prints no new token and keeps it', async () => {
  const root = mkdtempSync(join(tmpdir(), 'fustor-ctrl-life-'));
  const dataDir = join(root, 'data');
  try {
    const first = await startController({ dataDir });
    assert.equal(statSync(join(dataDir, 'admin-token')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dataDir, 'secret-key')).mode & 0o777, 0o600);
    const printed = first.stdout().split('\n').filter((l) => l.includes(first.adminToken));
    assert.equal(printed.length, 1, 'the admin token is printed exactly once');
    assert.match(printed[0], /^admin token \(shown once; also written to .*admin-token\): fop_/);
    assert.equal(await first.stop(), 0, 'SIGTERM exits 0');

    const second = await startController({ dataDir });
    assert.equal(second.adminToken, first.adminToken);
    assert.doesNotMatch(second.stdout(), /admin token/);
    assert.doesNotMatch(second.stdout(), /fop_/);
    assert.equal((await second.json('/api/v1/resources/views', 'GET')).status, 200, 'the first token still works');
    assert.equal(await second.stop(), 0);

    const db = new Database(join(dataDir, 'controller.db'), { readonly: true });
    const migrations = db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[];
    const tokens = db.prepare('SELECT hash FROM operator_tokens').all() as { hash: string }[];
    db.close();
    // every known migration applied once, in order (1 = core, 2 = identity, 3 = GitOps, …)
    assert.deepEqual(migrations.map((m) => m.version), migrations.map((_, i) => i + 1));
    assert.ok(migrations.length >= 2);
    assert.ok(tokens.every((t) => /^sha256:[0-9a-f]{64}$/.test(t.hash) && !t.hash.includes(first.adminToken)));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('revisions — unique and increasing across kill -9 and restart', async () => {
  const root = mkdtempSync(join(tmpdir(), 'fustor-ctrl-life-'));
  const dataDir = join(root, 'data');
  try {
    const a = await startController({ dataDir });
    const r1 = (await a.json('/api/v1/apply', 'POST', { body: [gatewayDoc('g1')] })).body.revision as number;
    const r2 = (await a.json('/api/v1/apply', 'POST', { body: [gatewayDoc('g2')] })).body.revision as number;
    assert.ok(r2 > r1);
    await a.kill();
    const b = await startController({ dataDir });
    assert.equal((await b.json('/healthz', 'GET')).body.revision, r2);
    const r3 = (await b.json('/api/v1/apply', 'POST', { body: [gatewayDoc('g3')] })).body.revision as number;
    assert.ok(r3 > r2, `revision after restart ${r3} must exceed ${r2}`);
    const history = (await b.json('/api/v1/history', 'GET')).body.items as { revision: number | null }[];
    const revs = history.map((h) => h.revision).filter((r) => r !== null);
    assert.deepEqual(revs, [r3, r2, r1]);
    assert.equal(await b.stop(), 0);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('bad flags and unsupported options — one line on stderr, non-zero exit', async () => {
  const port = await runControllerExpectingFailure(['--port', 'abc']);
  assert.notEqual(port.code, 0);
  assert.equal(port.stderr.trim().split('\n').length, 1, port.stderr);
  assert.match(port.stderr, /--port/);
  const db = await runControllerExpectingFailure(['--database', 'postgres://x', '--port', '0']);
  assert.notEqual(db.code, 0);
  assert.equal(db.stderr.trim().split('\n').length, 1);
  assert.match(db.stderr, /--database postgres:\/\/x names no host or no database: pass postgres:\/\/USER/);
});

test('a lost secret-key with secrets in the database — refuses to start with one line', async () => {
  const root = mkdtempSync(join(tmpdir(), 'fustor-ctrl-life-'));
  const dataDir = join(root, 'data');
  try {
    const a = await startController({ dataDir });
    await a.stop();
    rmSync(join(dataDir, 'secret-key'));
    const res = await runControllerExpectingFailure(['--data-dir', dataDir, '--port', '0']);
    assert.equal(res.code, 1);
    assert.equal(res.stderr.trim().split('\n').length, 1);
    assert.match(res.stderr, /secret-key is missing.*restore/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
