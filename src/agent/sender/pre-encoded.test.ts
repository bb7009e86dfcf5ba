/**
 * Pre-encoded rows (multi-row JSON texts written by the walker's threads): batches formed from them must
 * carry exactly the body the row objects give, be cut between texts, and cut inside a text only when
 * one does not fit a batch on its own (413 halving, tiny budgets).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from 'typebox/value';
import { EventBatch } from '../../protocol/index.ts';
import { BatchSender } from './batch-sender.ts';
import { buildBody, buildBodyPieces, encodeRows, explodePart, rowCount, splitParts, type PreEncodedRows } from './batch-encoding.ts';
import type { GatewayClient } from './gateway-client.ts';
import { Lane, type OutBatch } from './lane.ts';
import type { SessionSource } from './sender-options.ts';

type Row = Record<string, unknown>;
const row = (i: number): Row => ({ path: `/d/f${i}\udcff"q`, file_name: `f${i}\udcff"q`, size: i * 1.5, modified_time: 1700000000.123 + i, created_time: 1e21, is_directory: false, parent_path: '/d', parent_mtime: 0.1 + 0.2 });
const rows = (n: number, from = 0): Row[] => Array.from({ length: n }, (_, i) => row(from + i));

/** The walker's way: texts of `sizes[k]` rows each, joined by commas. */
function preEncoded(all: Row[], sizes: number[]): PreEncodedRows {
  const texts: string[] = [];
  let at = 0;
  for (const s of sizes) {
    texts.push(all.slice(at, at + s).map((r) => JSON.stringify(r)).join(','));
    at += s;
  }
  assert.equal(at, all.length);
  return { texts, counts: sizes, rows: all.length, fields: JSON.stringify(Object.keys(all[0])) };
}

const env = { sourceType: 'snapshot' as const, isEnd: false, metadata: { batch_seq: 3 }, eventSchema: 'fs', table: 'files' };
const limits = { maxRows: 1000, maxBytes: 1 << 24, maxWindow: 4, flushing: true };
const formed = (x: OutBatch | number | null): OutBatch => {
  assert.ok(x !== null && typeof x === 'object', `expected a batch, got ${String(x)}`);
  return x;
};
const bodyRows = (b: OutBatch): unknown[] => (JSON.parse(buildBody(b.parts, env)) as { events: { rows: unknown[] }[] }).events.flatMap((e) => e.rows);

test('a batch of pre-encoded rows has the body of the same row objects, byte for byte', () => {
  const all = rows(250);
  const a = new Lane('snapshot', false, 0);
  const e = encodeRows(all);
  a.addRows('update', 7, e.fields, e.texts, undefined, 0, limits.maxRows);
  const b = new Lane('snapshot', false, 0);
  b.addEncoded('update', 7, preEncoded(all.slice(0, 100), [40, 60]), undefined, 0, limits.maxRows);
  b.addEncoded('update', 7, preEncoded(all.slice(100), [1, 149]), undefined, 0, limits.maxRows);
  const ba = formed(a.form(0, limits));
  const bb = formed(b.form(0, limits));
  assert.equal(bb.rows, 250);
  assert.equal(bb.parts.length, 1, 'consecutive pre-encoded sends share one event');
  const body = buildBody(bb.parts, env);
  assert.equal(body, buildBody(ba.parts, env));
  assert.equal(buildBodyPieces(bb.parts, env).join(''), body);
  const parsed: unknown = JSON.parse(body);
  assert.ok(Value.Check(EventBatch, parsed), JSON.stringify([...Value.Errors(EventBatch, parsed)].slice(0, 2)));
  assert.deepEqual(bodyRows(bb), all);
  assert.ok(body.includes('\\udcff'), 'lone surrogates stay escaped');
  assert.equal(a.pendingRows + b.pendingRows + a.pendingBytes + b.pendingBytes, 0);
});

