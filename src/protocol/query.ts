/** Query API messages (spec 30): parameters and result shapes of `/api/v1/views/{view}/…`. */
import { Type, type Static } from 'typebox';

const Bool = Type.Boolean();

export const FsNode = Type.Object({
  name: Type.String(),
  path: Type.String(),
  content_type: Type.Union([Type.Literal('file'), Type.Literal('directory')]),
  size: Type.Optional(Type.Number()),
  modified_time: Type.Optional(Type.Number()),
  created_time: Type.Optional(Type.Number()),
  integrity_suspect: Type.Optional(Bool),
  agent_missing: Type.Optional(Bool),
  last_agent_id: Type.Optional(Type.String()),
  source_uri: Type.Optional(Type.String()),
  audit_skipped: Type.Optional(Bool),
  children: Type.Optional(Type.Array(Type.Unknown())),
});
export type FsNode = Static<typeof FsNode> & { children?: FsNode[] };

export const TreeQuery = Type.Object({
  path: Type.Optional(Type.String({ default: '/' })),
  recursive: Type.Optional(Type.Boolean({ default: true })),
  max_depth: Type.Optional(Type.Integer({ minimum: -1 })),
  only_path: Type.Optional(Type.Boolean({ default: false })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000000 })),
  cursor: Type.Optional(Type.String({ maxLength: 4200 })),
  on_demand_scan: Type.Optional(Type.Boolean()),
  force_real_time: Type.Optional(Type.Boolean()),
  dry_run: Type.Optional(Type.Boolean()),
  best: Type.Optional(Type.Union([Type.Literal('file_count'), Type.Literal('total_size'), Type.Literal('latest_mtime')])),
});
export type TreeQuery = Static<typeof TreeQuery>;

export const SearchQuery = Type.Object({
  pattern: Type.String({ minLength: 1, maxLength: 4096 }),
  path: Type.Optional(Type.String()),
  type: Type.Optional(Type.Union([Type.Literal('file'), Type.Literal('directory'), Type.Literal('any')])),
  min_size: Type.Optional(Type.Number({ minimum: 0 })),
  max_size: Type.Optional(Type.Number({ minimum: 0 })),
  modified_after: Type.Optional(Type.Number()),
  modified_before: Type.Optional(Type.Number()),
  suspect: Type.Optional(Type.Boolean()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
  cursor: Type.Optional(Type.String({ maxLength: 4200 })),
  only_path: Type.Optional(Type.Boolean()),
  format: Type.Optional(Type.Union([Type.Literal('list'), Type.Literal('object')])),
});
export type SearchQuery = Static<typeof SearchQuery>;

export const SearchResult = Type.Object({ items: Type.Array(FsNode), next_cursor: Type.Optional(Type.String()) });

export const StatsQuery = Type.Object({
  path: Type.Optional(Type.String()),
  quiet_seconds: Type.Optional(Type.Number({ minimum: 0 })),
  best: Type.Optional(Type.Union([Type.Literal('file_count'), Type.Literal('total_size'), Type.Literal('latest_mtime')])),
});
export type StatsQuery = Static<typeof StatsQuery>;

export const PathQuery = Type.Object({ path: Type.String() });

export const ChangesQuery = Type.Object({
  since: Type.Optional(Type.String({ maxLength: 64 })),
  path: Type.Optional(Type.String()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
});
export type ChangesQuery = Static<typeof ChangesQuery>;

export const Change = Type.Object({
  path: Type.String(),
  op: Type.Union([Type.Literal('upsert'), Type.Literal('delete')]),
  node: Type.Optional(FsNode),
  source: Type.String(),
});
export const ChangesResult = Type.Object({
  changes: Type.Array(Change),
  cursor: Type.String(),
  fresh_instance: Type.Optional(Type.Boolean()),
});
export type ChangesResult = Static<typeof ChangesResult>;

export const PageQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
  cursor: Type.Optional(Type.String({ maxLength: 64 })),
});

export const BlindSpots = Type.Object({
  additions_count: Type.Integer(),
  additions: Type.Array(FsNode),
  deletion_count: Type.Integer(),
  deletions: Type.Array(Type.String()),
  next_cursor: Type.Optional(Type.String()),
});

export const SuspectEntry = Type.Object({ path: Type.String(), suspect_until: Type.Number(), recorded_mtime: Type.Number() });
export const SuspectEvidence = Type.Object({
  updates: Type.Array(Type.Object({
    path: Type.String({ maxLength: 4096 }),
    mtime: Type.Optional(Type.Number()),
    current_mtime: Type.Optional(Type.Number()),
  }), { maxItems: 100000 }),
});
export type SuspectEvidence = Static<typeof SuspectEvidence>;

export const SessionView = Type.Object({
  session_id: Type.String(),
  task_id: Type.String(),
  agent_id: Type.String(),
  pipe_id: Type.String(),
  role: Type.String(),
  can_realtime: Type.Boolean(),
  client_ip: Type.String(),
  source_uri: Type.String(),
  created_at: Type.Number(),
  last_heartbeat_at: Type.Number(),
  session_timeout_seconds: Type.Number(),
});
export const SessionsResult = Type.Object({ view_id: Type.String(), active_sessions: Type.Array(SessionView), count: Type.Integer() });

export const JobStatus = Type.Union([Type.Literal('RUNNING'), Type.Literal('COMPLETED'), Type.Literal('FAILED')]);
export const Job = Type.Object({
  job_id: Type.String(),
  view_id: Type.String(),
  path: Type.String(),
  status: JobStatus,
  progress: Type.Object({ completed: Type.Integer(), total: Type.Integer(), percentage: Type.Number() }),
  created_at: Type.Number(),
  completed_at: Type.Union([Type.Number(), Type.Null()]),
});
export type Job = Static<typeof Job>;
