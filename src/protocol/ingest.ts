/** Session, heartbeat, command and consistency-signal messages of the ingest protocol (spec 10). */
import { Type, type Static } from 'typebox';

export const Role = Type.Union([Type.Literal('leader'), Type.Literal('follower')]);
export type Role = Static<typeof Role>;

export const SessionCreateRequest = Type.Object({
  task_id: Type.String({ minLength: 1, maxLength: 512, description: '"<agent_id>:<pipe_id>"; a new session with the same task_id replaces the old one' }),
  client_info: Type.Optional(Type.Object({ source_uri: Type.Optional(Type.String({ maxLength: 4096 })) }, { additionalProperties: true })),
  session_timeout_seconds: Type.Optional(Type.Number({ minimum: 0, maximum: 86400 })),
  source_type: Type.Optional(Type.String({ maxLength: 64 })),
});
export type SessionCreateRequest = Static<typeof SessionCreateRequest>;

export const SessionCreateResponse = Type.Object({
  session_id: Type.String(),
  role: Role,
  is_leader: Type.Boolean(),
  session_timeout_seconds: Type.Number(),
  audit_interval_sec: Type.Number(),
  sentinel_interval_sec: Type.Number(),
  message: Type.Optional(Type.String()),
});
export type SessionCreateResponse = Static<typeof SessionCreateResponse>;

export const KeyDiscoveryResponse = Type.Object({ view_id: Type.String(), pipe_id: Type.Optional(Type.String()), status: Type.Literal('authorized') });

export const ScanCommand = Type.Object({
  type: Type.Literal('scan'),
  path: Type.String(),
  recursive: Type.Boolean(),
  job_id: Type.String(),
  created_at: Type.Number(),
});
export type ScanCommand = Static<typeof ScanCommand>;
export const Command = ScanCommand;
export type Command = ScanCommand;

export const HeartbeatRequest = Type.Object({
  can_realtime: Type.Optional(Type.Boolean()),
  agent_status: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export type HeartbeatRequest = Static<typeof HeartbeatRequest>;

export const HeartbeatResponse = Type.Object({
  status: Type.Literal('ok'),
  session_id: Type.String(),
  role: Role,
  is_leader: Type.Boolean(),
  commands: Type.Array(Command),
  message: Type.Optional(Type.String()),
});
export type HeartbeatResponse = Static<typeof HeartbeatResponse>;

export const SessionDeleteResponse = Type.Object({ status: Type.Literal('ok'), message: Type.String() });

export const AuditSignalResponse = Type.Object({
  status: Type.Union([Type.Literal('audit_started'), Type.Literal('audit_ended')]),
  drivers_handled: Type.Integer(),
});

export const SentinelTasks = Type.Object({
  type: Type.Optional(Type.Literal('suspect_check')),
  paths: Type.Optional(Type.Array(Type.String())),
  view_id: Type.Optional(Type.String()),
});
export type SentinelTasks = Static<typeof SentinelTasks>;

export const SentinelUpdate = Type.Object({
  path: Type.String({ maxLength: 4096 }),
  mtime: Type.Optional(Type.Number()),
  size: Type.Optional(Type.Number({ minimum: 0 })),
  status: Type.Optional(Type.Union([Type.Literal('exists'), Type.Literal('missing')])),
});
export type SentinelUpdate = Static<typeof SentinelUpdate>;

export const SentinelFeedback = Type.Object({
  type: Type.String({ maxLength: 64 }),
  updates: Type.Array(SentinelUpdate, { maxItems: 100000 }),
});
export type SentinelFeedback = Static<typeof SentinelFeedback>;

export const SentinelFeedbackResponse = Type.Object({
  status: Type.Union([Type.Literal('processed'), Type.Literal('ignored')]),
  drivers_updated: Type.Optional(Type.Integer()),
  reason: Type.Optional(Type.String()),
});

export const PipeInfo = Type.Object({
  id: Type.String(),
  view_id: Type.String(),
  views: Type.Array(Type.String()),
  state: Type.String(),
  active_sessions: Type.Integer(),
  leader_session: Type.Union([Type.String(), Type.Null()]),
  statistics: Type.Object({
    events_received: Type.Integer(),
    events_processed: Type.Integer(),
    rows_rejected: Type.Integer(),
    batches_rejected_busy: Type.Integer(),
    sessions_created: Type.Integer(),
    sessions_closed: Type.Integer(),
    errors: Type.Integer(),
  }),
  queue_size: Type.Integer(),
  queue_capacity: Type.Integer(),
});
export type PipeInfo = Static<typeof PipeInfo>;
