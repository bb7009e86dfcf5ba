/**
 * The control channel between members (agents, gateways) and the controller (spec 50, "Identity" and "The
 * channel"): enrollment and credential renewal bodies, the frames both sides exchange over the WebSocket
 * `GET /api/v1/channel` (or the long-poll `POST /api/v1/channel/poll`), and the manifests the controller
 * pushes. Frames are JSON objects with a `type`; every frame is validated against these schemas on receipt.
 */
import { Type, type Static } from 'typebox';
import { Labels, PipeSource } from './resources.ts';
import { MemberKind } from './management.ts';
import { FsViewParams } from './fusion-config.ts';

// ---- identity ------------------------------------------------------------------------------------

/** Member credentials (ES256 JWT): iss and aud, so that gateways verify them with the same rules as the controller. */
export const CREDENTIAL_ISSUER = 'fustor-controller';
export const CREDENTIAL_AUDIENCE = 'fustor';
/** Audience of the member's proof of possession sent with a renewal. */
export const PROOF_AUDIENCE = 'fustor-renew';
/** Header naming the pipe an agent pushes for, next to its credential (managed mode). */
export const PIPE_HEADER = 'x-fustor-pipe';

/** The member's public key: EC P-256 (ES256), public part only. */
export const MemberPublicKey = Type.Object({
  kty: Type.Literal('EC'),
  crv: Type.Literal('P-256'),
  x: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
  y: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
}, { additionalProperties: true, description: 'JWK of the member key (EC P-256); the private key never leaves the member host' });
export type MemberPublicKey = Static<typeof MemberPublicKey>;

export const MEMBER_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';

export const EnrollRequest = Type.Object({
  token: Type.String({ minLength: 1, maxLength: 512 }),
  kind: MemberKind,
  name: Type.Optional(Type.String({ pattern: MEMBER_NAME_PATTERN })),
  public_key: MemberPublicKey,
}, { additionalProperties: false });
export type EnrollRequest = Static<typeof EnrollRequest>;

export const EnrollResponse = Type.Object({
  member_id: Type.String(),
  name: Type.String(),
  kind: MemberKind,
  labels: Labels,
  credential: Type.String({ description: 'ES256 JWT: sub = member id, kind, cnf.jkt = thumbprint of the member key' }),
  expires_at: Type.String(),
});
export type EnrollResponse = Static<typeof EnrollResponse>;

export const RenewRequest = Type.Object({
  credential: Type.String({ minLength: 1, maxLength: 8192, description: 'the current credential (may have expired within the grace period)' }),
  proof: Type.String({ minLength: 1, maxLength: 8192, description: 'ES256 JWT signed by the member key: sub = member id, iat, exp (≤ 5 min), jti' }),
}, { additionalProperties: false });
export type RenewRequest = Static<typeof RenewRequest>;

export const RenewResponse = Type.Object({ credential: Type.String(), expires_at: Type.String() });
export type RenewResponse = Static<typeof RenewResponse>;

export const RevokeResponse = Type.Object({ member_id: Type.String(), name: Type.String(), kind: MemberKind, state: Type.Literal('revoked'), revoked_at: Type.String() });

export const Jwks = Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) });
export type Jwks = Static<typeof Jwks>;

// ---- manifests -----------------------------------------------------------------------------------

export const AgentManifestPipe = Type.Object({
  id: Type.String({ description: 'pipe id (the Pipe resource name)' }),
  view: Type.String(),
  gateway: Type.String(),
  gateway_url: Type.String(),
  source: PipeSource,
  audit_interval_sec: Type.Optional(Type.Number()),
  sentinel_interval_sec: Type.Optional(Type.Number()),
  fields_mapping: Type.Optional(Type.Array(Type.Record(Type.String(), Type.Unknown()))),
  /** Decrypted data of the Secret named by `source.credentialRef` (only this pipe's). */
  credential: Type.Optional(Type.Record(Type.String(), Type.String())),
});
export type AgentManifestPipe = Static<typeof AgentManifestPipe>;

export const AgentManifest = Type.Object({
  kind: Type.Literal('agent'),
  member: Type.String(),
  pipes: Type.Array(AgentManifestPipe),
});
export type AgentManifest = Static<typeof AgentManifest>;

export const GatewayManifestView = Type.Object({
  id: Type.String(),
  driver: Type.String(),
  driver_params: Type.Optional(FsViewParams),
  live_mode: Type.Optional(Type.Boolean()),
  /** Pipes allowed to push to this view and the member ids of the agents that run each. */
  pipes: Type.Array(Type.Object({ id: Type.String(), agents: Type.Array(Type.String()) })),
});
export type GatewayManifestView = Static<typeof GatewayManifestView>;

