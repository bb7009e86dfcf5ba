/**
 * Health of the whole fleet at one instant: every member's state (health.ts) plus the partition rule —
 * when a large share of the fleet went offline at about the same time, the likelier cause is the network
 * between the controller and those members (or the controller itself having been away), not that many
 * hosts failed at once (spec 50 "Monitoring"). Pure and synchronous; the clock is a parameter.
 *
 * Partition rule: among the non-revoked members that have reported at least once, find the largest group
 * of OFFLINE members whose last reports lie within `windowSec` of each other. It is a suspected partition
 * when the group has at least `minMembers` members and at least `minShare` of those members. A cut leaves
 * the last reports spread over one heartbeat (each member reports once per heartbeat), so the window is
 * two heartbeats: one for the spread, one for timer jitter and slow writes.
 */
import type { MemberKind, MemberState, ReportFrame } from '../../protocol/index.ts';
import { formatSeconds, memberHealth, type Health, type HealthPolicy } from './health.ts';

export interface PartitionPolicy { minShare: number; minMembers: number; windowSec: number }

export function partitionPolicy(heartbeatSec: number): PartitionPolicy {
  return { minShare: 0.5, minMembers: 3, windowSec: 2 * heartbeatSec };
}

export interface FleetMemberInput {
  id: string;
  kind: MemberKind;
  name: string;
  revokedAt: string | null;
  lastSeenMs: number | null;
  report: ReportFrame | null;
}

export interface EvaluatedMember<T extends FleetMemberInput = FleetMemberInput> { member: T; health: Health }

export interface Partition {
  suspected: boolean;
  reason: string | null;
  /** Ids of the members the suspicion covers. */
  memberIds: Set<string>;
}

export interface FleetHealth<T extends FleetMemberInput = FleetMemberInput> { members: EvaluatedMember<T>[]; partition: Partition }

export function evaluateFleet<T extends FleetMemberInput>(members: readonly T[], policy: HealthPolicy, partition: PartitionPolicy, nowMs: number): FleetHealth<T> {
  const evaluated = members.map((m) => ({ member: m, health: memberHealth(m, policy, nowMs) }));
  const found = detectPartition(evaluated, partition);
  if (found.suspected && found.reason !== null) {
    for (const e of evaluated) {
      if (found.memberIds.has(e.member.id)) e.health = { state: e.health.state, reasons: [found.reason, ...e.health.reasons] };
    }
  }
  return { members: evaluated, partition: found };
}

export function detectPartition(evaluated: readonly EvaluatedMember[], policy: PartitionPolicy): Partition {
  const none: Partition = { suspected: false, reason: null, memberIds: new Set() };
  const seen = evaluated.filter((e) => e.member.revokedAt === null && e.member.lastSeenMs !== null);
  const offline = seen.filter((e) => e.health.state === 'offline').sort((a, b) => (a.member.lastSeenMs ?? 0) - (b.member.lastSeenMs ?? 0));
  if (offline.length < policy.minMembers) return none;
  // Sliding window over the sorted last-seen times: the largest group within windowSec of each other.
  const windowMs = policy.windowSec * 1000;
  let best = { from: 0, to: 0 };
  for (let from = 0, to = 0; to < offline.length; to++) {
    while ((offline[to].member.lastSeenMs ?? 0) - (offline[from].member.lastSeenMs ?? 0) > windowMs) from++;
    if (to - from > best.to - best.from) best = { from, to };
  }
  const group = offline.slice(best.from, best.to + 1);
  if (group.length < policy.minMembers || group.length < policy.minShare * seen.length) return none;
  const spreadSec = Math.max(1, Math.ceil(((group.at(-1)?.member.lastSeenMs ?? 0) - (group[0].member.lastSeenMs ?? 0)) / 1000));
  return {
    suspected: true,
    reason: `possible network partition between the controller and ${group.length} members, last seen within ${formatSeconds(spreadSec)} of each other`,
    memberIds: new Set(group.map((e) => e.member.id)),
  };
}

export function countStates(states: Iterable<MemberState>): Record<MemberState, number> {
  const counts: Record<MemberState, number> = { healthy: 0, degraded: 0, unhealthy: 0, offline: 0, updating: 0, revoked: 0 };
  for (const s of states) counts[s]++;
  return counts;
}
