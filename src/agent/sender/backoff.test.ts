import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff, Wakeup, backoffCeiling, backoffDelay } from './backoff.ts';
import { parseRetryAfter } from './gateway-client.ts';

test('backoff ceilings double from 0.5 s and stop at 30 s; full jitter spans [0, ceiling)', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 100].map((n) => backoffCeiling(n)), [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  assert.equal(backoffDelay(3, {}, () => 0), 0);
  assert.equal(backoffDelay(3, {}, () => 0.999999), 1999);
  assert.equal(backoffDelay(20, { baseMs: 100, capMs: 1000 }, () => 0.5), 500);
});

test('Backoff counts consecutive failures and resets after a success', () => {
  const b = new Backoff({ baseMs: 100, capMs: 10_000 }, () => 0.5);
  assert.deepEqual([b.next(), b.next(), b.next()], [50, 100, 200]);
  b.reset();
  assert.equal(b.next(), 50);
});

test('Wakeup: wait ends at the timeout or at wake(); a wake() nobody waited for makes the next wait return at once', async (t) => {
  // Mocked timers: which of the two ended a wait is decided by the mock clock, never by how fast this host is.
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const settled = async (p: Promise<void>): Promise<boolean> => {
    let done = false;
    void p.then(() => { done = true; });
    await new Promise((r) => setImmediate(r)); // setImmediate is not mocked: lets the resolution run
    return done;
  };
  const w = new Wakeup();
  const byWake = w.wait(10_000);
  setTimeout(() => w.wake(), 10);
  t.mock.timers.tick(10);
  assert.equal(await settled(byWake), true, 'wake() ended the wait long before its 10 s timeout');
  const byTimeout = w.wait(500);
  t.mock.timers.tick(499);
  assert.equal(await settled(byTimeout), false, 'still waiting 1 ms before the timeout');
  t.mock.timers.tick(1);
  assert.equal(await settled(byTimeout), true, 'the timeout ended the wait');
  w.wake();
  assert.equal(await settled(w.wait(10_000)), true, 'a wake() nobody waited for: the next wait returns at once');
  w.dispose();
  assert.equal(await settled(w.wait(10_000)), true, 'a disposed Wakeup never waits');
});

test('Retry-After: seconds, an HTTP date, or 1 when absent', () => {
  assert.equal(parseRetryAfter('5'), 5);
  assert.equal(parseRetryAfter(null), 1);
  assert.equal(parseRetryAfter('soon'), 1);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6);
});