test('batches are cut between texts; a text larger than a batch is cut into rows', () => {
  const all = rows(300);
  const lane = new Lane('snapshot', false, 0);
  lane.addEncoded('update', 1, preEncoded(all, [100, 100, 100]), undefined, 0, 250);
  const small = { ...limits, maxRows: 250 };
  const b1 = formed(lane.form(0, small));
  assert.equal(b1.rows, 200, 'the third text does not fit: the batch ends before it');
  const b2 = formed(lane.form(0, small));
  assert.equal(b2.rows, 100);
  assert.deepEqual([...bodyRows(b1), ...bodyRows(b2)], all);

  const big = new Lane('snapshot', false, 0);
  big.addEncoded('update', 1, preEncoded(all, [300]), undefined, 0, 1000);
  const c1 = formed(big.form(0, { ...limits, maxRows: 120 }));
  assert.equal(c1.rows, 120, 'a text that fits no batch is cut into single rows');
  const rest: unknown[] = [];
  for (let x = big.form(0, { ...limits, maxRows: 120 }); x !== null && typeof x === 'object'; x = big.form(0, { ...limits, maxRows: 120 })) rest.push(...bodyRows(x));
  assert.deepEqual([...bodyRows(c1), ...rest], all);
  assert.equal(big.pendingRows, 0);
  assert.equal(big.pendingBytes, 0);

  const bytes = new Lane('snapshot', false, 0);
  bytes.addEncoded('update', 1, preEncoded(all.slice(0, 10), [10]), undefined, 0, 1000);
  const d = formed(bytes.form(0, { ...limits, maxBytes: 600 }));
  assert.ok(d.rows >= 1 && d.rows < 10, `cut by bytes: ${d.rows}`);
});

test('splitParts (413 halving) cuts inside a pre-encoded part and keeps every row once, in order', () => {
  const all = rows(101);
  const lane = new Lane('snapshot', false, 0);
  lane.addEncoded('update', 1, preEncoded(all, [30, 41, 30]), undefined, 0, 1000);
  const b = formed(lane.form(0, limits));
  const [h, t] = splitParts(b.parts, 51);
  assert.deepEqual([rowCount(h), rowCount(t)], [51, 50]);
  const rowsOf = (parts: typeof h) => (JSON.parse(buildBody(parts, env)) as { events: { rows: unknown[] }[] }).events.flatMap((e) => e.rows);
  assert.deepEqual([...rowsOf(h), ...rowsOf(t)], all);
  const ex = explodePart(b.parts[0]);
  assert.equal(ex.n, 101);
  assert.equal(ex.bytes, b.parts[0].bytes, 'same text, same size estimate');
  assert.equal(buildBody([ex], env), buildBody(b.parts, env));
});

test('BatchSender: sendEncodedAsync puts the same body on the wire as sendAsync of the objects', async () => {
  const bodies: string[] = [];
  const client = {
    pushRaw: (_id: string, json: string | readonly string[]) => {
      bodies.push(typeof json === 'string' ? json : json.join(''));
      return Promise.resolve({ status: 'ok' as const, count: 0 });
    },
    auditEnd: () => Promise.resolve({ status: 'audit_ended' as const, drivers_handled: 0 }),
  } as unknown as GatewayClient;
  const session: SessionSource = {
    current: { id: 's1', epoch: 1, role: 'leader' } as unknown as SessionSource['current'],
    subscribe: () => ({ dispose: () => undefined }),
    invalidate: () => false,
  };
  const all = rows(5000);
  const send = async (encoded: boolean): Promise<string[]> => {
    bodies.length = 0;
    const s = new BatchSender({ client, session, clock: () => 42, maxBulkBatchRows: 2000 });
    if (encoded) {
      await s.sendEncodedAsync(preEncoded(all.slice(0, 2500), [500, 1000, 1000]), { source: 'snapshot', epoch: 1 });
      await s.sendEncodedAsync(preEncoded(all.slice(2500), [2500]), { source: 'snapshot', epoch: 1 });
    } else {
      await s.sendAsync(all.slice(0, 2500), { source: 'snapshot', epoch: 1 });
      await s.sendAsync(all.slice(2500), { source: 'snapshot', epoch: 1 });
    }
    await s.sendAsync([], { source: 'snapshot', isEnd: true, epoch: 1 });
    await s.close();
    return bodies.slice();
  };
  const plain = await send(false);
  const enc = await send(true);
  const rowsIn = (bs: string[]) => bs.flatMap((b) => (JSON.parse(b) as { events: { rows: unknown[] }[] }).events.flatMap((e) => e.rows));
  assert.deepEqual(rowsIn(enc), all);
  assert.deepEqual(rowsIn(plain), all);
  assert.ok(enc.every((b) => Value.Check(EventBatch, JSON.parse(b))));
  assert.equal((JSON.parse(enc[enc.length - 1]) as { is_end: boolean }).is_end, true);
  await assert.rejects(new BatchSender({ client, session }).sendEncodedAsync(preEncoded(all.slice(0, 1), [1]), { source: 'realtime' }), /bulk/);
});
