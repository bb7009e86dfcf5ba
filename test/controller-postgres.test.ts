/**
 * `fustor controller --database postgres://…`: REAL controller processes as replicas of one fresh
 * PostgreSQL database (FUSTOR_TEST_DATABASE_URL; skipped without it). Changes made on one replica are read
 * on the other, revisions stay unique under concurrent applies, exactly one replica leads, a killed leader
 * is replaced and its successor runs GitOps, members enrolled on one replica are served and revoked through
 * another, and the keys are shared safely (the secret key file checked by fingerprint, never in the database).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import postgres from 'postgres';
import { ControlChannelClient, type ControlChannelClientOptions } from '../src/kernel/control-channel-client.ts';
import type { CommandFrame, ControllerFrame, ManifestFrame } from '../src/protocol/index.ts';
import {
  enrollMember, gatewayDoc, pipeDoc, runControllerExpectingFailure, secretDoc, startController, viewDoc, type RunningController,
} from './helpers/controller.ts';
import { deferrals, freshDatabase, PG_SKIP, type Defer } from './helpers/postgres.ts';

type Json = Record<string, unknown>;

async function until(what: string, pred: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`not met in time: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Pair { a: RunningController; b: RunningController; db: string; root: string; defer: Defer }

/** Replica A (first: creates the secret key, the admin token, the signing key), then B with A's key file. */
async function twoReplicas(t: { after(fn: () => Promise<void>): void }, opts: { args?: string[]; env?: Record<string, string>; urlB?: (url: string) => string } = {}): Promise<Pair> {
  const defer = deferrals(t);
  const db = await freshDatabase(defer);
  const root = mkdtempSync(join(tmpdir(), 'fustor-pg-'));
  defer(() => rmSync(root, { recursive: true, force: true }));
  const a = await startController({ dataDir: join(root, 'a'), args: ['--database', db.url, ...(opts.args ?? [])], env: opts.env });
  defer(() => a.stop());
  const b = await startController({
    dataDir: join(root, 'b'), env: opts.env, adminToken: a.adminToken,
    args: ['--database', opts.urlB?.(db.url) ?? db.url, '--secret-key-file', join(root, 'a', 'secret-key'), ...(opts.args ?? [])],
  });
  defer(() => b.stop());
  return { a, b, db: db.url, root, defer };
}

const health = async (c: RunningController) => (await c.json('/healthz', 'GET', { token: null })).body as { revision: number; replica: string; leader: boolean; leader_replica: string | null; store: string };

