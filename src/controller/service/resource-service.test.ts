import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SecretBox } from '../crypto/secret-box.ts';
import { issueToken } from '../crypto/tokens.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import { SQLITE_MIGRATIONS } from '../store/sqlite-migrations.ts';
import { ResourceService } from './resource-service.ts';

const doc = (kind: string, name: string, spec: Record<string, unknown>) => ({ apiVersion: 'fustor.io/v1', kind, metadata: { name }, spec });

function setup(): { store: SqliteStore; service: ResourceService; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'fustor-ctrl-unit-'));
  const store = SqliteStore.open(join(dir, 'c.db'));
  const box = new SecretBox(randomBytes(32));
  const service = new ResourceService(store, { seal: (p, a) => box.seal(p, a), open: (s, a) => box.open(s, a), mac: (t) => box.mac(t), newQueryKey: () => issueToken('fqk') });
  return { store, service, done: () => { store.dispose(); rmSync(dir, { recursive: true, force: true }); } };
}

test('diff — names the enrolled agents a pipe change touches (by agentSelector and by agent), before and after', async () => {
  const { store, service, done } = setup();
  try {
    const now = new Date().toISOString();
    await store.upsertAgent({ name: 'host-a1', labels: { site: 'a' }, state: 'healthy', enrolledAt: now, lastSeen: now });
    await store.upsertAgent({ name: 'host-a2', labels: { site: 'a', rack: '2' }, state: 'healthy', enrolledAt: now, lastSeen: now });
    await store.upsertAgent({ name: 'host-b1', labels: { site: 'b' }, state: 'healthy', enrolledAt: now, lastSeen: null });
    const base = [
      doc('Gateway', 'gw1', { url: 'http://gw1:8101' }),
      doc('View', 'demo', { driver: 'fs', gateway: 'gw1' }),
      doc('Pipe', 'p1', { agentSelector: { matchLabels: { site: 'a' } }, source: { driver: 'fs', uri: '/d' }, view: 'demo' }),
    ];
    const d1 = await service.diff(base);
    assert.deepEqual(d1.resources.find((r) => r.name === 'p1')?.agents, ['host-a1', 'host-a2']);
    assert.deepEqual(d1.agents, ['host-a1', 'host-a2']);
    assert.deepEqual(d1.gateways, ['gw1']);
    await service.apply(base, 'test');

    // Moving the pipe from site a to one agent of site b touches those who leave and who join.
    const moved = await service.diff([doc('Pipe', 'p1', { agent: 'host-b1', source: { driver: 'fs', uri: '/d' }, view: 'demo' })]);
    assert.deepEqual(moved.resources[0].agents, ['host-a1', 'host-a2', 'host-b1']);
    assert.deepEqual(moved.resources[0].fields, ['spec.agent', 'spec.agentSelector']);
    // A gateway URL change touches the gateway and the agents feeding its views.
    const gw = await service.diff([doc('Gateway', 'gw1', { url: 'http://gw1-new:8101' })]);
    assert.deepEqual(gw.resources[0].gateways, ['gw1']);
    assert.deepEqual(gw.resources[0].agents, ['host-a1', 'host-a2']);
    // Unchanged touches nobody.
    const same = await service.diff(base);
    assert.deepEqual([same.agents, same.gateways], [[], []]);
  } finally {
    done();
  }
});

test('apply — with prune, resources the documents omit are deleted in the same revision', async () => {
  const { service, done } = setup();
  try {
    const gw = doc('Gateway', 'gw1', { url: 'http://gw1:8101' });
    const r1 = await service.apply([gw, doc('Gateway', 'gw2', { url: 'http://gw2:8101' })], 't');
    const r2 = await service.apply([gw], 't', { prune: true });
    assert.equal(r2.revision, (r1.revision as number) + 1);
    assert.deepEqual(r2.resources.map((r) => `${r.name} ${r.action}`), ['gw1 unchanged', 'gw2 deleted']);
    assert.deepEqual((await service.list('Gateway')).map((g) => g.metadata.name), ['gw1']);
  } finally {
    done();
  }
});

test('migrations — recorded once; reopening applies nothing new', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fustor-ctrl-unit-'));
  try {
    const a = SqliteStore.open(join(dir, 'c.db'));
    assert.deepEqual(a.appliedMigrations(), SQLITE_MIGRATIONS.map((m) => m.version));
    a.dispose();
    const b = SqliteStore.open(join(dir, 'c.db'));
    assert.deepEqual(b.appliedMigrations(), SQLITE_MIGRATIONS.map((m) => m.version));
    b.dispose();
    assert.throws(() => SqliteStore.open(join(dir, 'c.db'), []), /newer than this controller knows/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
