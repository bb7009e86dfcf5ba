/**
 * The wire text of event batches (spec 10 event model), built by concatenation: each row is serialised
 * once, when it is handed to the sender, so sizing a batch costs nothing and a resend reuses the same
 * text. Consecutive rows of the same event type, source and index share one event.
 */
import type { BatchSourceType, EventType, MessageSource } from '../../protocol/index.ts';

/** One event of a batch under construction. Rows are JSON texts. */
export interface EventPart {
  eventType: EventType;
  source: MessageSource;
  index: number;
  /** JSON text of the `fields` array (keys of the first row). */
  fields: string;
  rows: string[];
  /** Sum of the rows' text lengths (+1 per separator): the size estimate. */
  bytes: number;
}

/** Fixed cost of one event's envelope in the body (keys, schema, table, index, source). */
export const EVENT_OVERHEAD_BYTES = 160;
/** Fixed cost of a batch envelope without metadata. */
export const BATCH_OVERHEAD_BYTES = 96;

export interface EncodedRows { texts: string[]; bytes: number; fields: string }

/** Serialise rows (JSON.stringify escapes lone surrogates, so the surrogate-escape path convention survives). */
export function encodeRows(rows: readonly object[]): EncodedRows {
  const texts = new Array<string>(rows.length);
  let bytes = 0;
  for (let i = 0; i < rows.length; i++) {
    const t = JSON.stringify(rows[i]);
    texts[i] = t;
    bytes += t.length + 1;
  }
  return { texts, bytes, fields: JSON.stringify(rows.length > 0 ? Object.keys(rows[0]) : []) };
}

export function rowCount(parts: readonly EventPart[]): number {
  let n = 0;
  for (const p of parts) n += p.rows.length;
  return n;
}

export function estimateBytes(parts: readonly EventPart[], metadata?: Record<string, unknown>): number {
  let n = BATCH_OVERHEAD_BYTES + (metadata === undefined ? 0 : JSON.stringify(metadata).length);
  for (const p of parts) n += p.bytes + EVENT_OVERHEAD_BYTES;
  return n;
}

export interface BatchEnvelope {
  sourceType: BatchSourceType;
  isEnd: boolean;
  metadata?: Record<string, unknown>;
  eventSchema: string;
  table: string;
}

/** The JSON body of `POST …/events`. */
export function buildBody(parts: readonly EventPart[], env: BatchEnvelope): string {
  const schema = JSON.stringify(env.eventSchema);
  const table = JSON.stringify(env.table);
  const events = parts.map((p) =>
    `{"event_type":"${p.eventType}","event_schema":${schema},"table":${table},"fields":${p.fields},"index":${p.index},"message_source":"${p.source}","rows":[${p.rows.join(',')}]}`);
  let body = `{"events":[${events.join(',')}],"source_type":"${env.sourceType}","is_end":${env.isEnd}`;
  if (env.metadata !== undefined) body += `,"metadata":${JSON.stringify(env.metadata)}`;
  return `${body}}`;
}

/** Split events after the first `n` rows (event boundaries kept; an event cut in two becomes two events). */
export function splitParts(parts: readonly EventPart[], n: number): [EventPart[], EventPart[]] {
  const head: EventPart[] = [];
  const tail: EventPart[] = [];
  let left = n;
  for (const p of parts) {
    if (left <= 0) tail.push(p);
    else if (p.rows.length <= left) {
      head.push(p);
      left -= p.rows.length;
    } else {
      const a = p.rows.slice(0, left);
      const b = p.rows.slice(left);
      head.push({ ...p, rows: a, bytes: textBytes(a) });
      tail.push({ ...p, rows: b, bytes: textBytes(b) });
      left = 0;
    }
  }
  return [head, tail];
}

export function textBytes(texts: readonly string[]): number {
  let n = 0;
  for (const t of texts) n += t.length + 1;
  return n;
}
