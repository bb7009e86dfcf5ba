/**
 * The event model of the ingest protocol (spec 10), wire-compatible with the predecessor's agents.
 * The batch envelope is validated as a whole (422 on the first bad field); rows are validated one by one
 * by the gateway so that one malformed row is rejected and counted while the rest of the batch applies.
 */
import { Type, type Static } from 'typebox';

export const MESSAGE_SOURCES = ['realtime', 'snapshot', 'audit', 'on_demand_job'] as const;
export const MessageSource = Type.Union([Type.Literal('realtime'), Type.Literal('snapshot'), Type.Literal('audit'), Type.Literal('on_demand_job')]);
export type MessageSource = (typeof MESSAGE_SOURCES)[number];

export const EVENT_TYPES = ['insert', 'update', 'delete'] as const;
export const EventType = Type.Union([Type.Literal('insert'), Type.Literal('update'), Type.Literal('delete')]);
export type EventType = (typeof EVENT_TYPES)[number];

/** Batch-level source as sent by agents (`message` = realtime). */
export const BATCH_SOURCE_TYPES = ['message', 'snapshot', 'audit', 'on_demand_job', 'job_complete', 'config_report'] as const;
export const BatchSourceType = Type.Union([
  Type.Literal('message'), Type.Literal('snapshot'), Type.Literal('audit'),
  Type.Literal('on_demand_job'), Type.Literal('job_complete'), Type.Literal('config_report'),
]);
export type BatchSourceType = (typeof BATCH_SOURCE_TYPES)[number];

/** An upsert row of the fs schema. Extra fields are tolerated (older agents send more). */
export const FsUpsertRow = Type.Object({
  path: Type.String({ minLength: 1, maxLength: 4096 }),
  file_name: Type.Optional(Type.String({ maxLength: 1024 })),
  size: Type.Number({ minimum: 0 }),
  modified_time: Type.Number(),
  created_time: Type.Optional(Type.Number()),
  is_directory: Type.Boolean(),
  is_atomic_write: Type.Optional(Type.Boolean()),
  parent_path: Type.Optional(Type.String({ maxLength: 4096 })),
  parent_mtime: Type.Optional(Type.Number()),
  audit_skipped: Type.Optional(Type.Boolean()),
});
export type FsUpsertRow = Static<typeof FsUpsertRow>;

/** A delete row carries only the path. */
export const FsDeleteRow = Type.Object({ path: Type.String({ minLength: 1, maxLength: 4096 }) });
export type FsDeleteRow = Static<typeof FsDeleteRow>;

export const Event = Type.Object({
  event_type: EventType,
  event_schema: Type.String({ maxLength: 128 }),
  table: Type.String({ maxLength: 128 }),
  fields: Type.Array(Type.String({ maxLength: 128 }), { maxItems: 256 }),
  rows: Type.Array(Type.Unknown()),
  index: Type.Optional(Type.Number()),
  message_source: Type.Optional(MessageSource),
  event_id: Type.Optional(Type.String({ maxLength: 256 })),
  timestamp: Type.Optional(Type.Number()),
  metadata: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export type Event = Static<typeof Event>;

export const EventBatch = Type.Object({
  events: Type.Array(Event),
  source_type: Type.Optional(BatchSourceType),
  is_end: Type.Optional(Type.Boolean()),
  metadata: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  session_id: Type.Optional(Type.String({ maxLength: 256 })),
});
export type EventBatch = Static<typeof EventBatch>;

export const IngestResponse = Type.Object({
  status: Type.Literal('ok'),
  count: Type.Integer({ description: 'rows accepted into the pipe queue' }),
  rejected: Type.Optional(Type.Integer({ description: 'rows rejected as malformed' })),
  phase: Type.Optional(Type.String()),
  duplicate: Type.Optional(Type.Boolean({ description: 'the batch was already received (idempotent resend)' })),
});
export type IngestResponse = Static<typeof IngestResponse>;
