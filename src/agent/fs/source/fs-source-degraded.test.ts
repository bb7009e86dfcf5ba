/**
 * The fs source when things go wrong: kernel queue overflow, a full output buffer, a killed helper, the
 * kernel's watch limit (ENOSPC). Each one degrades the source, an audit repairs what was lost, and the
 * flag clears after it (ENOSPC stays: the limit really is lower).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { DEGRADED } from './fs-source.ts';
import { openSource, waitUntil, type SourceHarness } from './source-test-kit.ts';

const auditStatuses = (h: SourceHarness): string[][] =>
  h.out.signals.filter((s) => s.sig.type === 'audit_start').map((s) => s.status?.degraded ?? []);

test('kernel queue overflow (helper stopped) → degraded "inotify overflow", an audit runs, the flag clears', async (t: TestContext) => {
  const queue = Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8').trim());
  if (queue > 65_536) {
    t.skip(`max_queued_events is ${queue}: overflowing it would take too many files`);
    return;
  }
  const h = await openSource();
  try {
    const pid = h.src.helperPid;
    assert.ok(pid);
    process.kill(pid, 'SIGSTOP'); // nothing drains the kernel queue now
    try {
      for (let i = 0; i < queue / 2 + 200; i++) writeFileSync(join(h.root, `f${i}`), '');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitUntil(() => h.src.status().overflowCount === 1, 'the overflow', 15_000);
    await waitUntil(() => h.out.signalTypes().includes('audit_end'), 'the audit', 15_000);
    assert.ok(auditStatuses(h)[0].includes(DEGRADED.overflow), 'degraded while the audit starts');
    await waitUntil(() => !h.src.status().degraded.includes(DEGRADED.overflow), 'the flag cleared');
    // The audit found what the lost events would have reported.
    const audited = new Set(h.out.compensating_('audit').map((r) => r.path));
    assert.ok(audited.has(`/f${Math.floor(queue / 2 + 199)}`));
    assert.equal(h.src.status().overflowCount, 1);
  } finally {
    await h.close();
  }
});

test('overflow handler: degraded → audit (audit_start … audit_end) → cleared; realtime still flows', async () => {
  const h = await openSource({ prepare: (root) => writeFileSync(join(root, 'x'), 'x') });
  try {
    h.src.simulateOverflow();
    assert.deepEqual(h.src.status().degraded, [DEGRADED.overflow]);
    await waitUntil(() => h.out.signalTypes().includes('audit_end'), 'the audit');
    assert.deepEqual(auditStatuses(h), [[DEGRADED.overflow]]);
    assert.ok(h.out.compensating_('audit').some((r) => r.path === '/x'));
    await waitUntil(() => h.src.status().degraded.length === 0, 'cleared');
    writeFileSync(join(h.root, 'after'), '1');
    await waitUntil(() => h.out.upserts('/after').some((r) => r.is_atomic_write === true), 'realtime after the audit');
  } finally {
    await h.close();
  }
});

test('output buffer full (realtime() → false) → degraded "buffer full", an audit is scheduled, cleared after it', async () => {
  const h = await openSource();
  try {
    h.out.refuseRealtime = 1;
    // The helper is stopped while the file is written, so its create, modify and close_write leave in one
    // read and reach the source as one batch: the file's row is one realtime() call, the refused one. (Read
    // apart, the close_write could make a second, accepted call, depending on how the host schedules.)
    const pid = h.src.helperPid;
    assert.ok(pid);
    process.kill(pid, 'SIGSTOP');
    try {
      writeFileSync(join(h.root, 'lost'), 'x');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitUntil(() => h.out.refused > 0, 'a refused realtime call');
    assert.ok(h.src.status().degraded.includes(DEGRADED.bufferFull));
    await waitUntil(() => h.out.signalTypes().includes('audit_end'), 'the audit');
    assert.ok(auditStatuses(h)[0].includes(DEGRADED.bufferFull));
    assert.ok(h.out.compensating_('audit').some((r) => r.path === '/lost'), 'the audit repairs the lost row');
    await waitUntil(() => h.src.status().degraded.length === 0, 'cleared');
    assert.equal(h.out.upserts('/lost').length, 0);
  } finally {
    await h.close();
  }
});

test('with onAuditNeeded the source only asks; the owner runs audit()', async () => {
  const asked: [string, string][] = [];
  const h = await openSource({ onAuditNeeded: (reason, sub) => asked.push([reason, sub]) });
  try {
    h.src.simulateOverflow();
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(asked, [[DEGRADED.overflow, '/']]);
    assert.deepEqual(h.out.signalTypes(), [], 'no audit of its own');
    await h.src.audit();
    assert.deepEqual(h.src.status().degraded, []);
  } finally {
    await h.close();
  }
});

test('helper killed → degraded, restarted with its watches, audited, cleared; realtime works again', async () => {
  const h = await openSource({ restartBackoff: { initialMs: 50, maxMs: 200 }, prepare: (root) => mkdirSync(join(root, 'sub')) });
  try {
    const pid = h.src.helperPid;
    assert.ok(pid);
    process.kill(pid, 'SIGKILL');
    await waitUntil(() => h.src.status().degraded.includes(DEGRADED.helperExited), 'degraded');
    await waitUntil(() => h.src.helperPid !== undefined && h.src.helperPid !== pid, 'a new helper', 10_000);
    await waitUntil(() => h.out.signalTypes().includes('audit_end'), 'the audit after the restart', 10_000);
    await waitUntil(() => h.src.status().degraded.length === 0, 'cleared');
    assert.deepEqual(h.src.watchedPaths().sort(), ['/', '/sub']);
    writeFileSync(join(h.root, 'sub', 'again'), '1');
    await waitUntil(() => h.out.upserts('/sub/again').some((r) => r.is_atomic_write === true), 'realtime after the restart');
    assert.match(h.src.status().lastError ?? '', /inotify helper/);
  } finally {
    await h.close();
  }
});

/** `unshare` prefix giving the helper a private user namespace whose watch limit is `limit`, or null. */
function userNamespacePrefix(limit: number): string[] | null {
  const script = `echo ${limit} > /proc/sys/user/max_inotify_watches && exec "$0"`;
  try {
    execFileSync('unshare', ['-U', '-r', 'sh', '-c', script, 'true'], { stdio: 'ignore' });
    return ['unshare', '-U', '-r', 'sh', '-c', script];
  } catch {
    return null;
  }
}

test('ENOSPC from the kernel → the watch limit is lowered to what is held, degraded "watch limit reached (ENOSPC)"', async (t: TestContext) => {
  const prefix = userNamespacePrefix(3);
  if (prefix === null) {
    t.skip('no private user namespace here (unshare -U -r): cannot lower the kernel watch limit without global changes');
    return;
  }
  const h = await openSource({
    spawnPrefix: prefix,
    prepare: (root) => { for (const d of ['a', 'b', 'c', 'd', 'e']) mkdirSync(join(root, d)); },
  });
  try {
    const st = h.src.status();
    assert.equal(st.watchLimit, 3);
    assert.equal(st.watchCount, 3);
    assert.ok(st.degraded.includes(DEGRADED.enospc));
    // Still degraded after an audit: the limit is real.
    await h.src.audit();
    assert.ok(h.src.status().degraded.includes(DEGRADED.enospc));
    assert.ok(h.src.status().watchCount <= 3);
  } finally {
    await h.close();
  }
});
