import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from 'typebox/value';
import { EventBatch } from '../../protocol/index.ts';
import { buildBody, encodeRows, rowCount, splitParts } from './batch-encoding.ts';
import { Lane, type OutBatch, type PendingSignal } from './lane.ts';

const rows = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ path: `/f${from + i}`, size: 1, modified_time: 1, is_directory: false }));
const limits = { maxRows: 100, maxBytes: 1 << 20, maxWindow: 2, flushing: false };
const add = (lane: Lane, n: number, from = 0, now = 0, type: 'update' | 'delete' = 'update') => {
  const e = encodeRows(rows(n, from));
  lane.addRows(type, 7, e.fields, e.texts, undefined, now, limits.maxRows);
};
const signal = (): PendingSignal => ({ kind: 'signal', sourceType: 'snapshot', metadata: undefined, auditEnd: false, settle: { resolve: () => undefined, reject: () => undefined } });
const formed = (x: OutBatch | number | null): OutBatch => {
  assert.ok(x !== null && typeof x === 'object', `expected a batch, got ${String(x)}`);
  return x;
};

test('the body is a valid EventBatch; consecutive rows of one type share an event, a type change opens a new one', () => {
  const lane = new Lane('realtime', true, 20);
  add(lane, 3, 0);
  add(lane, 2, 3, 0, 'delete');
  const b = formed(lane.form(100, limits));
  const body = JSON.parse(buildBody(b.parts, { sourceType: 'message', isEnd: false, metadata: { batch_seq: 4 }, eventSchema: 'fs', table: 'files' }));
  assert.ok(Value.Check(EventBatch, body), JSON.stringify([...Value.Errors(EventBatch, body)].slice(0, 2)));
  assert.deepEqual(body.events.map((e: { event_type: string; rows: unknown[] }) => [e.event_type, e.rows.length]), [['update', 3], ['delete', 2]]);
  assert.equal(body.metadata?.batch_seq, 4);
  assert.equal(body.source_type, 'message');
});

test('rows wait for the linger unless the batch is full; a realtime lane has one batch out at a time', () => {
  const lane = new Lane('realtime', true, 20);
  add(lane, 5, 0, 1000);
  assert.equal(lane.form(1010, limits), 1020, 'not due yet: the answer is when');
  const b1 = formed(lane.form(1020, limits));
  lane.admit(b1);
  add(lane, 150, 5, 1021);
  assert.equal(lane.form(5000, limits), null, 'ordered: nothing new while b1 is unacknowledged');
  lane.remove(b1);
  const b2 = formed(lane.form(1021, limits));
  assert.equal(b2.rows, 100, 'full batch leaves at once, capped by maxRows');
  assert.equal(lane.pendingRows, 50);
});

test('a signal waits for every earlier batch of its lane and blocks later ones', () => {
  const lane = new Lane('snapshot', false, 100);
  add(lane, 10);
  lane.addSignal(signal());
  add(lane, 10, 10);
  const b1 = formed(lane.form(0, limits));
  assert.equal(b1.rows, 10, 'a queued signal flushes the rows before it without lingering');
  lane.admit(b1);
  assert.equal(lane.form(0, limits), null, 'the signal waits for b1');
  lane.remove(b1);
  const end = formed(lane.form(0, limits));
  assert.equal(end.isEnd, true);
  assert.equal(end.rows, 0);
  lane.admit(end);
  assert.equal(lane.form(10_000, limits), null, 'nothing after the signal before it is acknowledged');
  lane.remove(end);
  assert.equal(formed(lane.form(10_000, limits)).rows, 10);
});

test('the byte budget cuts batches; one oversized row still forms a batch of its own', () => {
  const lane = new Lane('snapshot', false, 0);
  add(lane, 50);
  const small = { ...limits, maxBytes: 1200 };
  const b = formed(lane.form(0, small));
  assert.ok(b.rows > 0 && b.rows < 50, `cut by bytes: ${b.rows}`);
  const tiny = new Lane('snapshot', false, 0);
  add(tiny, 3);
  assert.equal(formed(tiny.form(0, { ...limits, maxBytes: 10 })).rows, 1);
});

test('splitParts halves across event boundaries', () => {
  const lane = new Lane('realtime', true, 0);
  add(lane, 3);
  add(lane, 4, 3, 0, 'delete');
  const b = formed(lane.form(0, limits));
  const [h, t] = splitParts(b.parts, 4);
  assert.deepEqual([rowCount(h), rowCount(t)], [4, 3]);
  assert.deepEqual(h.map((p) => [p.eventType, p.rows.length]), [['update', 3], ['delete', 1]]);
  assert.deepEqual(t.map((p) => [p.eventType, p.rows.length]), [['delete', 3]]);
});

test('oldestUnacknowledged: the oldest row in flight or pending, until it is acknowledged (freshness lag)', () => {
  const lane = new Lane('realtime', true, 20);
  assert.equal(lane.oldestUnacknowledged(), null);
  add(lane, 2, 0, 1000);
  assert.equal(lane.oldestUnacknowledged(), 1000, 'pending');
  const b1 = formed(lane.form(1020, limits));
  lane.admit(b1);
  add(lane, 1, 2, 1500);
  assert.equal(lane.oldestUnacknowledged(), 1000, 'in flight: the batch keeps its oldest row time');
  lane.remove(b1);
  assert.equal(lane.oldestUnacknowledged(), 1500, 'acknowledged: the next oldest counts');
  lane.admit(formed(lane.form(1600, limits)));
  assert.equal(lane.oldestUnacknowledged(), 1500);
});
