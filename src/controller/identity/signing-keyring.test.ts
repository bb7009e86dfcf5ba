/** The signing keyring's timeline: publish before signing, retire on activation, drop after keep. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newEntry, SigningKeyring } from './signing-keyring.ts';

const HOUR = 3600_000;

test('a rotated-in key is published at once and signs only from its activation; the old one signs until then', async () => {
  const t0 = 1_000_000;
  const first = await newEntry(t0, 0);
  const ring = new SigningKeyring([first], 2 * HOUR);
  assert.equal(ring.signer(t0).kid, first.key.kid);
  const next = await newEntry(t0 + 10, t0 + 60_000);
  const v = ring.version;
  ring.rotate(next, t0 + 10);
  assert.ok(ring.version > v);
  assert.deepEqual(ring.published(t0 + 10).map((e) => e.key.kid), [first.key.kid, next.key.kid], 'both published during the activation delay');
  assert.equal(ring.signer(t0 + 59_999).kid, first.key.kid, 'the old key signs until the new one is active');
  assert.equal(ring.signer(t0 + 60_000).kid, next.key.kid);
  const info = ring.info(t0 + 60_000);
  assert.deepEqual(info.map((k) => [k.kid, k.signing, k.retired_at, k.published_until]), [
    [first.key.kid, false, new Date(t0 + 60_000).toISOString(), new Date(t0 + 60_000 + 2 * HOUR).toISOString()],
    [next.key.kid, true, null, null],
  ]);
});

test('a retired key stays published for the keep window (credential lifetime + renewal grace), then it is gone', async () => {
  const first = await newEntry(0, 0);
  const ring = new SigningKeyring([first], 2 * HOUR);
  const second = await newEntry(1000, 1000);
  ring.rotate(second, 1000);
  assert.equal(ring.published(1000 + 2 * HOUR - 1).length, 2);
  assert.deepEqual(ring.published(1000 + 2 * HOUR).map((e) => e.key.kid), [second.key.kid]);
  // The next rotation also forgets keys past their window in the stored ring.
  const third = await newEntry(3 * HOUR, 3 * HOUR);
  ring.rotate(third, 3 * HOUR);
  assert.deepEqual(ring.stored().map((e) => e.retired_at), [3 * HOUR, null]);
  assert.equal(ring.stored().length, 2);
});

test('sameAs sees a ring changed elsewhere; replace takes it', async () => {
  const a = await newEntry(0, 0);
  const ring = new SigningKeyring([a], HOUR);
  const other = new SigningKeyring([a], HOUR);
  assert.equal(ring.sameAs(other.stored()), true);
  other.rotate(await newEntry(5, 5), 5);
  assert.equal(ring.sameAs(other.stored()), false);
  const v = ring.version;
  ring.replace([a]);
  assert.ok(ring.version > v);
  assert.throws(() => new SigningKeyring([], HOUR), /at least one key/);
});
