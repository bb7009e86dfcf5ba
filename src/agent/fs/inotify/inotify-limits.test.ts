/**
 * The reader at the kernel's limits and when the helper fails: queue overflow, the watch limit (ENOSPC),
 * a killed helper, a missing binary. Limits are provoked without touching global state where possible,
 * because other tests (and other people's processes) share the machine: overflow by stopping the helper
 * (SIGSTOP) while more events than the queue holds pile up; ENOSPC inside a private user namespace whose
 * own watch limit we may set. A global sysctl is lowered only when that is impossible but the sysctl is
 * writable (root), for the shortest time, and always restored; otherwise the test is skipped with the reason.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { InotifyHelperError, InotifyWatchError } from './errors.ts';
import { InotifyReader } from './inotify-reader.ts';
import { openHarness, sleep, type Harness } from './inotify-test-kit.ts';

const QUEUE_SYSCTL = '/proc/sys/fs/inotify/max_queued_events';
const WATCHES_SYSCTL = '/proc/sys/fs/inotify/max_user_watches';

const readSysctl = (path: string): number => Number(readFileSync(path, 'utf8').trim());

/**
 * True when we may write the sysctl (root, /proc/sys mounted read-write): probe by writing its own value.
 * FUSTOR_TEST_NO_SYSCTL=1 forbids changing global sysctls (shared machines); FUSTOR_TEST_NO_USERNS=1 skips
 * the user-namespace route (to exercise the sysctl route).
 */
function sysctlWritable(path: string): boolean {
  if (process.env.FUSTOR_TEST_NO_SYSCTL === '1') return false;
  try {
    writeFileSync(path, String(readSysctl(path)));
    return true;
  } catch {
    return false;
  }
}

