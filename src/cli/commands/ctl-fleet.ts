/**
 * Text forms of the fleet answers for `fustor ctl get agents|gateway-members|fleet`: pure functions from
 * the API objects to table rows and lines (ctl.ts prints them; `-o json|yaml` prints the objects as is).
 */
import type { AgentInfo, FleetStatus, GatewayMemberInfo, MemberState } from '../../protocol/index.ts';

export interface TableText { header: string[]; rows: string[][] }

type Member = AgentInfo | GatewayMemberInfo;
const isGateway = (m: Member): m is GatewayMemberInfo => 'views' in m;
const components = (m: Member) => (isGateway(m) ? m.views : m.pipes);

/** `12s`, `4m`, `3h`, `2d`. */
export function shortDuration(sec: number): string {
  if (sec < 90) return `${Math.max(0, Math.round(sec))}s`;
  if (sec < 90 * 60) return `${Math.round(sec / 60)}m`;
  if (sec < 36 * 3600) return `${Math.round(sec / 3600)}h`;
  return `${Math.round(sec / 86400)}d`;
}

function lastSeen(iso: string | null, nowMs: number): string {
  if (iso === null) return 'never';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : `${shortDuration((nowMs - t) / 1000)} ago`;
}

/** PIPES: running/total for agents; VIEWS: ready/total for gateways. */
function componentSummary(m: Member): string {
  if (isGateway(m)) return m.views.length === 0 ? '-' : `${m.views.filter((v) => v.ready !== false).length}/${m.views.length}`;
  return m.pipes.length === 0 ? '-' : `${m.pipes.filter((p) => p.state === 'running').length}/${m.pipes.length}`;
}

function maxLag(m: Member): string {
  const lags = components(m).map((c) => c.freshness_lag_sec).filter((l): l is number => l !== null);
  return lags.length === 0 ? '-' : shortDuration(Math.max(...lags));
}

function reason(m: Member): string {
  if (m.reasons.length === 0) return '-';
  return m.reasons.length === 1 ? m.reasons[0] : `${m.reasons[0]} (+${m.reasons.length - 1} more)`;
}

/** NAME STATE REVISION PIPES|VIEWS LAG LAST-SEEN REASON. */
export function memberTable(items: Member[], kind: 'agent' | 'gateway', nowMs = Date.now()): TableText {
  return {
    header: ['NAME', 'STATE', 'REVISION', kind === 'agent' ? 'PIPES' : 'VIEWS', 'LAG', 'LAST-SEEN', 'REASON'],
    rows: items.map((m) => [m.name, m.state, m.running_revision === null ? '-' : String(m.running_revision), componentSummary(m), maxLag(m), lastSeen(m.last_seen, nowMs), reason(m)]),
  };
}

/** The per-pipe (or per-view) table under `get agent NAME`. */
export function componentTable(m: Member): TableText {
  const num = (n: number | null) => (n === null ? '-' : String(Math.round(n * 10) / 10));
  if (isGateway(m)) {
    return {
      header: ['VIEW', 'STATE', 'READY', 'SESSIONS', 'LEADERS', 'REASONS'],
      rows: m.views.map((v) => [v.id, v.state, v.ready === null ? '-' : String(v.ready), num(v.sessions), v.leaders.join(',') || '-', v.degraded_reasons.join('; ') || '-']),
    };
  }
  return {
    header: ['PIPE', 'STATE', 'ROLE', 'EVENTS/S', 'BACKLOG', 'LAG', 'REASONS'],
    rows: m.pipes.map((p) => [p.id, p.state, p.role ?? '-', num(p.events_per_sec), num(p.backlog), p.freshness_lag_sec === null ? '-' : shortDuration(p.freshness_lag_sec), p.degraded_reasons.join('; ') || '-']),
  };
}

/** Lines after the one-member table: every reason, the apply error, the advertised URL. */
export function memberDetails(m: Member): string[] {
  const lines: string[] = [];
  if (m.reasons.length > 1) lines.push('reasons:', ...m.reasons.map((r) => `  ${r}`));
  if (m.apply_status !== null) lines.push(`apply: ${m.apply_status}${m.apply_error === null ? '' : ` (${m.apply_error})`}; version ${m.version ?? '-'}; ${m.connected ? `connected${m.replica === null ? '' : ` (replica ${m.replica})`}` : 'not connected'}`);
  if (isGateway(m) && m.advertise_url !== null) lines.push(`advertise url: ${m.advertise_url}`);
  return lines;
}

const STATES: MemberState[] = ['healthy', 'degraded', 'unhealthy', 'updating', 'offline', 'revoked'];

/** `get fleet`: one line of context, a count table by kind, and the partition warning when there is one. */
export function fleetText(f: FleetStatus): { before: string[]; table: TableText; after: string[] } {
  const row = (label: string, c: FleetStatus['total']) => [label, String(STATES.reduce((n, s) => n + c[s], 0)), ...STATES.map((s) => String(c[s]))];
  return {
    before: [`desired revision ${f.desired_revision}; heartbeat ${f.heartbeat_sec} s, offline after ${f.offline_after_sec} s without a report`],
    table: { header: ['KIND', 'TOTAL', ...STATES.map((s) => s.toUpperCase())], rows: [row('agents', f.agents), row('gateways', f.gateways), row('total', f.total)] },
    after: f.partition_suspected ? [`WARNING: ${f.partition_reason ?? 'possible network partition'} (${f.partition_members.join(', ')})`] : [],
  };
}
