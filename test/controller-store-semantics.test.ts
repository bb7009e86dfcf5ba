/**
 * The store semantics every controller backend must keep, run against the embedded SQLite store and — when
 * FUSTOR_TEST_DATABASE_URL is set — a fresh PostgreSQL database: one apply = one revision, unchanged
 * re-applies create none, prune in the same revision, a throwing plan leaves nothing, byte-order listing,
 * tokens, meta claims, member enrollment with N-use tokens, revocation and the members' change marker.
 * PostgreSQL alone: two pools (as two replicas) serialise their mutations, concurrent migration, the lease.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/kernel/logger.ts';
import { SecretBox } from '../src/controller/crypto/secret-box.ts';
import { issueToken } from '../src/controller/crypto/tokens.ts';
import { SqliteCommandStore, type CommandStore } from '../src/controller/commands/command-store.ts';
import { PgCommandStore } from '../src/controller/commands/pg-command-store.ts';
import { SqliteMemberStore, type MemberStore } from '../src/controller/identity/member-store.ts';
import { PgMemberStore } from '../src/controller/identity/pg-member-store.ts';
import { ResourceService } from '../src/controller/service/resource-service.ts';
import { PgLease } from '../src/controller/store/lease.ts';
import { PG_MIGRATIONS } from '../src/controller/store/pg-migrations.ts';
import { PgStore } from '../src/controller/store/pg-store.ts';
import { SqliteStore } from '../src/controller/store/sqlite-store.ts';
import { LeaseLostError, type ControllerStore, type MutationPlan, type StateSnapshot } from '../src/controller/store/store.ts';
import { deferrals, freshDatabase, PG_SKIP, type Defer } from './helpers/postgres.ts';

const doc = (kind: string, name: string, spec: Record<string, unknown>) => ({ apiVersion: 'fustor.io/v1', kind, metadata: { name }, spec });

interface Backend { store: ControllerStore; members: MemberStore; commands: CommandStore; service: ResourceService }

const backends: { name: string; skip: string | false; open: (defer: Defer) => Promise<Backend> }[] = [
  {
    name: 'sqlite',
    skip: false,
    async open(defer) {
      const dir = mkdtempSync(join(tmpdir(), 'fustor-store-'));
      defer(() => rmSync(dir, { recursive: true, force: true }));
      const store = SqliteStore.open(join(dir, 'c.db'));
      const members = new SqliteMemberStore(join(dir, 'c.db'));
      const commands = new SqliteCommandStore(join(dir, 'c.db'));
      defer(() => store.dispose());
      defer(() => members.dispose());
      defer(() => commands.dispose());
      return { store, members, commands, service: service(store) };
    },
  },
  {
    name: 'postgres',
    skip: PG_SKIP,
    async open(defer) {
      const db = await freshDatabase(defer);
      const store = await PgStore.open(db.url);
      defer(() => store.dispose());
      return { store, members: new PgMemberStore(store.sql), commands: new PgCommandStore(store.sql), service: service(store) };
    },
  },
];

function service(store: ControllerStore): ResourceService {
  const box = new SecretBox(randomBytes(32));
  return new ResourceService(store, { seal: (p, a) => box.seal(p, a), open: (s, a) => box.open(s, a), mac: (t) => box.mac(t), newQueryKey: () => issueToken('fqk') });
}

const key = () => ({ kty: 'EC' as const, crv: 'P-256' as const, x: randomBytes(32).toString('base64url'), y: randomBytes(32).toString('base64url') });

for (const b of backends) {
  test(`store (${b.name}) — one apply one revision; unchanged creates none; prune in the same revision; audit newest first`, { skip: b.skip }, async (t) => {
    const { store, service: s } = await b.open(deferrals(t));
    const base = [
      doc('Gateway', 'gw1', { url: 'http://gw1:8101' }), doc('View', 'v1', { driver: 'fs', gateway: 'gw1' }),
      doc('Secret', 'cred', { data: { password: 'p' } }),
      doc('Pipe', 'p1', { agentSelector: { matchLabels: { site: 'a' } }, source: { driver: 'fs', uri: '/d', credentialRef: 'cred' }, view: 'v1' }),
    ];
    const r1 = await s.apply(base, 'op-1');
    assert.equal(r1.revision, 1);
    assert.deepEqual(r1.resources.map((r) => r.action), ['created', 'created', 'created', 'created']);
    const again = await s.apply(base, 'op-1');
    assert.deepEqual([again.revision, again.current_revision], [null, 1]);
    const r2 = await s.apply([doc('Gateway', 'gw2', { url: 'http://gw2:8101' })], 'op-2');
    const r3 = await s.apply(base, 'op-3', { prune: true });
    assert.deepEqual([r2.revision, r3.revision], [2, 3]);
    assert.deepEqual(r3.resources.filter((r) => r.action !== 'unchanged').map((r) => `${r.kind}/${r.name} ${r.action}`), ['Gateway/gw2 deleted']);
    assert.equal(await store.currentRevision(), 3);
    const secret = await store.getResource('Secret', 'cred');
    assert.equal((secret?.doc.spec as { data: Record<string, string> }).data.password, '[redacted]');
    assert.ok(secret?.sealed?.startsWith('v1.') === true && !secret.sealed.includes('"p"'));
    assert.deepEqual([secret?.revision, secret?.createdRevision], [1, 1]);
    assert.match(secret?.updatedAt ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const history = await store.history({ limit: 10 });
    assert.deepEqual(history.map((h) => [h.revision, h.actor, h.action, `${h.kind}/${h.name}`]).slice(0, 3), [
      [3, 'op-3', 'deleted', 'Gateway/gw2'], [2, 'op-2', 'created', 'Gateway/gw2'], [1, 'op-1', 'created', 'Pipe/p1'],
    ]);
    assert.deepEqual((await store.history({ limit: 10, before: history[1].id })).map((h) => h.id), history.slice(2).map((h) => h.id));
    assert.equal(history[0].after_hash, null);
    assert.match(history[0].time, /Z$/);
  });

  test(`store (${b.name}) — a plan that throws leaves nothing; names list in byte order`, { skip: b.skip }, async (t) => {
    const { store, service: s } = await b.open(deferrals(t));
    await s.apply(['gw_b', 'gw-b', 'Gw.a', 'gw.a'].map((n) => doc('Gateway', n, { url: `http://${n.toLowerCase()}:1` })), 't');
    assert.deepEqual((await s.list('Gateway')).map((g) => g.metadata.name), ['Gw.a', 'gw-b', 'gw.a', 'gw_b']);
    const before = await store.history({ limit: 100 });
    await assert.rejects(store.mutate('t', (state): MutationPlan<null> => {
      assert.equal(state.currentRevision, 1);
      throw new Error('plan refused');
    }), /plan refused/);
    assert.equal(await store.currentRevision(), 1);
    assert.deepEqual(await store.history({ limit: 100 }), before);
  });

  test(`store (${b.name}) — tokens, meta claims`, { skip: b.skip }, async (t) => {
    const { store } = await b.open(deferrals(t));
    const tok = { id: 'id1', name: 'ci', role: 'operator' as const, hash: 'h', expiresAt: '2030-01-02T03:04:05.678Z', revokedAt: null };
    assert.equal(await store.insertOperatorToken(tok, 'admin'), true);
    assert.equal(await store.insertOperatorToken({ ...tok, id: 'id2' }, 'admin'), false);
    assert.deepEqual(await store.findOperatorToken('id1'), tok);
    assert.equal(await store.findOperatorToken('id2'), undefined);
    await store.insertEnrollmentToken({ id: 'e1', kind: 'agent', labels: { site: 'a' }, usesLeft: 2, hash: 'h', expiresAt: '2030-01-01T00:00:00.000Z' }, 'ci');
    assert.deepEqual((await store.history({ limit: 5 })).map((h) => [h.revision, h.action, h.kind, h.name]), [[null, 'token.created', 'EnrollmentToken', 'e1'], [null, 'token.created', 'OperatorToken', 'ci']]);
    assert.equal(await store.getMeta('k'), undefined);
    assert.equal(await store.claimMeta('k', 'first'), 'first');
    assert.equal(await store.claimMeta('k', 'second'), 'first');
    await store.setMeta('k', 'third');
    assert.equal(await store.getMeta('k'), 'third');
  });

  test(`members (${b.name}) — an N-use token enrolls N members even when raced; names unique; revocation and the change marker`, { skip: b.skip }, async (t) => {
    const { store, members } = await b.open(deferrals(t));
    await store.insertEnrollmentToken({ id: 'e2', kind: 'agent', labels: { site: 'a' }, usesLeft: 2, hash: 'h', expiresAt: new Date(Date.now() + 3600_000).toISOString() }, 'ci');
    const m0 = await members.changeMarker();
    const outcomes = await Promise.all(['a1', 'a2', 'a3'].map((name) => members.enroll('e2', { kind: 'agent', name, publicJwk: key(), jkt: name }, Date.now())));
    assert.deepEqual(outcomes.map((o) => (o.ok ? 'ok' : o.reason)).sort(), ['ok', 'ok', 'used_up']);
    assert.equal((await members.findEnrollmentToken('e2'))?.usesLeft, 0);
    await store.insertEnrollmentToken({ id: 'e3', kind: 'agent', labels: {}, usesLeft: 1, hash: 'h', expiresAt: new Date(Date.now() + 3600_000).toISOString() }, 'ci');
    const enrolled = outcomes.find((o) => o.ok);
    assert.ok(enrolled?.ok === true);
    const taken = await members.enroll('e3', { kind: 'agent', name: enrolled.member.name, publicJwk: key(), jkt: 'x' }, Date.now());
    assert.deepEqual(taken, { ok: false, reason: 'name_taken' });
    assert.equal((await members.findEnrollmentToken('e3'))?.usesLeft, 1, 'a refused enrollment costs no use');
    const m1 = await members.changeMarker();
    assert.notEqual(m1, m0);
    assert.deepEqual((await store.listAgents()).map((a) => a.labels), [{ site: 'a' }, { site: 'a' }]);

    await members.recordReport(enrolled.member.id, { state: 'healthy', report: '{"type":"report"}', now: Date.now(), replica: 'r1' });
    const reported = await members.getMember(enrolled.member.id);
    assert.deepEqual([reported?.state, reported?.lastReport], ['healthy', '{"type":"report"}']);
    assert.equal(await members.changeMarker(), m1, 'reports do not change manifests, so not the marker');

    const revoked = await members.revoke(enrolled.member.id, Date.now());
    assert.equal(revoked?.state, 'revoked');
    assert.ok(revoked?.revokedAt !== null);
    assert.notEqual(await members.changeMarker(), m1);
    const again = await members.revoke(enrolled.member.id, Date.now() + 5000);
    assert.equal(again?.revokedAt, revoked?.revokedAt, 'revoking twice keeps the first time');
    await members.recordReport(enrolled.member.id, { state: 'healthy', report: '{}', now: Date.now(), replica: 'r1' });
    assert.equal((await members.findMember('agent', enrolled.member.name))?.state, 'revoked');
    assert.equal(await members.useProof('j1', enrolled.member.id, 2_000_000_000, 1_000), true);
    assert.equal(await members.useProof('j1', enrolled.member.id, 2_000_000_000, 1_000), false);
  });

  test(`commands (${b.name}) — claimed once even when raced; only the member it was sent to settles it; expiry at read time; audited`, { skip: b.skip }, async (t) => {
    const { commands, store } = await b.open(deferrals(t));
    const now = Date.now();
    const base = { kind: 'agent' as const, member: 'h1', memberId: 'm-1', pipe: null, actor: 'ops', now };
    const c1 = await commands.create({ ...base, id: 'c-1', command: 'rescan', expiresAt: now + 60_000 });
    assert.deepEqual([c1.state, c1.delivered_at, c1.message], ['pending', null, null]);
    await commands.create({ ...base, id: 'c-2', command: 'renew_credential', now: now + 1, expiresAt: now + 1000 });
    assert.deepEqual((await commands.pending(now + 10)).map((c) => c.id), ['c-1', 'c-2'], 'oldest first');
    assert.deepEqual((await commands.pending(now + 5000)).map((c) => c.id), ['c-1'], 'an expired command is not pending');
    assert.equal((await commands.get('c-2', now + 10))?.state, 'pending');
    assert.equal((await commands.get('c-2', now + 5000))?.state, 'expired');

    const claims = await Promise.all([1, 2, 3].map(() => commands.claim('c-1', now + 20)));
    assert.deepEqual(claims.filter(Boolean).length, 1, 'one replica sends it');
    assert.equal(await commands.claim('c-2', now + 5000), false, 'an expired command is never sent');
    assert.equal(await commands.finish('c-1', 'm-other', true, 'forged', now + 30), false, 'another member cannot settle it');
    assert.equal(await commands.finish('c-2', 'm-1', true, 'never sent', now + 30), false, 'a command not sent cannot be settled');
    assert.equal(await commands.finish('c-1', 'm-1', false, 'pipe p1 is starting', now + 30), true);
    assert.equal(await commands.finish('c-1', 'm-1', true, 'again', now + 40), false, 'settled once');
    const done = await commands.get('c-1');
    assert.deepEqual([done?.state, done?.message, done?.actor], ['failed', 'pipe p1 is starting', 'ops']);
    assert.deepEqual((await commands.list({ memberId: 'm-1', limit: 10 }, now)).map((c) => c.id), ['c-2', 'c-1'], 'newest first');
    assert.deepEqual(await commands.list({ memberId: 'm-none', limit: 10 }, now), []);
    const audit = (await store.history({ limit: 10 })).map((e) => `${e.action} ${e.kind}/${e.name} by ${e.actor}`);
    assert.ok(audit.includes('command.rescan Agent/h1 by ops'), audit.join('; '));
  });
}

test('store (postgres) — two pools, as two replicas: mutations serialise (no lost update), revisions unique and in commit order', { skip: PG_SKIP }, async (t) => {
  const defer = deferrals(t);
  const db = await freshDatabase(defer);
  // Opened together: the advisory lock makes the second wait for the first one's migrations.
  const [a, b] = await Promise.all([PgStore.open(db.url), PgStore.open(db.url)]);
  defer(() => a.dispose());
  defer(() => b.dispose());
  assert.deepEqual(a.appliedMigrations(), PG_MIGRATIONS.map((m) => m.version));
  assert.deepEqual(b.appliedMigrations(), PG_MIGRATIONS.map((m) => m.version));

  // Each mutation reads the counter and writes counter + 1: a lost update would leave it below N.
  const increment = (state: StateSnapshot): MutationPlan<number> => {
    const cur = state.resources.find((r) => r.name === 'counter');
    const n = cur === undefined ? 0 : Number((cur.doc.metadata.labels ?? {}).n);
    const next = { apiVersion: 'fustor.io/v1' as const, kind: 'Gateway', metadata: { name: 'counter', labels: { n: String(n + 1) } }, spec: { url: 'http://c:1' } };
    return { writes: [{ kind: 'Gateway', name: 'counter', action: cur === undefined ? 'created' : 'changed', beforeHash: cur?.hash ?? null, after: { doc: next, sealed: null, hash: `h${n + 1}` } }], value: n + 1 };
  };
  const N = 24;
  const results = await Promise.all(Array.from({ length: N }, (_, i) => (i % 2 === 0 ? a : b).mutate(`r${i}`, increment)));
  assert.deepEqual(results.map((r) => r.value).sort((x, y) => x - y), Array.from({ length: N }, (_, i) => i + 1));
  const revisions = results.map((r) => r.revision as number);
  assert.equal(new Set(revisions).size, N);
  // Serialised: the k-th increment got the k-th revision.
  for (const r of results) assert.equal(r.revision, r.value);
  assert.equal(await b.currentRevision(), N);
  assert.equal((await a.getResource('Gateway', 'counter'))?.doc.metadata.labels?.n, String(N));

  // Restart (a new pool on the same database): numbering goes on.
  const c = await PgStore.open(db.url);
  defer(() => c.dispose());
  const after = await c.mutate('r', increment);
  assert.equal(after.revision, N + 1);
  await assert.rejects(PgStore.open(db.url, { migrations: PG_MIGRATIONS.slice(0, 1) }), /newer than this controller knows/);
});

test('lease (postgres) — one holder; the other takes over after a release; a fenced write by a non-holder writes nothing', { skip: PG_SKIP }, async (t) => {
  const defer = deferrals(t);
  const db = await freshDatabase(defer);
  const store = await PgStore.open(db.url);
  defer(() => store.dispose());
  const log = silentLogger();
  // TTL 5 s (the default): B takes over after A's release (a clean stop deletes the row), so the TTL only
  // bounds how long A holds the lease without renewing — 1 s could lapse on a loaded host mid-test.
  const a = await PgLease.start(store.sql, { name: 'reconcilers', replica: 'A', ttlSec: 5, log });
  defer(() => a.dispose());
  const b = await PgLease.start(store.sql, { name: 'reconcilers', replica: 'B', ttlSec: 5, log });
  defer(() => b.dispose());
  assert.deepEqual([a.held(), b.held(), b.holder()], [true, false, 'A']);

  const plan = (): MutationPlan<null> => ({ writes: [{ kind: 'Gateway', name: 'g', action: 'created', beforeHash: null, after: { doc: { apiVersion: 'fustor.io/v1', kind: 'Gateway', metadata: { name: 'g' }, spec: { url: 'http://g:1' } }, sealed: null, hash: 'h' } }], value: null });
  await assert.rejects(store.mutate('b', plan, { fence: b.fence() }), LeaseLostError);
  assert.equal(await store.currentRevision(), 0);
  assert.equal((await store.mutate('a', plan, { fence: a.fence() })).revision, 1);

  const changes: boolean[] = [];
  b.onChange((held) => changes.push(held));
  await a.dispose();
  assert.equal(a.held(), false);
  const deadline = Date.now() + 20_000;
  while (!b.held()) {
    assert.ok(Date.now() < deadline, 'B did not take the released lease');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(changes, [true]);
  assert.equal(b.holder(), 'B');
  await assert.rejects(store.mutate('a', plan, { fence: a.fence() }), LeaseLostError);
});