test('replicas — an apply on A is read on B; concurrent applies get unique revisions; one leader; one JWKS; keys shared by fingerprint only', { skip: PG_SKIP }, async (t) => {
  const { a, b, db, root } = await twoReplicas(t, {
    // B's URL carries a password (ignored by trust auth): it must never be printed.
    urlB: (url) => {
      const u = new URL(url);
      u.password = 'hunter2-not-printed';
      return u.toString();
    },
  });
  const [ha, hb] = [await health(a), await health(b)];
  assert.deepEqual([ha.store, hb.store], ['postgres', 'postgres']);
  assert.notEqual(ha.replica, hb.replica);
  assert.deepEqual([ha.leader, hb.leader], [true, false], 'A started first and holds the lease');
  assert.equal(hb.leader_replica, ha.replica);
  assert.deepEqual((await b.json('/api/v1/jwks', 'GET', { token: null })).body, (await a.json('/api/v1/jwks', 'GET', { token: null })).body);
  // Log records are written asynchronously (pino): the ready record may come after the listening line.
  await until('B logs "controller ready"', () => b.logs().some((l) => l.msg === 'controller ready'));
  assert.ok(!(b.stdout() + b.stderr()).includes('hunter2'), 'the database password reached the output');
  const ready = b.logs().find((l) => l.msg === 'controller ready');
  assert.match(String(ready?.store), /^postgres:\/\/postgres:\*\*\*@/);

  // Written on A, read on B (and through `fustor ctl` against B).
  const applied = await a.json('/api/v1/apply', 'POST', { body: [gatewayDoc('gw1'), viewDoc('v1', 'gw1'), secretDoc('cred', { password: 's3cret' }), pipeDoc('p1', 'v1')] });
  assert.equal(applied.status, 200, JSON.stringify(applied.body));
  const onB = (await b.json('/api/v1/resources/pipes/p1', 'GET')).body as { metadata: { revision: number }; spec: Json };
  assert.deepEqual([onB.metadata.revision, onB.spec.view], [applied.body.revision, 'v1']);
  const ctl = await b.ctl(['get', 'views']);
  assert.equal(ctl.code, 0, ctl.stderr);
  assert.match(ctl.stdout, /^v1\s/m);

  // Concurrent applies on both replicas: every revision unique; the audit log in revision order.
  const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).json('/api/v1/apply', 'POST', { body: [gatewayDoc(`g${i}`)] })));
  const revisions = results.map((r) => {
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.revision as number;
  });
  assert.equal(new Set(revisions).size, revisions.length, `revisions ${revisions.join(',')} repeat`);
  assert.ok(revisions.every((r) => r > (applied.body.revision as number)));
  const max = Math.max(...revisions);
  assert.deepEqual([(await health(a)).revision, (await health(b)).revision], [max, max]);
  const history = ((await b.json('/api/v1/history?limit=100', 'GET')).body.items as { revision: number | null }[]).map((h) => h.revision).filter((r) => r !== null);
  assert.deepEqual(history, [...history].sort((x, y) => (y as number) - (x as number)));

  // The secret key never enters the database; the signing key is stored sealed.
  const keyText = readFileSync(join(root, 'a', 'secret-key'), 'utf8').trim();
  const sql = postgres(db, { max: 1, onnotice: () => undefined });
  try {
    const meta = await sql<{ key: string; value: string }[]>`SELECT key, value FROM meta`;
    assert.ok(meta.every((m) => !m.value.includes(keyText)));
    const signing = meta.find((m) => m.key === 'signing_key')?.value ?? '';
    assert.match(signing, /^v1\./);
    assert.ok(!signing.includes('"d"'));
  } finally {
    await sql.end();
  }

  // A replica without the key file, or with another key, refuses to start with one line naming the fix.
  const missing = await runControllerExpectingFailure(['--database', db, '--data-dir', join(root, 'c'), '--port', '0']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
  assert.match(missing.stderr, /secret-key is missing .*: copy the secret-key file of the first replica to .*--secret-key-file PATH/);
  const other = join(root, 'other-key');
  writeFileSync(other, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const wrong = await runControllerExpectingFailure(['--database', db, '--data-dir', join(root, 'd'), '--port', '0'], { FUSTOR_CONTROLLER_SECRET_KEY_FILE: other });
  assert.equal(wrong.code, 1);
  assert.equal(wrong.stderr.trim().split('\n').length, 1, wrong.stderr);
  assert.match(wrong.stderr, /other-key is not the secret key this database was written with \(its fingerprint is [0-9a-f]{16}, this file's [0-9a-f]{16}\): copy/);
});

test('--database errors — unreachable, unknown database, not PostgreSQL: one line each, password never shown', { skip: PG_SKIP }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'fustor-pg-bad-'));
  try {
    const base = new URL(process.env.FUSTOR_TEST_DATABASE_URL ?? '');
    const refused = await runControllerExpectingFailure(['--database', 'postgres://u:hunter2@127.0.0.1:1/db', '--data-dir', join(root, 'a'), '--port', '0']);
    const unknownDb = new URL(base);
    unknownDb.pathname = '/fustor_does_not_exist';
    unknownDb.password = 'hunter2';
    const missing = await runControllerExpectingFailure(['--database', unknownDb.toString(), '--data-dir', join(root, 'b'), '--port', '0']);
    const mysql = await runControllerExpectingFailure(['--database', 'mysql://u:hunter2@h/db', '--data-dir', join(root, 'c'), '--port', '0']);
    for (const [res, re] of [
      [refused, /^fustor: cannot connect to PostgreSQL at 127\.0\.0\.1:1: connection refused: start PostgreSQL there or fix --database/],
      [missing, /^fustor: database "fustor_does_not_exist" does not exist on .*: create it \(createdb/],
      [mysql, /^fustor: --database mysql:\/\/…: only PostgreSQL is supported/],
    ] as const) {
      assert.equal(res.code, 1);
      assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
      assert.match(res.stderr, re);
      assert.ok(!(res.stdout + res.stderr).includes('hunter2'));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

// ---- GitOps failover -------------------------------------------------------------------------

const GATEWAY_VIEW = 'apiVersion: fustor.io/v1\nkind: Gateway\nmetadata: {name: gw1}\nspec: {url: "http://gw1.example:8101"}\n---\napiVersion: fustor.io/v1\nkind: View\nmetadata: {name: demo}\nspec: {driver: fs, gateway: gw1}\n';
const pipeYaml = (uri: string) => `apiVersion: fustor.io/v1\nkind: Pipe\nmetadata: {name: p1}\nspec:\n  agentSelector: {matchLabels: {site: a}}\n  source: {driver: fs, uri: ${uri}}\n  view: demo\n`;

function commit(repo: string, files: Record<string, string>, message: string): string {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(repo, name, '..'), { recursive: true });
    writeFileSync(join(repo, name), text);
  }
  const env = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example' };
  execFileSync('git', ['-C', repo, 'add', '-A'], { env });
  execFileSync('git', ['-C', repo, 'commit', '--quiet', '-m', message], { env });
  return execFileSync('git', ['-C', repo, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
}

test('failover — only the leader runs GitOps; after kill -9 of the leader the other replica leads and applies a commit made after the kill', { skip: PG_SKIP }, async (t) => {
  const repoRoot = mkdtempSync(join(tmpdir(), 'fustor-pg-git-'));
  const repo = join(repoRoot, 'repo');
  execFileSync('git', ['init', '--quiet', '-b', 'main', repo]);
  const c1 = commit(repo, { 'base.yaml': GATEWAY_VIEW, 'pipe.yaml': pipeYaml('/data/1') }, 'one');
  // The default lease (5 s, renewed every second): the takeover after the kill comes within ~6 s, well inside
  // the test's patience, and A does not lose the lease to B on its own while it is alive — a 2 s lease could
  // lapse on a loaded host (one slow renewal), and B would then lead and sync while A is still up.
  // GitOps polls every second.
  const { a, b, defer } = await twoReplicas(t, { args: ['--git', repo, '--git-interval', '1'], env: { FUSTOR_CONTROLLER_LEASE_TTL_SEC: '5' } });
  defer(() => rmSync(repoRoot, { recursive: true, force: true }));
  assert.equal((await health(a)).leader, true);
  assert.equal((await a.json('/api/v1/gitops', 'GET')).body.last_applied_commit, c1);

  // While A leads, it alone polls: a new commit is applied by A; B never syncs.
  const c2 = commit(repo, { 'pipe.yaml': pipeYaml('/data/2') }, 'two');
  await until('A applies commit two', async () => (await a.json('/api/v1/gitops', 'GET')).body.last_applied_commit === c2);
  assert.equal((await b.json('/api/v1/gitops', 'GET')).body.last_sync_at, null, 'the replica without the lease synced');
  assert.equal((await health(b)).leader, false);

  await a.kill();
  const c3 = commit(repo, { 'pipe.yaml': pipeYaml('/data/3') }, 'three');
  await until('B takes the lease', async () => (await health(b)).leader);
  // Logged when the lease is taken, but written asynchronously: /healthz can say so before the line arrives.
  await until('B logs "lease acquired"', () => b.logs().some((l) => l.msg === 'lease acquired'));
  await until('B applies commit three', async () => {
    const p = (await b.json('/api/v1/resources/pipes/p1', 'GET')).body as { spec?: { source: { uri: string } } };
    return p.spec?.source.uri === '/data/3';
  });
  const status = (await b.json('/api/v1/gitops', 'GET')).body;
  assert.equal(status.last_applied_commit, c3);
  const last = ((await b.json('/api/v1/history?limit=1', 'GET')).body.items as { actor: string }[])[0];
  assert.equal(last.actor, `git:${c3.slice(0, 12)}`);
});

// ---- members across replicas -----------------------------------------------------------------

const enroll = (c: RunningController, token: string, kind: 'agent' | 'gateway', name: string) => enrollMember(c, { token, kind, name });

function member(c: RunningController, credential: string, defer: Defer, onCommand?: ControlChannelClientOptions['onCommand']) {
  const manifests: ManifestFrame[] = [];
  const cl = new ControlChannelClient({
    url: c.url, credential: () => credential, report: () => ({ version: '0.1.0' }), backoff: { baseMs: 50, maxMs: 200 },
    ...(onCommand === undefined ? {} : { onCommand }),
    onManifest: async (m) => {
      manifests.push(m);
      return { status: 'APPLIED' };
    },
  });
  cl.start();
  defer(() => cl.stop());
  return { cl, manifests };
}

test('members across replicas — enrolled on A, served by B with A\'s secret; an enrollment on A reaches B\'s gateway manifest; revoking on A closes the channel held on B', { skip: PG_SKIP }, async (t) => {
  const { a, b, defer } = await twoReplicas(t);
  const applied = await a.json('/api/v1/apply', 'POST', {
    body: [gatewayDoc('gw1'), viewDoc('v1', 'gw1'), secretDoc('cred-a', { password: 's3cret-a' }), pipeDoc('pa', 'v1', { source: { driver: 'fs', uri: '/data/a', credentialRef: 'cred-a' } })],
  });
  assert.equal(applied.status, 200, JSON.stringify(applied.body));
  const agentToken = (await a.json('/api/v1/tokens/enrollment', 'POST', { body: { kind: 'agent', labels: { site: 'a' }, uses: 2 } })).body.token as string;
  const gatewayToken = (await a.json('/api/v1/tokens/enrollment', 'POST', { body: { kind: 'gateway' } })).body.token as string;

  // The agent enrolls on A (credential signed there) and holds its channel on B, which opens A's secret.
  const agent = await enroll(a, agentToken, 'agent', 'agent-a');
  const ag = member(b, agent.credential, defer);
  await until('the agent gets its manifest from B', () => ag.manifests.some((m) => (m.content as { pipes: Json[] }).pipes.length === 1));
  const pipe = (ag.manifests.at(-1)!.content as { pipes: Json[] }).pipes[0];
  assert.deepEqual([pipe.id, pipe.credential], ['pa', { password: 's3cret-a' }]);

  const gateway = await enroll(a, gatewayToken, 'gateway', 'gw1');
  const gw = member(b, gateway.credential, defer);
  const agentsOfPa = () => ((gw.manifests.at(-1)?.content as { views?: { pipes: { id: string; agents: string[] }[] }[] } | undefined)?.views?.[0]?.pipes[0]?.agents ?? []);
  await until('the gateway on B lists agent-a for pipe pa', () => agentsOfPa().join() === agent.id);

  // A second agent enrolled on A changes the gateway manifest served by B.
  const agent2 = await enroll(a, agentToken, 'agent', 'agent-a2');
  await until('B pushes the new agent to the gateway', () => agentsOfPa().join() === [agent.id, agent2.id].sort().join());

  // Revoked on A: B closes the agent's channel with `revoked` and tells the gateway.
  const revoked = await a.json('/api/v1/members/agent/agent-a/revoke', 'POST');
  assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
  await until('the channel on B receives revoked and closes', () => ag.cl.received.some((f: ControllerFrame) => f.type === 'revoked') && !ag.cl.connected);
  await until('the gateway manifest from B lists the revoked agent', () => {
    const content = gw.manifests.at(-1)?.content as { revoked_members?: string[] } | undefined;
    return content?.revoked_members?.includes(agent.id) === true;
  });
  assert.deepEqual(agentsOfPa(), [agent2.id]);
  const again = await b.json('/api/v1/channel/poll', 'POST', { token: agent.credential, body: { frames: [] } });
  assert.equal(again.status, 403);
});

test('commands and connections across replicas — sent on A to an agent whose channel is on B: B delivers it once, A reads the answer; A knows the agent is connected to B until that channel closes', { skip: PG_SKIP }, async (t) => {
  const { a, b, defer } = await twoReplicas(t);
  const token = (await a.json('/api/v1/tokens/enrollment', 'POST', { body: { kind: 'agent' } })).body.token as string;
  const agent = await enroll(a, token, 'agent', 'agent-c');
  const seen: CommandFrame[] = [];
  const ag = member(b, agent.credential, defer, async (cmd) => {
    seen.push(cmd);
    return { ok: true, message: `did ${cmd.command}` };
  });
  await until('the agent is connected to B', () => ag.cl.connected && ag.manifests.length > 0);
  const sent = await a.json('/api/v1/agents/agent-c/commands', 'POST', { body: { command: 'renew_credential' } });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const id = sent.body.id as string;
  let answer: Json = {};
  await until('A reads the answer B recorded', async () => {
    answer = (await a.json(`/api/v1/commands/${id}`, 'GET')).body;
    return answer.state === 'succeeded';
  });
  assert.equal(answer.message, 'did renew_credential');
  await new Promise((r) => setTimeout(r, 1500)); // several watch ticks of both replicas
  assert.deepEqual(seen.map((c) => c.id), [id], 'delivered exactly once');

  // Monitoring on A knows the agent is connected — to B — and learns when that channel closes.
  const onA = async () => (await a.json('/api/v1/agents/agent-c', 'GET')).body;
  const bReplica = (await health(b)).replica;
  await until('A says connected to B', async () => {
    const info = await onA();
    return info.connected === true && info.replica === bReplica;
  });
  await ag.cl.stop();
  await until('A sees the channel on B closed', async () => (await onA()).connected === false);
  assert.equal((await onA()).replica, null);
});

test('signing-key rotation across replicas — rotated on A: B publishes the new key within seconds and signs with it after the delay; the old key stays published on both', { skip: PG_SKIP }, async (t) => {
  const { a, b } = await twoReplicas(t, { env: { FUSTOR_CONTROLLER_KEY_ACTIVATION_SEC: '3', FUSTOR_CONTROLLER_WATCH_MS: '200' } });
  const kids = async (c: RunningController) => ((await c.json('/api/v1/jwks', 'GET', { token: null })).body.keys as { kid: string }[]).map((k) => k.kid).sort();
  const [old] = await kids(a);
  assert.deepEqual(await kids(b), [old]);
  const rotated = await a.json('/api/v1/signing-keys/rotate', 'POST');
  assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
  const next = rotated.body.kid as string;
  await until('B publishes the new key', async () => (await kids(b)).join() === [old, next].sort().join());
  const token = (await a.json('/api/v1/tokens/enrollment', 'POST', { body: { kind: 'agent' } })).body.token as string;
  await until('B signs with the new key once it is active', async () => {
    const signing = ((await b.json('/api/v1/signing-keys', 'GET')).body.items as { kid: string; signing: boolean }[]).find((k) => k.signing);
    return signing?.kid === next;
  });
  const enrolled = await enroll(b, token, 'agent', 'after-rotation');
  assert.equal(decodeProtectedHeader(enrolled.credential).kid, next);
  assert.deepEqual(await kids(a), [old, next].sort(), 'the old key is still published');
});
