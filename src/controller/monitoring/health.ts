/**
 * Health of one member (spec 50 "Monitoring"), computed at READ time from what is stored — revocation, the
 * time of the last report, the last report itself — so every replica answers the same without a sweeper.
 * Pure and synchronous: the clock is a parameter.
 *
 * Precedence (the first rule that matches decides the state; `reasons` lists every problem found):
 *   revoked   — revoked_at is set
 *   offline   — never reported, or the last report is older than `missedHeartbeats` × heartbeat
 *   updating  — the member is applying a manifest (status APPLYING); restarting pipes are expected then
 *   unhealthy — apply FAILED and nothing runs (no running manifest), or every reported component is failing
 *   degraded  — apply FAILED while the previous manifest still runs, some (not all) components failing, a
 *               component degraded (state or degraded_reasons), freshness lag above `maxLagSec`, backlog above
 *               `maxBacklog`, a gateway view not ready
 *   healthy   — none of the above
 */
import type { MemberKind, MemberState, ReportFrame } from '../../protocol/index.ts';

export interface HealthPolicy {
  heartbeatSec: number;
  /** Heartbeats without a report after which a member is offline (spec: 3). */
  missedHeartbeats: number;
  /** A component whose freshness lag exceeds this many seconds is lagging (degraded). */
  maxLagSec: number;
  /** A component whose backlog exceeds this many rows is backed up (degraded). */
  maxBacklog: number;
}

export const DEFAULT_POLICY: Omit<HealthPolicy, 'heartbeatSec'> = { missedHeartbeats: 3, maxLagSec: 60, maxBacklog: 10_000 };

export function healthPolicy(heartbeatSec: number): HealthPolicy {
  return { heartbeatSec, ...DEFAULT_POLICY };
}

export interface HealthInput {
  kind: MemberKind;
  revokedAt: string | null;
  /** Epoch ms of the last report, null when the member never reported. */
  lastSeenMs: number | null;
  report: ReportFrame | null;
}

export interface Health { state: MemberState; reasons: string[] }

/** Component states that mean "not doing its job"; anything else (running, starting, ready…) is judged by its numbers. */
const FAILING = new Set(['failed', 'failing', 'error', 'crashed', 'fatal', 'stopped', 'unhealthy']);
/** A pipe being restarted after a crash is down but on its way back. */
const DEGRADED = new Set(['degraded', 'restarting', 'lagging']);

/** The member's state now. */
export function memberHealth(input: HealthInput, policy: HealthPolicy, nowMs: number): Health {
  if (input.revokedAt !== null) return { state: 'revoked', reasons: [`revoked at ${input.revokedAt}`] };
  if (input.lastSeenMs === null || input.report === null) return { state: 'offline', reasons: ['never connected'] };
  const ageSec = (nowMs - input.lastSeenMs) / 1000;
  const limitSec = policy.missedHeartbeats * policy.heartbeatSec;
  if (ageSec > limitSec) {
    return { state: 'offline', reasons: [`no report for ${formatSeconds(ageSec)} (${policy.missedHeartbeats} heartbeats of ${formatSeconds(policy.heartbeatSec)} missed)`] };
  }
  return reportHealth(input.kind, input.report, policy);
}

/** What the report alone says (the member assumed online): also the state stored when a report arrives. */
export function reportHealth(kind: MemberKind, r: ReportFrame, policy: Omit<HealthPolicy, 'heartbeatSec' | 'missedHeartbeats'>): Health {
  const unhealthy: string[] = [];
  const degraded: string[] = [];
  if (r.status === 'FAILED') {
    const what = `apply failed: ${r.error ?? 'no error given'}`;
    if (r.running_hash === null) unhealthy.push(`${what}; nothing running`);
    else degraded.push(`${what}; still running revision ${r.running_revision ?? '?'}`);
  }
  const components = r.components ?? [];
  const noun = kind === 'gateway' ? 'view' : 'pipe';
  let failing = 0;
  for (const c of components) {
    const state = c.state.toLowerCase();
    if (FAILING.has(state)) {
      failing++;
      degraded.push(`${noun} ${c.id} ${state}`);
    } else if (DEGRADED.has(state)) degraded.push(`${noun} ${c.id} ${state}`);
    for (const why of c.degraded_reasons ?? []) degraded.push(`${noun} ${c.id}: ${why}`);
    if (c.freshness_lag_sec !== undefined && c.freshness_lag_sec > policy.maxLagSec) {
      degraded.push(`${noun} ${c.id} lagging: freshness lag ${formatSeconds(c.freshness_lag_sec)} (> ${formatSeconds(policy.maxLagSec)})`);
    }
    if (c.backlog !== undefined && c.backlog > policy.maxBacklog) degraded.push(`${noun} ${c.id} backlog ${c.backlog} (> ${policy.maxBacklog})`);
    if (c.ready === false) degraded.push(`${noun} ${c.id} not ready`);
  }
  if (components.length > 0 && failing === components.length) unhealthy.push(`no ${noun} running (${failing} failing)`);
  const reasons = [...unhealthy, ...degraded];
  if (r.status === 'APPLYING') return { state: 'updating', reasons: [`applying a new manifest (running revision ${r.running_revision ?? 'none'})`, ...reasons] };
  if (unhealthy.length > 0) return { state: 'unhealthy', reasons };
  if (degraded.length > 0) return { state: 'degraded', reasons };
  return { state: 'healthy', reasons: [] };
}

export function formatSeconds(sec: number): string {
  return sec >= 10 || Number.isInteger(sec) ? `${Math.round(sec)} s` : `${sec.toFixed(1)} s`;
}
