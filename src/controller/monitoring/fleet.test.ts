import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReportFrame } from '../../protocol/index.ts';
import { countStates, evaluateFleet, partitionPolicy, type FleetMemberInput } from './fleet.ts';
import { healthPolicy } from './health.ts';

const NOW = Date.parse('2026-05-02T10:00:00Z');
const HB = 15;
const report: ReportFrame = { type: 'report', seq: 1, version: '0.1.0', running_revision: 1, running_hash: 'sha256:aa', status: 'APPLIED' };
const member = (name: string, lastSeenAgoSec: number | null, o: Partial<FleetMemberInput> = {}): FleetMemberInput => ({
  id: `m-${name}`, kind: 'agent', name, revokedAt: null, lastSeenMs: lastSeenAgoSec === null ? null : NOW - lastSeenAgoSec * 1000, report: lastSeenAgoSec === null ? null : report, ...o,
});
const evaluate = (ms: FleetMemberInput[]) => evaluateFleet(ms, healthPolicy(HB), partitionPolicy(HB), NOW);

test('partition — most of the fleet offline with last reports within two heartbeats → suspected, and those members say so', () => {
  const f = evaluate([member('a', 300), member('b', 310), member('c', 295), member('d', 5)]);
  assert.equal(f.partition.suspected, true);
  assert.equal(f.partition.reason, 'possible network partition between the controller and 3 members, last seen within 15 s of each other');
  assert.deepEqual([...f.partition.memberIds].sort(), ['m-a', 'm-b', 'm-c']);
  const a = f.members.find((e) => e.member.name === 'a');
  assert.equal(a?.health.state, 'offline', 'still offline: the suspicion explains it, it does not hide it');
  assert.equal(a?.health.reasons[0], f.partition.reason);
  assert.deepEqual(f.members.find((e) => e.member.name === 'd')?.health, { state: 'healthy', reasons: [] });
});

test('partition — offline members that went away at different times are not a partition', () => {
  const f = evaluate([member('a', 300), member('b', 900), member('c', 3000), member('d', 5)]);
  assert.equal(f.partition.suspected, false);
  assert.ok(f.members.every((e) => !e.health.reasons.some((r) => r.includes('partition'))));
});

test('partition — fewer than 3 members, or under half of the fleet, is not a partition', () => {
  assert.equal(evaluate([member('a', 300), member('b', 301)]).partition.suspected, false, 'two members');
  const many = [member('a', 300), member('b', 301), member('c', 302), ...['d', 'e', 'f', 'g'].map((n) => member(n, 1))];
  assert.equal(evaluate(many).partition.suspected, false, '3 of 7');
});

test('partition — revoked and never-connected members neither count nor dilute', () => {
  const f = evaluate([
    member('a', 300), member('b', 301), member('c', 302), member('d', 1), member('e', 2),
    member('never1', null), member('never2', null), member('gone', 300, { revokedAt: '2026-05-01T00:00:00.000Z' }),
  ]);
  assert.equal(f.partition.suspected, true, '3 of the 5 members that ever reported');
  assert.equal(f.partition.memberIds.has('m-never1'), false);
  assert.equal(f.partition.memberIds.has('m-gone'), false);
});

test('partition — a whole fleet cut off at once (e.g. the controller was away) is one suspected partition', () => {
  const f = evaluate(['a', 'b', 'c', 'd', 'e'].map((n, i) => member(n, 600 + i)));
  assert.equal(f.partition.suspected, true);
  assert.equal(f.partition.memberIds.size, 5);
  assert.deepEqual(countStates(f.members.map((e) => e.health.state)), { healthy: 0, degraded: 0, unhealthy: 0, offline: 5, updating: 0, revoked: 0 });
});
