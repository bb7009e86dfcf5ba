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
  /**
   * JSON texts: one row each — or, where `counts` is set (pre-encoded rows, see PreEncodedRows),
   * `counts[i]` rows joined by commas. Either way `rows.join(',')` is the event's row list.
   */
  rows: string[];
  /** Rows per text of `rows`; null: one row per text. */
  counts: number[] | null;
  /** Rows in the part (`rows.length` when `counts` is null). */
  n: number;
  /** Sum of the texts' lengths (+1 per separator): the size estimate. */
  bytes: number;
}

/**
 * Rows already serialised by the producer (the walker's threads): `texts[i]` holds `counts[i]` rows as
 * JSON objects joined by commas, each exactly what `JSON.stringify(row)` gives for the row object.
 * `fields` is the JSON text of the first row's keys. The sender neither parses nor re-encodes them
 * (only a batch the gateway refused as too large is cut inside a text, see `explodeText`).
 */
export interface PreEncodedRows {
  texts: string[];
  counts: number[];
  /** Total rows (the sum of `counts`). */
  rows: number;
  fields: string;
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
  for (const p of parts) n += p.n;
  return n;
}

/** The single-row texts of a multi-row text (rare: only to cut inside it). JSON.stringify of the parsed rows gives back their exact texts. */
export function explodeText(text: string): string[] {
  const rows = JSON.parse(`[${text}]`) as unknown[];
  const out = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = JSON.stringify(rows[i]);
  return out;
}

/** The same part with one row per text. */
export function explodePart(p: EventPart): EventPart {
  if (p.counts === null) return p;
  const rows: string[] = [];
  for (let i = 0; i < p.rows.length; i++) {
    if (p.counts[i] === 1) rows.push(p.rows[i]);
    else for (const t of explodeText(p.rows[i])) rows.push(t);
  }
  return { ...p, rows, counts: null, n: rows.length, bytes: textBytes(rows) };
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
  return buildBodyPieces(parts, env).join('');
}

/** The same body as pieces to be sent one after the other: row texts are not copied into one string. */
export function buildBodyPieces(parts: readonly EventPart[], env: BatchEnvelope): string[] {
  const schema = JSON.stringify(env.eventSchema);
  const table = JSON.stringify(env.table);
  const out: string[] = ['{"events":['];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    out.push(`${i > 0 ? ',' : ''}{"event_type":"${p.eventType}","event_schema":${schema},"table":${table},"fields":${p.fields},"index":${p.index},"message_source":"${p.source}","rows":[`);
    if (p.counts === null) {
      out.push(p.rows.join(','));
    } else {
      // Pre-encoded texts are large: each goes out as it is, separators as pieces of their own.
      for (let k = 0; k < p.rows.length; k++) {
        if (k > 0) out.push(',');
        out.push(p.rows[k]);
      }
    }
    out.push(']}');
  }
  let tail = `],"source_type":"${env.sourceType}","is_end":${env.isEnd}`;
  if (env.metadata !== undefined) tail += `,"metadata":${JSON.stringify(env.metadata)}`;
  out.push(`${tail}}`);
  return out;
}

/** Split events after the first `n` rows (event boundaries kept; an event cut in two becomes two events). */
export function splitParts(parts: readonly EventPart[], n: number): [EventPart[], EventPart[]] {
  const head: EventPart[] = [];
  const tail: EventPart[] = [];
  let left = n;
  for (const p of parts) {
    if (left <= 0) tail.push(p);
    else if (p.n <= left) {
      head.push(p);
      left -= p.n;
    } else {
      const q = explodePart(p);
      const a = q.rows.slice(0, left);
      const b = q.rows.slice(left);
      head.push({ ...q, rows: a, n: a.length, bytes: textBytes(a) });
      tail.push({ ...q, rows: b, n: b.length, bytes: textBytes(b) });
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