export const GatewayManifest = Type.Object({
  kind: Type.Literal('gateway'),
  member: Type.String(),
  /** Gateway resources this member serves (by name = member name). */
  views: Type.Array(GatewayManifestView),
  trust: Type.Object({ issuer: Type.String(), jwks_url: Type.String() }),
  revoked_members: Type.Array(Type.String()),
  /** QueryKeys that may read views of this gateway: `sha256:<hex>` of the key (never the key) and the views. */
  query_keys: Type.Array(Type.Object({ name: Type.String(), hash: Type.String(), views: Type.Array(Type.String()) })),
});
export type GatewayManifest = Static<typeof GatewayManifest>;

export const Manifest = Type.Union([AgentManifest, GatewayManifest]);
export type Manifest = Static<typeof Manifest>;

export const SigningKeyInfo = Type.Object({
  kid: Type.String(),
  created_at: Type.String(),
  active_from: Type.String({ description: 'signs credentials from this time (a rotated-in key is published first)' }),
  retired_at: Type.Union([Type.String(), Type.Null()], { description: 'when a newer key took over' }),
  published_until: Type.Union([Type.String(), Type.Null()], { description: 'retired keys stay in the JWKS while credentials they signed can be presented' }),
  signing: Type.Boolean(),
});
export type SigningKeyInfo = Static<typeof SigningKeyInfo>;
export const SigningKeyList = Type.Object({ items: Type.Array(SigningKeyInfo) });
export const SigningKeyRotation = Type.Object({ kid: Type.String(), active_from: Type.String(), keys: Type.Array(SigningKeyInfo) });

// ---- frames --------------------------------------------------------------------------------------

/*
 * Mixed versions. During a rolling upgrade members and controllers of different versions talk to each other,
 * so member frames (report, component state, command result) are open: a newer member may add fields and an
 * older controller validates the fields it knows and drops the rest (hub.ts stores the cleaned report). The
 * other way round, manifests are open objects too, and a command frame names its command as a string: a
 * member that does not know a newer command answers it with ok: false instead of ignoring the frame.
 */
export const ApplyStatus = Type.Union([Type.Literal('APPLIED'), Type.Literal('APPLYING'), Type.Literal('FAILED')]);
export type ApplyStatus = Static<typeof ApplyStatus>;

const componentStateFields = {
  id: Type.String({ maxLength: 128 }),
  state: Type.String({ maxLength: 64 }),
  events_per_sec: Type.Optional(Type.Number()),
  backlog: Type.Optional(Type.Number()),
  freshness_lag_sec: Type.Optional(Type.Number()),
  degraded_reasons: Type.Optional(Type.Array(Type.String({ maxLength: 512 }), { maxItems: 32 })),
  /** Gateway views: live sessions feeding the view, the leader's agent id per scope, readiness. */
  sessions: Type.Optional(Type.Integer({ minimum: 0 })),
  leaders: Type.Optional(Type.Array(Type.String({ maxLength: 256 }), { maxItems: 256 })),
  ready: Type.Optional(Type.Boolean()),
  /** Agent pipes: the role this agent holds at the gateway. */
  role: Type.Optional(Type.Union([Type.Literal('leader'), Type.Literal('follower'), Type.Null()])),
};
export const ComponentState = Type.Object(componentStateFields);
export type ComponentState = Static<typeof ComponentState>;

const reportFrameFields = (component: typeof ComponentState) => ({
  type: Type.Literal('report'),
  seq: Type.Integer({ minimum: 0 }),
  /** True when this report answers `request_full_report` (or is the first on a connection). */
  full: Type.Optional(Type.Boolean()),
  version: Type.String({ maxLength: 64 }),
  running_revision: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  running_hash: Type.Union([Type.String({ maxLength: 128 }), Type.Null()]),
  status: ApplyStatus,
  error: Type.Optional(Type.String({ maxLength: 4096 })),
  components: Type.Optional(Type.Array(component, { maxItems: 1024, description: 'per-pipe (agent) or per-view (gateway) state' })),
  metrics: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Number(), { maxProperties: 64 })),
  /** Gateways: the URL agents should push to (`--advertise-url`). */
  advertise_url: Type.Optional(Type.String({ maxLength: 2048 })),
});
export const ReportFrame = Type.Object(reportFrameFields(ComponentState));
/** ReportFrame with nothing else allowed: a report that passes holds only what this version stores (hub.ts). */
export const KnownReportFrame = Type.Object(reportFrameFields(Type.Object(componentStateFields, { additionalProperties: false })), { additionalProperties: false });
export type ReportFrame = Static<typeof ReportFrame>;

/**
 * Targeted commands (spec 50 "plus targeted commands"): one-shot requests an operator sends to ONE member,
 * outside the desired state (a manifest says what runs; a command asks for something to happen now).
 * - `rescan` (agents): a full audit of the pipe (or of every pipe) now, bypassing the audit cache; on a
 *   pipe where this agent is a follower, an on-demand scan of the whole root instead (followers do not audit).
 * - `restart_pipe` (agents): stop and start one pipe's worker (a new session at the gateway).
 * - `renew_credential` (agents, gateways): renew the member credential now instead of at half-life.
 */
