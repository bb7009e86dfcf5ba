import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FustorError } from '../../kernel/errors.ts';
import { SessionRegistry, type EndReason, type SessionInit } from './session-registry.ts';
import { JobStore } from './job-store.ts';

function setup() {
  let mono = 0;
  const ended: { id: string; reason: EndReason; promoted: string | null }[] = [];
  const reg = new SessionRegistry({
    started: () => {},
    ended: (s, reason, info) => ended.push({ id: s.id, reason, promoted: info.promoted?.id ?? null }),
  }, { monoMs: () => mono, nowSec: () => 1000 + mono / 1000 });
  const init = (task: string, over: Partial<SessionInit> = {}): SessionInit => ({
    pipeId: 'p', taskId: task, principal: 'k', scope: 'view', timeoutSeconds: 10, allowConcurrentPush: true, sourceUri: '', clientIp: '', ...over,
  });
  return { reg, ended, init, advance: (ms: number) => { mono += ms; } };
}

test('first come first served; the oldest live session is promoted when the leader ends', () => {
  const { reg, ended, init } = setup();
  const a = reg.create(init('a:p'));
  const b = reg.create(init('b:p'));
  const c = reg.create(init('c:p'));
  assert.deepEqual([reg.role(a), reg.role(b), reg.role(c)], ['leader', 'follower', 'follower']);
  reg.terminate(a.id, 'deleted');
  assert.equal(reg.role(b), 'leader');
  assert.deepEqual(ended.at(-1), { id: a.id, reason: 'deleted', promoted: b.id });
  assert.equal(reg.terminate(a.id, 'deleted'), false, 'idempotent');
});

test('scopes elect independently (forest members)', () => {
  const { reg, init } = setup();
  const a = reg.create(init('a:p1', { pipeId: 'p1', scope: 'w:p1' }));
  const b = reg.create(init('b:p2', { pipeId: 'p2', scope: 'w:p2' }));
  assert.equal(reg.role(a), 'leader');
  assert.equal(reg.role(b), 'leader');
});

test('readiness: the leader\'s snapshot end only; a new leader must snapshot again', () => {
  const { reg, init } = setup();
  const a = reg.create(init('a:p'));
  const b = reg.create(init('b:p'));
  assert.deepEqual(reg.scopeReadiness('view'), { ready: false, reason: 'initial snapshot in progress', leader: a.id });
  assert.equal(reg.snapshotEnded(b.id), false, 'a follower cannot end the snapshot');
  assert.equal(reg.snapshotEnded(a.id), true);
  assert.equal(reg.scopeReadiness('view').ready, true);
  reg.terminate(a.id, 'expired');
  assert.deepEqual(reg.scopeReadiness('view'), { ready: false, reason: 'initial snapshot in progress', leader: b.id });
  reg.terminate(b.id, 'deleted');
  assert.deepEqual(reg.scopeReadiness('view'), { ready: false, reason: 'no active leader session', leader: null });
});

test('expiry: only heartbeats refresh liveness; an expired session is unknown and its follower promoted', () => {
  const { reg, ended, init, advance } = setup();
  const a = reg.create(init('a:p'));
  const b = reg.create(init('b:p', { timeoutSeconds: 30 }));
  advance(9000);
  reg.heartbeat(b, true, undefined);
  advance(1000);
  assert.equal(reg.get(a.id), undefined, 'expired at exactly the timeout');
  assert.equal(reg.role(b), 'leader');
  assert.equal(ended[0].reason, 'expired');
  advance(25000);
  assert.equal(reg.sweep(), 0, 'b heartbeated 26 s ago, timeout 30 s');
  advance(5000);
  assert.equal(reg.sweep(), 1);
});

test('same task_id replaces; the lock refuses another task while a session lives', () => {
  const { reg, ended, init } = setup();
  const a = reg.create(init('a:p', { allowConcurrentPush: false }));
  const a2 = reg.create(init('a:p', { allowConcurrentPush: false }));
  assert.equal(ended[0].id, a.id);
  assert.equal(ended[0].reason, 'replaced');
  assert.equal(reg.role(a2), 'leader');
  assert.throws(() => reg.create(init('b:p', { allowConcurrentPush: false })), (e: unknown) => e instanceof FustorError && e.code === 'SESSION_LOCKED' && /locked/.test(e.message));
});

test('heartbeat hands over the queued commands once', () => {
  const { reg, init } = setup();
  const a = reg.create(init('a:p'));
  a.commands.push({ type: 'scan', path: '/x', recursive: true, job_id: 'abcd0123', created_at: 1 });
  assert.equal(reg.heartbeat(a, undefined, undefined).length, 1);
  assert.equal(reg.heartbeat(a, undefined, undefined).length, 0);
});

test('jobs complete when every expected session reported or ended', () => {
  let now = 0;
  const jobs = new JobStore(() => now);
  const job = jobs.create('v', '/p', ['s1', 's2']);
  assert.equal(job.status, 'RUNNING');
  assert.equal(jobs.complete('s1', job.job_id, undefined), 1);
  assert.deepEqual(jobs.get('v', job.job_id)!.progress, { completed: 1, total: 2, percentage: 50 });
  jobs.sessionEnded('s2');
  assert.equal(jobs.get('v', job.job_id)!.status, 'COMPLETED');
  assert.equal(jobs.get('other', job.job_id), undefined, 'jobs are per view');
  const byPath = jobs.create('v', '/q', ['s3']);
  jobs.complete('s3', undefined, '/q');
  assert.equal(jobs.get('v', byPath.job_id)!.status, 'COMPLETED');
  now = 3601;
  jobs.purge();
  assert.deepEqual(jobs.list('v'), []);
});
