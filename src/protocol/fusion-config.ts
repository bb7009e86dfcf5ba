/**
 * The standalone gateway configuration (spec 10): the predecessor's YAML layout. Every `*.yaml` file in
 * the config directory is merged in file-name order; this schema validates the merged document.
 */
import { Type, type Static } from 'typebox';

export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';

export const ReceiverConfig = Type.Object({
  driver: Type.Literal('http'),
  bind_host: Type.Optional(Type.String()),
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  disabled: Type.Optional(Type.Boolean()),
  api_keys: Type.Array(Type.Object({
    key: Type.String({ minLength: 8, maxLength: 512 }),
    pipe_id: Type.String({ pattern: ID_PATTERN }),
  }, { additionalProperties: false }), { default: [] }),
}, { additionalProperties: false });
export type ReceiverConfig = Static<typeof ReceiverConfig>;

export const FsViewParams = Type.Object({
  hot_file_threshold: Type.Optional(Type.Number({ minimum: 0 })),
  tombstone_ttl_seconds: Type.Optional(Type.Number({ minimum: 0 })),
  max_tree_items: Type.Optional(Type.Integer()),
  max_nodes: Type.Optional(Type.Integer({ minimum: 0 })),
  journal_size: Type.Optional(Type.Integer({ minimum: 0 })),
  // Predecessor nesting, still accepted.
  consistency: Type.Optional(Type.Object({ tombstone_ttl_seconds: Type.Optional(Type.Number({ minimum: 0 })) })),
  limits: Type.Optional(Type.Object({ max_nodes: Type.Optional(Type.Integer({ minimum: 0 })) })),
}, { additionalProperties: false });
export type FsViewParams = Static<typeof FsViewParams>;

export const ViewConfig = Type.Object({
  driver: Type.Union([Type.Literal('fs'), Type.Literal('forest-fs')]),
  api_keys: Type.Array(Type.String({ minLength: 8, maxLength: 512 }), { default: [] }),
  admin_keys: Type.Optional(Type.Array(Type.String({ minLength: 8, maxLength: 512 }))),
  disabled: Type.Optional(Type.Boolean()),
  driver_params: Type.Optional(FsViewParams),
}, { additionalProperties: false });
export type ViewConfig = Static<typeof ViewConfig>;

export const PipeConfig = Type.Object({
  receiver: Type.String({ pattern: ID_PATTERN }),
  views: Type.Array(Type.String({ pattern: ID_PATTERN }), { minItems: 1 }),
  allow_concurrent_push: Type.Optional(Type.Boolean()),
  session_timeout_seconds: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  audit_interval_sec: Type.Optional(Type.Number({ minimum: 0 })),
  sentinel_interval_sec: Type.Optional(Type.Number({ minimum: 0 })),
  live_mode: Type.Optional(Type.Boolean()),
  queue_capacity: Type.Optional(Type.Integer({ minimum: 1 })),
  disabled: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });
export type PipeConfig = Static<typeof PipeConfig>;

/** HTTPS on every listener of the gateway; `--tls-cert`/`--tls-key` override it. */
export const TlsConfig = Type.Object({
  cert_file: Type.String({ minLength: 1 }),
  key_file: Type.String({ minLength: 1 }),
}, { additionalProperties: false });
export type TlsConfig = Static<typeof TlsConfig>;

export const FusionConfig = Type.Object({
  host: Type.Optional(Type.String()),
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  tls: Type.Optional(TlsConfig),
  session_cleanup_interval: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  max_body_bytes: Type.Optional(Type.Integer({ minimum: 1024 })),
  logging: Type.Optional(Type.Unknown()),
  receivers: Type.Optional(Type.Record(Type.String({ pattern: ID_PATTERN }), ReceiverConfig)),
  views: Type.Optional(Type.Record(Type.String({ pattern: ID_PATTERN }), ViewConfig)),
  pipes: Type.Optional(Type.Record(Type.String({ pattern: ID_PATTERN }), PipeConfig)),
}, { additionalProperties: false });
export type FusionConfig = Static<typeof FusionConfig>;

/** Defaults of the predecessor (reference §5), applied where a field is absent. */
export const FUSION_DEFAULTS = {
  host: '0.0.0.0',
  port: 8101,
  receiverPort: 8102,
  sessionCleanupInterval: 5,
  maxBodyBytes: 64 * 1024 * 1024,
  hotFileThreshold: 30,
  tombstoneTtlSeconds: 3600,
  maxTreeItems: 100000,
  maxNodes: 0,
  journalSize: 100000,
  allowConcurrentPush: true,
  sessionTimeoutSeconds: 30,
  auditIntervalSec: 43200,
  sentinelIntervalSec: 120,
  liveMode: false,
  queueCapacity: 1000,
} as const;
