import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReportFrame } from '../../protocol/index.ts';
import { healthPolicy, memberHealth, type HealthInput } from './health.ts';

const NOW = Date.parse('2026-05-02T10:00:00Z');
const policy = healthPolicy(15);
const report = (r: Partial<ReportFrame> = {}): ReportFrame => ({
  type: 'report', seq: 1, version: '0.1.0', running_revision: 7, running_hash: 'sha256:aa', status: 'APPLIED', ...r,
});
const agent = (r: ReportFrame | null, o: Partial<HealthInput> = {}): HealthInput => ({ kind: 'agent', revokedAt: null, lastSeenMs: NOW - 5000, report: r, ...o });

test('health — a fresh APPLIED report with running pipes is healthy, without reasons', () => {
  assert.deepEqual(memberHealth(agent(report({ components: [{ id: 'p1', state: 'running', freshness_lag_sec: 2, backlog: 10 }] })), policy, NOW), { state: 'healthy', reasons: [] });
  assert.deepEqual(memberHealth(agent(report()), policy, NOW), { state: 'healthy', reasons: [] }, 'an agent without pipes is idle, not failing');
});

test('health — revoked wins over everything, with the revocation time', () => {
  const h = memberHealth(agent(report({ status: 'FAILED' }), { revokedAt: '2026-05-02T09:00:00.000Z' }), policy, NOW);
  assert.deepEqual(h, { state: 'revoked', reasons: ['revoked at 2026-05-02T09:00:00.000Z'] });
});

test('health — offline: never connected, and after 3 missed heartbeats (not before)', () => {
  assert.deepEqual(memberHealth(agent(null, { lastSeenMs: null }), policy, NOW), { state: 'offline', reasons: ['never connected'] });
  assert.equal(memberHealth(agent(report(), { lastSeenMs: NOW - 45_000 }), policy, NOW).state, 'healthy', 'exactly 3 heartbeats is still in time');
  const h = memberHealth(agent(report(), { lastSeenMs: NOW - 46_000 }), policy, NOW);
  assert.equal(h.state, 'offline');
  assert.deepEqual(h.reasons, ['no report for 46 s (3 heartbeats of 15 s missed)']);
});

test('health — APPLYING is updating even while pipes restart', () => {
  const h = memberHealth(agent(report({ status: 'APPLYING', components: [{ id: 'p1', state: 'failed' }] })), policy, NOW);
  assert.equal(h.state, 'updating');
  assert.equal(h.reasons[0], 'applying a new manifest (running revision 7)');
});

test('health — FAILED with nothing running is unhealthy; with the old manifest still running it is degraded', () => {
  const nothing = memberHealth(agent(report({ status: 'FAILED', error: 'bad uri', running_hash: null, running_revision: null })), policy, NOW);
  assert.deepEqual(nothing, { state: 'unhealthy', reasons: ['apply failed: bad uri; nothing running'] });
  const old = memberHealth(agent(report({ status: 'FAILED', error: 'bad uri' })), policy, NOW);
  assert.deepEqual(old, { state: 'degraded', reasons: ['apply failed: bad uri; still running revision 7'] });
});

test('health — every pipe failing is unhealthy; one of two failing is degraded', () => {
  const all = memberHealth(agent(report({ components: [{ id: 'p1', state: 'failed' }, { id: 'p2', state: 'crashed' }] })), policy, NOW);
  assert.equal(all.state, 'unhealthy');
  assert.deepEqual(all.reasons, ['no pipe running (2 failing)', 'pipe p1 failed', 'pipe p2 crashed']);
  const one = memberHealth(agent(report({ components: [{ id: 'p1', state: 'failed' }, { id: 'p2', state: 'running' }] })), policy, NOW);
  assert.deepEqual(one, { state: 'degraded', reasons: ['pipe p1 failed'] });
});

test('health — degraded reasons, lag above 60 s and a high backlog make a member degraded, each named', () => {
  const h = memberHealth(agent(report({
    components: [
      { id: 'p1', state: 'running', degraded_reasons: ['inotify watch limit reached'] },
      { id: 'p2', state: 'running', freshness_lag_sec: 75 },
      { id: 'p3', state: 'running', backlog: 20_000 },
      { id: 'p4', state: 'running', freshness_lag_sec: 60, backlog: 10_000 },
    ],
  })), policy, NOW);
  assert.equal(h.state, 'degraded');
  assert.deepEqual(h.reasons, ['pipe p1: inotify watch limit reached', 'pipe p2 lagging: freshness lag 75 s (> 60 s)', 'pipe p3 backlog 20000 (> 10000)']);
});

test('health — a gateway view not ready is degraded and named as a view', () => {
  const h = memberHealth({ kind: 'gateway', revokedAt: null, lastSeenMs: NOW, report: report({ components: [{ id: 'v1', state: 'running', ready: false, sessions: 0 }] }) }, policy, NOW);
  assert.deepEqual(h, { state: 'degraded', reasons: ['view v1 not ready'] });
});
