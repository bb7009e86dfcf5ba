/**
 * The standalone agent configuration (spec 40): the predecessor's YAML layout. Each entry of `sources`,
 * `senders` and `pipes` is validated against these schemas after the files of the directory are merged
 * (so an error names the file that defined the entry). Agent-local on purpose: only the agent reads it.
 */
import { Type, type Static } from 'typebox';

export const AGENT_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';

export const FsDriverParams = Type.Object({
  file_pattern: Type.Optional(Type.String({ minLength: 1 })),
  throttle_interval_sec: Type.Optional(Type.Number({ minimum: 0 })),
  max_scan_workers: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  watch_limit: Type.Optional(Type.Integer({ minimum: 0 })),
}, { additionalProperties: true });
export type FsDriverParams = Static<typeof FsDriverParams>;

export const SourceConfig = Type.Object({
  driver: Type.Literal('fs'),
  uri: Type.String({ minLength: 1 }),
  disabled: Type.Optional(Type.Boolean()),
  driver_params: Type.Optional(FsDriverParams),
  // Predecessor fields accepted and ignored.
  credential: Type.Optional(Type.Unknown()),
  max_queue_size: Type.Optional(Type.Integer({ minimum: 1 })),
  max_retries: Type.Optional(Type.Integer()),
  retry_delay_sec: Type.Optional(Type.Number()),
}, { additionalProperties: false });
export type SourceConfig = Static<typeof SourceConfig>;

export const SenderConfig = Type.Object({
  driver: Type.Literal('fusion'),
  uri: Type.String({ minLength: 1 }),
  credential: Type.Object({ key: Type.String({ minLength: 1 }), user: Type.Optional(Type.String()) }, { additionalProperties: false }),
  timeout: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  timeout_sec: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  disabled: Type.Optional(Type.Boolean()),
  // Predecessor fields accepted and ignored.
  batch_size: Type.Optional(Type.Integer()),
  max_retries: Type.Optional(Type.Integer()),
  retry_delay_sec: Type.Optional(Type.Number()),
  driver_params: Type.Optional(Type.Object({ timeout: Type.Optional(Type.Number({ exclusiveMinimum: 0 })) }, { additionalProperties: true })),
}, { additionalProperties: false });
export type SenderConfig = Static<typeof SenderConfig>;

/** Test hook (off by default): makes the pipe worker fail on purpose so the supervisor can be tested. */
export const DebugFault = Type.Union([Type.Literal('throw'), Type.Literal('hang'), Type.Literal('oom')]);
export type DebugFault = Static<typeof DebugFault>;

export const PipeConfig = Type.Object({
  source: Type.String({ minLength: 1 }),
  sender: Type.String({ minLength: 1 }),
  audit_interval_sec: Type.Optional(Type.Number({ minimum: 0 })),
  sentinel_interval_sec: Type.Optional(Type.Number({ minimum: 0 })),
  full_audit_every: Type.Optional(Type.Integer({ minimum: 0, description: 'every Nth audit ignores the directory-mtime cache (0 = never); catches in-place edits in unwatched directories, which do not change the directory mtime' })),
  session_timeout_seconds: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  fields_mapping: Type.Optional(Type.Array(Type.Record(Type.String(), Type.Unknown()))),
  disabled: Type.Optional(Type.Boolean()),
  /** Worker heap cap (MiB); default 512. */
  max_memory_mb: Type.Optional(Type.Integer({ minimum: 32 })),
  debug_fault: Type.Optional(DebugFault),
  // Predecessor fields accepted and ignored (the shell's supervisor owns backoff).
  error_retry_interval: Type.Optional(Type.Number()),
  max_consecutive_errors: Type.Optional(Type.Integer()),
  backoff_multiplier: Type.Optional(Type.Number()),
  max_backoff_seconds: Type.Optional(Type.Number()),
}, { additionalProperties: false });
export type PipeConfig = Static<typeof PipeConfig>;

/** Top-level keys other than the three sections. */
export const TopLevel = Type.Object({
  agent_id: Type.Optional(Type.String({ pattern: AGENT_ID_PATTERN })),
  logging: Type.Optional(Type.Unknown()),
  fs_scan_workers: Type.Optional(Type.Integer({ minimum: 1 })),
  sources: Type.Optional(Type.Unknown()),
  senders: Type.Optional(Type.Unknown()),
  pipes: Type.Optional(Type.Unknown()),
}, { additionalProperties: false });
