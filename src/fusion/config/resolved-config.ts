/**
 * The gateway configuration after merging, validation and defaults: what the runtime reads. Everything
 * optional in the YAML has a concrete value here (FUSION_DEFAULTS), so no caller repeats a default.
 */
import { FUSION_DEFAULTS, type FusionConfig, type PipeConfig, type ReceiverConfig, type ViewConfig } from '../../protocol/index.ts';
import type { FsViewSettings } from '../view/view-driver.ts';

export type ViewKind = 'fs' | 'forest-fs';

export interface ResolvedReceiver {
  id: string;
  /** null = served on the main listener (no port, or the configured main port). */
  port: number | null;
  bindHost: string;
  disabled: boolean;
  keys: { key: string; pipeId: string }[];
}

export interface ResolvedView {
  id: string;
  driver: ViewKind;
  apiKeys: string[];
  adminKeys: string[];
  disabled: boolean;
  settings: FsViewSettings;
}

export interface ResolvedPipe {
  id: string;
  receiverId: string;
  /** Enabled views only; the first is the primary view (sessions and leadership). */
  viewIds: string[];
  allowConcurrentPush: boolean;
  sessionTimeoutSeconds: number;
  auditIntervalSec: number;
  sentinelIntervalSec: number;
  liveMode: boolean;
  queueCapacity: number;
  /** Disabled by config, or its receiver is disabled, or none of its views is enabled. */
  disabled: boolean;
}

/**
 * Managed mode only (built from the controller's gateway manifest): who may push and query. Kept apart
 * from views and pipes on purpose: `diffConfig` ignores it, so a change of access (an agent added to a
 * pipe, a query key created, a member revoked) never restarts a view or a pipe.
 */
export interface ManagedAccess {
  /** Pipe id → member ids of the agents that may push to it. */
  pipeAgents: Map<string, Set<string>>;
  /** Member ids the controller revoked: refused whatever a pipe says. */
  revoked: Set<string>;
  /** `sha256:<hex>` of a query key → the views it may read. */
  queryKeys: Map<string, Set<string>>;
  /** Issuer of agent credentials and where its public keys are published. */
  trust: { issuer: string; jwksUrl: string };
}

export interface ResolvedConfig {
  host: string;
  port: number;
  /** Standalone `tls:` as written (paths relative to the config directory); the CLI reads the files. */
  tls?: { certFile: string; keyFile: string };
  sessionCleanupInterval: number;
  maxBodyBytes: number;
  receivers: Map<string, ResolvedReceiver>;
  views: Map<string, ResolvedView>;
  pipes: Map<string, ResolvedPipe>;
  /** Set when the controller feeds this gateway (`fustor fusion --controller`); absent in standalone mode. */
  access?: ManagedAccess;
}

/** Apply FUSION_DEFAULTS to a validated, merged document. Pure. */
export function resolveConfig(doc: FusionConfig): ResolvedConfig {
  const mainPort = doc.port ?? FUSION_DEFAULTS.port;
  const receivers = new Map<string, ResolvedReceiver>();
  for (const [id, r] of Object.entries(doc.receivers ?? {})) receivers.set(id, resolveReceiver(id, r, mainPort, doc.host));

  const pipesRaw = Object.entries(doc.pipes ?? {});
  const views = new Map<string, ResolvedView>();
  for (const [id, v] of Object.entries(doc.views ?? {})) {
    // The abandoned-audit-window rule needs the audit interval of the pipes that feed the view.
    const feeding = pipesRaw.filter(([, p]) => p.views.includes(id)).map(([, p]) => p.audit_interval_sec ?? FUSION_DEFAULTS.auditIntervalSec);
    views.set(id, resolveView(id, v, feeding.length > 0 ? Math.max(...feeding) : FUSION_DEFAULTS.auditIntervalSec));
  }

  const pipes = new Map<string, ResolvedPipe>();
  for (const [id, p] of pipesRaw) pipes.set(id, resolvePipe(id, p, receivers, views));

  return {
    host: doc.host ?? FUSION_DEFAULTS.host,
    port: mainPort,
    ...(doc.tls === undefined ? {} : { tls: { certFile: doc.tls.cert_file, keyFile: doc.tls.key_file } }),
    sessionCleanupInterval: doc.session_cleanup_interval ?? FUSION_DEFAULTS.sessionCleanupInterval,
    maxBodyBytes: doc.max_body_bytes ?? FUSION_DEFAULTS.maxBodyBytes,
    receivers,
    views,
    pipes,
  };
}

function resolveReceiver(id: string, r: ReceiverConfig, mainPort: number, host: string | undefined): ResolvedReceiver {
  const port = r.port === undefined || r.port === mainPort ? null : r.port;
  return {
    id,
    port,
    bindHost: r.bind_host ?? host ?? FUSION_DEFAULTS.host,
    disabled: r.disabled === true,
    keys: (r.api_keys ?? []).map((k) => ({ key: k.key, pipeId: k.pipe_id })),
  };
}

function resolveView(id: string, v: ViewConfig, auditIntervalSec: number): ResolvedView {
  const p = v.driver_params ?? {};
  return {
    id,
    driver: v.driver,
    apiKeys: [...(v.api_keys ?? [])],
    adminKeys: [...(v.admin_keys ?? [])],
    disabled: v.disabled === true,
    settings: {
      hotFileThreshold: p.hot_file_threshold ?? FUSION_DEFAULTS.hotFileThreshold,
      tombstoneTtlSeconds: p.tombstone_ttl_seconds ?? p.consistency?.tombstone_ttl_seconds ?? FUSION_DEFAULTS.tombstoneTtlSeconds,
      maxTreeItems: Math.max(0, p.max_tree_items ?? FUSION_DEFAULTS.maxTreeItems),
      maxNodes: p.max_nodes ?? p.limits?.max_nodes ?? FUSION_DEFAULTS.maxNodes,
      auditIntervalSec,
      journalSize: p.journal_size ?? FUSION_DEFAULTS.journalSize,
    },
  };
}

function resolvePipe(id: string, p: PipeConfig, receivers: Map<string, ResolvedReceiver>, views: Map<string, ResolvedView>): ResolvedPipe {
  const viewIds = p.views.filter((v) => views.get(v)?.disabled === false);
  const receiver = receivers.get(p.receiver);
  return {
    id,
    receiverId: p.receiver,
    viewIds,
    allowConcurrentPush: p.allow_concurrent_push ?? FUSION_DEFAULTS.allowConcurrentPush,
    sessionTimeoutSeconds: p.session_timeout_seconds ?? FUSION_DEFAULTS.sessionTimeoutSeconds,
    auditIntervalSec: p.audit_interval_sec ?? FUSION_DEFAULTS.auditIntervalSec,
    sentinelIntervalSec: p.sentinel_interval_sec ?? FUSION_DEFAULTS.sentinelIntervalSec,
    liveMode: p.live_mode ?? FUSION_DEFAULTS.liveMode,
    queueCapacity: p.queue_capacity ?? FUSION_DEFAULTS.queueCapacity,
    disabled: p.disabled === true || receiver === undefined || receiver.disabled || viewIds.length === 0,
  };
}
