/**
 * Fleet monitoring bodies of the management API (spec 50 "Monitoring"): `GET /api/v1/agents[/{name}]`,
 * `GET /api/v1/gateways[/{name}]`, `GET /api/v1/fleet`. A member's state is computed by the controller at
 * read time from its last report (docs/controller.md, "Fleet health"); the per-pipe / per-view numbers are
 * the member's own, as last reported. Separate from management.ts because it builds on the channel's
 * report schema (control.ts), which itself imports management.ts.
 */
import { Type, type Static } from 'typebox';
import { ApplyStatus } from './control.ts';
import { Labels } from './resources.ts';

export const MemberStateSchema = Type.Union([
  Type.Literal('healthy'), Type.Literal('degraded'), Type.Literal('unhealthy'), Type.Literal('offline'), Type.Literal('updating'), Type.Literal('revoked'),
], { description: 'computed at read time: see docs/controller.md "Fleet health"' });
export type MemberState = Static<typeof MemberStateSchema>;
export const MEMBER_STATES: readonly MemberState[] = ['healthy', 'degraded', 'unhealthy', 'offline', 'updating', 'revoked'];

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const PipeHealth = Type.Object({
  id: Type.String({ description: 'pipe id' }),
  state: Type.String({ description: 'as reported by the agent (starting, running, restarting, failed, …)' }),
  role: Nullable(Type.Union([Type.Literal('leader'), Type.Literal('follower')])),
  events_per_sec: Nullable(Type.Number()),
  backlog: Nullable(Type.Number()),
  freshness_lag_sec: Nullable(Type.Number()),
  degraded_reasons: Type.Array(Type.String()),
});
export type PipeHealth = Static<typeof PipeHealth>;

export const ViewHealth = Type.Object({
  id: Type.String({ description: 'view id' }),
  state: Type.String(),
  sessions: Nullable(Type.Integer({ description: 'live agent sessions feeding the view' })),
  leaders: Type.Array(Type.String(), { description: 'leader agent per scope' }),
  ready: Nullable(Type.Boolean()),
  events_per_sec: Nullable(Type.Number()),
  backlog: Nullable(Type.Number()),
  freshness_lag_sec: Nullable(Type.Number()),
  degraded_reasons: Type.Array(Type.String()),
});
export type ViewHealth = Static<typeof ViewHealth>;

const memberFields = {
  name: Type.String(),
  member_id: Type.String(),
  labels: Labels,
  state: MemberStateSchema,
  reasons: Type.Array(Type.String(), { description: 'why the member is not healthy (empty when healthy)' }),
  connected: Type.Boolean({ description: 'holds a channel (WebSocket or long-poll) to a controller replica: this one, or another that received its last report within 2 heartbeats' }),
  replica: Nullable(Type.String({ description: 'the controller replica holding its channel, when connected' })),
  enrolled_at: Type.String(),
  last_seen: Nullable(Type.String({ description: 'when its last report arrived' })),
  revoked_at: Nullable(Type.String()),
  version: Nullable(Type.String()),
  running_revision: Nullable(Type.Integer()),
  running_hash: Nullable(Type.String()),
  apply_status: Nullable(ApplyStatus),
  apply_error: Nullable(Type.String()),
  metrics: Type.Record(Type.String(), Type.Number(), { description: 'host metrics as last reported' }),
};

export const AgentInfo = Type.Object({ ...memberFields, pipes: Type.Array(PipeHealth) });
export type AgentInfo = Static<typeof AgentInfo>;
export const AgentList = Type.Object({ items: Type.Array(AgentInfo) });
export type AgentList = Static<typeof AgentList>;

export const GatewayMemberInfo = Type.Object({
  ...memberFields,
  advertise_url: Nullable(Type.String({ description: 'the URL agents push to, as the gateway reports it' })),
  views: Type.Array(ViewHealth),
});
export type GatewayMemberInfo = Static<typeof GatewayMemberInfo>;
export const GatewayMemberList = Type.Object({ items: Type.Array(GatewayMemberInfo) });
export type GatewayMemberList = Static<typeof GatewayMemberList>;

const Count = Type.Integer({ minimum: 0 });
export const StateCounts = Type.Object({ healthy: Count, degraded: Count, unhealthy: Count, offline: Count, updating: Count, revoked: Count });
export type StateCounts = Static<typeof StateCounts>;

export const FleetStatus = Type.Object({
  desired_revision: Type.Integer({ description: 'the current revision of the desired state' }),
  heartbeat_sec: Type.Number(),
  offline_after_sec: Type.Number({ description: 'a member without a report for this long is offline' }),
  agents: StateCounts,
  gateways: StateCounts,
  total: StateCounts,
  partition_suspected: Type.Boolean({ description: 'a large share of the fleet went offline at about the same time: more likely a network partition around the controller than mass failure' }),
  partition_reason: Nullable(Type.String()),
  partition_members: Type.Array(Type.String(), { description: '`agent/NAME` or `gateway/NAME` of the members the suspicion covers' }),
});
export type FleetStatus = Static<typeof FleetStatus>;