export const MemberCommandName = Type.Union([Type.Literal('rescan'), Type.Literal('restart_pipe'), Type.Literal('renew_credential')]);
export type MemberCommandName = Static<typeof MemberCommandName>;
/** The commands this version's members carry out; any other name is refused with ok: false. */
export const MEMBER_COMMANDS: ReadonlySet<string> = new Set<MemberCommandName>(['rescan', 'restart_pipe', 'renew_credential']);

export const CommandFrame = Type.Object({
  type: Type.Literal('command'),
  id: Type.String(),
  /** One of MemberCommandName from this version; a string so that older members can refuse newer commands by name. */
  command: Type.String({ minLength: 1, maxLength: 64 }),
  /** The pipe a `rescan` or `restart_pipe` is about (a `rescan` without one covers every pipe). */
  pipe: Type.Optional(Type.String()),
});
export type CommandFrame = Static<typeof CommandFrame>;

/** The member's answer to a `command` frame: ok + a one-line message saying what it did or why it could not. */
export const CommandResultFrame = Type.Object({
  type: Type.Literal('command_result'),
  id: Type.String({ minLength: 1, maxLength: 64 }),
  ok: Type.Boolean(),
  message: Type.String({ maxLength: 1024 }),
});
export type CommandResultFrame = Static<typeof CommandResultFrame>;

export const MemberFrame = Type.Union([ReportFrame, CommandResultFrame]);
export type MemberFrame = Static<typeof MemberFrame>;

export const ManifestFrame = Type.Object({
  type: Type.Literal('manifest'),
  revision: Type.Integer(),
  hash: Type.String({ description: 'sha256:<hex> of the canonical JSON of content' }),
  content: Manifest,
});
export type ManifestFrame = Static<typeof ManifestFrame>;

export const HelloFrame = Type.Object({ type: Type.Literal('hello'), member_id: Type.String(), name: Type.String(), heartbeat_sec: Type.Number() });
export const RequestFullReportFrame = Type.Object({ type: Type.Literal('request_full_report'), reason: Type.String() });
export const RevokedFrame = Type.Object({ type: Type.Literal('revoked'), reason: Type.String() });
export const ErrorFrame = Type.Object({ type: Type.Literal('error'), code: Type.String(), message: Type.String() });

export const ControllerFrame = Type.Union([HelloFrame, ManifestFrame, RequestFullReportFrame, RevokedFrame, ErrorFrame, CommandFrame]);
export type ControllerFrame = Static<typeof ControllerFrame>;

/** Long-poll fallback: the member posts its frames, the controller answers with its frames (waiting up to `wait_sec`). */
export const PollRequest = Type.Object({
  // The known frames for the document, plus any typed object: the hub checks each frame itself, so that a frame
  // type of a newer member is ignored rather than failing the whole exchange (see "Mixed versions" above).
  frames: Type.Array(Type.Union([ReportFrame, CommandResultFrame, Type.Object({ type: Type.String({ maxLength: 64 }) })]), { maxItems: 16 }),
  wait_sec: Type.Optional(Type.Number({ minimum: 0, maximum: 60 })),
}, { additionalProperties: false });
export type PollRequest = Static<typeof PollRequest>;
export const PollResponse = Type.Object({ frames: Type.Array(ControllerFrame) });
export type PollResponse = Static<typeof PollResponse>;

/** WebSocket close codes of the channel. */
export const CHANNEL_CLOSE = { revoked: 4401, unauthorized: 4403, protocol: 4400, replaced: 4409, shutdown: 1001 } as const;

// ---- commands (management API) -----------------------------------------------------------------------

export const CommandRequest = Type.Object({
  command: MemberCommandName,
  pipe: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  /** How long the command may wait for the member to connect and answer (default 300 s). */
  ttl_sec: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
}, { additionalProperties: false });
export type CommandRequest = Static<typeof CommandRequest>;

/**
 * pending → delivered (sent on the member's channel) → succeeded | failed (the member's answer);
 * pending or delivered past `expires_at` → expired (the member was away, or went away before answering).
 */
export const CommandState = Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('expired')]);
export type CommandState = Static<typeof CommandState>;

export const CommandInfo = Type.Object({
  id: Type.String(),
  kind: MemberKind,
  member: Type.String(),
  /** A string, not MemberCommandName: a replica of an older version may read a command a newer one stored. */
  command: Type.String(),
  pipe: Type.Union([Type.String(), Type.Null()]),
  state: CommandState,
  message: Type.Union([Type.String(), Type.Null()]),
  actor: Type.String(),
  created_at: Type.String(),
  delivered_at: Type.Union([Type.String(), Type.Null()]),
  finished_at: Type.Union([Type.String(), Type.Null()]),
  expires_at: Type.String(),
});
export type CommandInfo = Static<typeof CommandInfo>;
export const CommandList = Type.Object({ items: Type.Array(CommandInfo) });
export type CommandList = Static<typeof CommandList>;
