/**
 * The read side of monitoring: loads the members (the `members` rows are the single source of truth for
 * identity, last_seen and the last report), evaluates the fleet at the current time and shapes the API
 * objects of `GET /agents`, `/gateways`, `/fleet` and the metrics. Nothing is cached: every read sees what
 * any replica stored, so answers agree across replicas. `connected` is this replica's own knowledge for its
 * channels, and for the others the replica named with the member's last report, while that report is fresh
 * (2 heartbeats: the replica clears the name when it sees the channel close, but a replica that died cannot).
 */
import type { AgentInfo, FleetStatus, GatewayMemberInfo, MemberKind, PipeHealth, ReportFrame, ViewHealth } from '../../protocol/index.ts';
import type { MemberRecord, MemberStore } from '../identity/member-store.ts';
import type { ControllerStore } from '../store/store.ts';
import { countStates, evaluateFleet, partitionPolicy, type EvaluatedMember, type FleetHealth, type FleetMemberInput } from './fleet.ts';
import { healthPolicy } from './health.ts';

export interface MonitoredMember extends FleetMemberInput { record: MemberRecord; connected: boolean; replica: string | null }

export interface FleetMonitorOptions {
  heartbeatSec: number;
  /** Whether the member holds a channel to this replica. */
  isConnected: (memberId: string) => boolean;
  /** This replica's id. */
  replica: string;
  now?: () => number;
}

export class FleetMonitor {
  constructor(private readonly members: MemberStore, private readonly store: ControllerStore, private readonly opts: FleetMonitorOptions) {}

  get heartbeatSec(): number {
    return this.opts.heartbeatSec;
  }

  async evaluate(): Promise<FleetHealth<MonitoredMember>> {
    const records = await this.members.listMembers();
    const now = this.opts.now?.() ?? Date.now();
    return evaluateFleet(records.map((r) => this.monitored(r, now)), healthPolicy(this.opts.heartbeatSec), partitionPolicy(this.opts.heartbeatSec), now);
  }

  async list(kind: MemberKind): Promise<EvaluatedMember<MonitoredMember>[]> {
    return (await this.evaluate()).members.filter((e) => e.member.kind === kind);
  }

  /** One member; undefined when no member of that kind has that name. */
  async one(kind: MemberKind, name: string): Promise<EvaluatedMember<MonitoredMember> | undefined> {
    const record = await this.members.findMember(kind, name);
    if (record === undefined) return undefined;
    const now = this.opts.now?.() ?? Date.now();
    const m = this.monitored(record, now);
    const alone = evaluateFleet([m], healthPolicy(this.opts.heartbeatSec), partitionPolicy(this.opts.heartbeatSec), now).members[0];
    // Only an offline member can be part of a partition, and that needs the whole fleet.
    if (alone.health.state !== 'offline' || m.lastSeenMs === null) return alone;
    return (await this.evaluate()).members.find((e) => e.member.id === record.id) ?? alone;
  }

  async fleet(): Promise<FleetStatus> {
    const { members, partition } = await this.evaluate();
    const of = (kind: MemberKind) => countStates(members.filter((e) => e.member.kind === kind).map((e) => e.health.state));
    const hb = this.opts.heartbeatSec;
    return {
      desired_revision: await this.store.currentRevision(),
      heartbeat_sec: hb,
      offline_after_sec: healthPolicy(hb).missedHeartbeats * hb,
      agents: of('agent'),
      gateways: of('gateway'),
      total: countStates(members.map((e) => e.health.state)),
      partition_suspected: partition.suspected,
      partition_reason: partition.reason,
      partition_members: members.filter((e) => partition.memberIds.has(e.member.id)).map((e) => `${e.member.kind}/${e.member.name}`),
    };
  }

  private monitored(record: MemberRecord, now: number): MonitoredMember {
    const lastSeenMs = record.lastSeen === null ? null : Date.parse(record.lastSeen);
    const here = this.opts.isConnected(record.id);
    const elsewhere = !here && record.revokedAt === null && record.channelReplica !== null && record.channelReplica !== this.opts.replica
      && lastSeenMs !== null && now - lastSeenMs <= 2 * this.opts.heartbeatSec * 1000;
    return {
      id: record.id, kind: record.kind, name: record.name, revokedAt: record.revokedAt,
      lastSeenMs,
      report: parseReport(record.lastReport),
      record,
      connected: here || elsewhere,
      replica: here ? this.opts.replica : elsewhere ? record.channelReplica : null,
    };
  }
}

/** A stored report was validated on receipt; a row that does not parse (hand-edited) counts as no report. */
function parseReport(json: string | null): ReportFrame | null {
  if (json === null) return null;
  try {
    const v = JSON.parse(json) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as ReportFrame) : null;
  } catch {
    return null;
  }
}

function common(e: EvaluatedMember<MonitoredMember>) {
  const { record, report } = e.member;
  return {
    name: record.name,
    member_id: record.id,
    labels: record.labels,
    state: e.health.state,
    reasons: e.health.reasons,
    connected: e.member.connected,
    replica: e.member.replica,
    enrolled_at: record.enrolledAt,
    last_seen: record.lastSeen,
    revoked_at: record.revokedAt,
    version: report?.version ?? null,
    running_revision: report?.running_revision ?? null,
    running_hash: report?.running_hash ?? null,
    apply_status: report?.status ?? null,
    apply_error: report?.error ?? null,
    metrics: report?.metrics ?? {},
  };
}

export function agentInfo(e: EvaluatedMember<MonitoredMember>): AgentInfo {
  const pipes: PipeHealth[] = (e.member.report?.components ?? []).map((c) => ({
    id: c.id, state: c.state, role: c.role ?? null, events_per_sec: c.events_per_sec ?? null, backlog: c.backlog ?? null,
    freshness_lag_sec: c.freshness_lag_sec ?? null, degraded_reasons: c.degraded_reasons ?? [],
  }));
  return { ...common(e), pipes };
}

export function gatewayInfo(e: EvaluatedMember<MonitoredMember>): GatewayMemberInfo {
  const views: ViewHealth[] = (e.member.report?.components ?? []).map((c) => ({
    id: c.id, state: c.state, sessions: c.sessions ?? null, leaders: c.leaders ?? [], ready: c.ready ?? null,
    events_per_sec: c.events_per_sec ?? null, backlog: c.backlog ?? null, freshness_lag_sec: c.freshness_lag_sec ?? null,
    degraded_reasons: c.degraded_reasons ?? [],
  }));
  return { ...common(e), advertise_url: e.member.report?.advertise_url ?? null, views };
}