test('kernel queue overflow → one overflow event (watchId 0), and events flow again afterwards', async (t: TestContext) => {
  const h = await openHarness({ start: false });
  try {
    let queue = readSysctl(QUEUE_SYSCTL);
    if (queue <= 65_536) {
      await h.reader.start(); // small enough to fill with files: no global change needed
    } else if (sysctlWritable(QUEUE_SYSCTL)) {
      // The limit is copied into each inotify instance when it is created: lower it only while ours starts.
      const original = queue;
      writeFileSync(QUEUE_SYSCTL, '4096');
      try {
        await h.reader.start();
      } finally {
        writeFileSync(QUEUE_SYSCTL, String(original));
      }
      queue = 4096;
      t.diagnostic(`max_queued_events lowered to 4096 for the helper's start only (restored to ${original})`);
    } else {
      t.skip(`max_queued_events is ${queue} and not writable here: overflowing it would take too many files`);
      return;
    }
    await h.reader.addWatch(h.root);
    const pid = h.reader.pid;
    assert.ok(pid);
    process.kill(pid, 'SIGSTOP'); // nothing drains the kernel queue now
    try {
      for (let i = 0; i < queue / 2 + 200; i++) writeFileSync(join(h.root, `f${i}`), ''); // create + close_write each
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await h.waitUntil(() => h.events.some((e) => e.kind === 'overflow'), 'overflow', 10_000);
    const overflow = h.events.filter((e) => e.kind === 'overflow');
    assert.equal(overflow.length, 1);
    assert.deepEqual(overflow[0], { watchId: 0, dirPath: '', name: '', kind: 'overflow', isDir: false, cookie: 0 });
    assert.ok(h.events.length <= queue + 1, `at most the queue's worth of events before the overflow (${h.events.length})`);
    writeFileSync(join(h.root, 'after'), '');
    await h.waitUntil(() => h.kindsFor('after').includes('close_write'), 'an event after the overflow');
    assert.deepEqual(h.errors, []);
  } finally {
    await h.close();
  }
});

/** Adds watches on fresh directories until ENOSPC; returns how many succeeded and the error. */
async function fillWatches(h: Harness, max: number): Promise<{ added: number; error: unknown }> {
  for (let i = 0; i < max; i++) {
    const dir = join(h.root, `d${i}`);
    mkdirSync(dir);
    try {
      await h.reader.addWatch(dir);
    } catch (error) {
      return { added: i, error };
    }
  }
  return { added: max, error: null };
}

function userNamespacePrefix(limit: number): string[] | null {
  if (process.env.FUSTOR_TEST_NO_USERNS === '1') return null;
  const script = `echo ${limit} > /proc/sys/user/max_inotify_watches && exec "$0"`;
  try {
    execFileSync('unshare', ['-U', '-r', 'sh', '-c', script, 'true'], { stdio: 'ignore' });
    return ['unshare', '-U', '-r', 'sh', '-c', script];
  } catch {
    return null;
  }
}

test('watch limit reached → addWatch rejects with ENOSPC (isWatchLimit) and existing watches keep working', async (t: TestContext) => {
  const prefix = userNamespacePrefix(3);
  let h: Harness;
  let restore: (() => void) | null = null;
  if (prefix) {
    // A user namespace of our own has its own inotify watch limit, checked on top of the global one.
    h = await openHarness({ spawnPrefix: prefix });
    t.diagnostic('limit set to 3 inside a private user namespace (no global change)');
  } else if (sysctlWritable(WATCHES_SYSCTL)) {
    h = await openHarness();
    const original = readSysctl(WATCHES_SYSCTL);
    restore = () => writeFileSync(WATCHES_SYSCTL, String(original));
    writeFileSync(WATCHES_SYSCTL, '1'); // every user is at or over 1 as soon as one watch exists
    t.diagnostic(`max_user_watches lowered to 1 for the duration of this test (restored to ${original})`);
  } else {
    t.skip('neither a user namespace (unshare -U) nor a writable fs.inotify.max_user_watches is available');
    return;
  }
  try {
    const { added, error } = await fillWatches(h, 50);
    restore?.();
    restore = null;
    assert.ok(error instanceof InotifyWatchError, `expected ENOSPC after ${added} watches`);
    assert.equal(error.code, 'ENOSPC');
    assert.equal(error.isWatchLimit, true);
    assert.match(error.message, /max_user_watches/);
    if (prefix) assert.equal(added, 3);
    if (added > 0) {
      writeFileSync(join(h.root, 'd0', 'still'), '');
      await h.waitUntil(() => h.kindsFor('still').includes('close_write'), 'an event in a watch added before the limit');
    }
    assert.deepEqual(h.errors, []);
  } finally {
    restore?.();
    await h.close();
  }
});

test('helper killed → onError(reason exited), pending calls rejected, start() again works', async () => {
  const h = await openHarness();
  try {
    await h.reader.addWatch(h.root);
    const pid = h.reader.pid;
    assert.ok(pid);
    process.kill(pid, 'SIGSTOP'); // keep the next add pending
    const pending = h.reader.addWatch(join(h.root));
    process.kill(pid, 'SIGKILL');
    await assert.rejects(pending, (e: unknown) => e instanceof InotifyHelperError && e.reason === 'exited');
    await h.waitUntil(() => h.errors.length > 0, 'the error callback');
    assert.equal(h.errors.length, 1);
    const error = h.errors[0];
    assert.ok(error instanceof InotifyHelperError);
    assert.equal(error.reason, 'exited');
    assert.match(error.message, /SIGKILL/);
    assert.equal(h.reader.running, false);
    assert.equal(h.reader.watchCount, 0, 'the caller re-adds its watches after a restart');

    await h.reader.start();
    assert.notEqual(h.reader.pid, pid);
    const id = await h.reader.addWatch(h.root);
    writeFileSync(join(h.root, 'reborn'), '');
    await h.waitUntil(() => h.kindsFor('reborn').includes('close_write'), 'events after the restart');
    assert.ok(h.events.filter((e) => e.name === 'reborn').every((e) => e.watchId === id));
  } finally {
    await h.close();
  }
});

test('a consumer that throws is reported through onError, and the reader keeps delivering', async () => {
  let calls = 0;
  const errors: Error[] = [];
  const h = await openHarness({ start: false });
  const reader = new InotifyReader({
    onEvents: () => { calls++; throw new Error('consumer bug'); },
    onError: (e) => errors.push(e),
  });
  try {
    await reader.start();
    await reader.addWatch(h.root);
    // Polled, not slept: the second file is written only after the first delivery has thrown, so it
    // arrives in a later call however fast or slow this host is.
    const until = async (condition: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (!condition()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (calls ${calls}, errors ${errors.length})`);
        await sleep(10);
      }
    };
    writeFileSync(join(h.root, 'a'), '');
    await until(() => calls >= 1 && errors.length >= 1, 'the first delivery and its error');
    writeFileSync(join(h.root, 'b'), '');
    await until(() => calls >= 2 && errors.length >= 2, 'a delivery after the throw');
    assert.ok(calls >= 2, 'still called after a throw');
    assert.ok(errors.length >= 2 && errors.every((e) => e.message === 'consumer bug'));
    assert.equal(reader.running, true);
  } finally {
    await reader.close();
    await h.close();
  }
});

test('a helper that never says READY → start() rejects after startTimeoutMs and the process is killed', async () => {
  const errors: Error[] = [];
  // The helper path becomes $0 of this script, which ignores it and never writes a record.
  const mute = new InotifyReader({ onEvents: () => {}, onError: (e) => errors.push(e), spawnPrefix: ['sh', '-c', 'exec sleep 30'], startTimeoutMs: 200 });
  await assert.rejects(mute.start(), (e: unknown) => e instanceof InotifyHelperError && e.reason === 'unavailable' && /within 200 ms/.test(e.message));
  assert.equal(mute.running, false);
  assert.equal(mute.pid, undefined, 'the mute process was killed');
  assert.deepEqual(errors, []);
});

test('close() while start() waits → start rejects with reason closed, no onError', async () => {
  const errors: Error[] = [];
  const waiting = new InotifyReader({ onEvents: () => {}, onError: (e) => errors.push(e), spawnPrefix: ['sh', '-c', 'read line; exit 0'] });
  const started = waiting.start();
  await sleep(50);
  await waiting.close();
  await assert.rejects(started, (e: unknown) => e instanceof InotifyHelperError && e.reason === 'closed');
  assert.equal(waiting.running, false);
  assert.deepEqual(errors, []);
});

test('a missing helper binary → start() rejects with reason unavailable, and the reader stays usable', async () => {
  const h = await openHarness({ start: false, helperPath: '/nonexistent/inotify-helper' });
  try {
    await assert.rejects(h.reader.start(), (e: unknown) => e instanceof InotifyHelperError && e.reason === 'unavailable' && /ENOENT/.test(e.message));
    assert.equal(h.reader.running, false);
    assert.deepEqual(h.errors, [], 'a failed start is reported by the rejection, not by onError');
  } finally {
    await h.close();
  }
});
