import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogicalClock, SKEW_SAMPLE_CAPACITY } from './logical-clock.ts';
import { T0, file, makeView, upsert } from './testing.ts';

test('logical clock — without samples the watermark is the wall clock', () => {
  const c = new LogicalClock();
  assert.equal(c.watermark(T0), T0);
  assert.equal(c.mode(), undefined);
});

test('logical clock — the watermark is wall clock minus the most frequent skew', () => {
  const c = new LogicalClock();
  c.sample(T0, T0 - 100.2);
  c.sample(T0, T0 - 100.4);
  c.sample(T0, T0 - 7);
  assert.equal(c.mode(), 100);
  assert.equal(c.watermark(T0 + 50), T0 - 50);
});

test('logical clock — ties go to the smaller skew', () => {
  const c = new LogicalClock();
  c.sample(T0, T0 - 9);
  c.sample(T0, T0 - 3);
  assert.equal(c.mode(), 3);
  c.sample(T0, T0 - 9);
  c.sample(T0, T0 - 3);
  assert.equal(c.mode(), 3);
});

test('logical clock — a single future mtime cannot move an established mode', () => {
  const c = new LogicalClock();
  for (let i = 0; i < 5; i++) c.sample(T0, T0 - 2);
  c.sample(T0, T0 + 86_400);
  assert.equal(c.mode(), 2);
});

test('logical clock — keeps advancing with the wall clock during silence', () => {
  const c = new LogicalClock();
  c.sample(T0, T0 - 5);
  assert.equal(c.watermark(T0 + 1000), T0 + 995);
});

test('logical clock — only the last 10,000 samples vote', () => {
  const c = new LogicalClock();
  for (let i = 0; i < 6000; i++) c.sample(T0, T0 - 1);
  for (let i = 0; i < 6000; i++) c.sample(T0, T0 - 2);
  // 2000 of the skew-1 samples were evicted: 4000 × 1 against 6000 × 2.
  assert.equal(c.sampleCount, SKEW_SAMPLE_CAPACITY);
  assert.equal(c.mode(), 2);
});

test('logical clock — an eviction that lowers the mode recomputes it', () => {
  const c = new LogicalClock(4);
  c.sample(T0, T0 - 1);
  c.sample(T0, T0 - 1);
  c.sample(T0, T0 - 5);
  c.sample(T0, T0 - 6);
  assert.equal(c.mode(), 1);
  c.sample(T0, T0 - 6); // evicts one "1": 1 ×1, 5 ×1, 6 ×2
  assert.equal(c.mode(), 6);
});

test('logical clock — only realtime rows sample the skew', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', [file('/a', T0 - 500), file('/b', T0 - 500)]);
  upsert(view, 'audit', [file('/c', T0 - 500)]);
  assert.equal(view.stats({}).logical_now, T0);
  upsert(view, 'realtime', [file('/d', T0 - 500)]);
  assert.equal(view.stats({}).logical_now, T0 - 500);
});
