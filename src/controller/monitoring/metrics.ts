/**
 * Prometheus metrics of one controller (prom-client, a private registry per controller so several can live
 * in one process). A scrape evaluates the fleet once (fleet-monitor.ts) and every gauge reads that one
 * snapshot; nothing on the report path touches prom-client. Per-member series are bounded by members ×
 * pipes (or views) and exist only for members that are online now: an offline member's last numbers are
 * stale and would hide that it stopped reporting.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { MEMBER_STATES } from '../../protocol/index.ts';
import type { FleetHealth } from './fleet.ts';
import type { FleetMonitor, MonitoredMember } from './fleet-monitor.ts';

export interface ControllerMetricsSource {
  monitor: FleetMonitor;
  currentRevision(): Promise<number>;
  channelConnections(): number;
  admissionsRefused(): number;
}

export class ControllerMetrics {
  private readonly registry = new Registry();
  private snapshot: { fleet: FleetHealth<MonitoredMember>; revision: number } | null = null;

  constructor(private readonly source: ControllerMetricsSource) {
    const registry = this.registry;
    collectDefaultMetrics({ register: registry, prefix: 'fustor_controller_' });
    const read = () => this.snapshot;

    new Gauge({
      name: 'fustor_controller_members', help: 'Enrolled members by kind and state', labelNames: ['kind', 'state'], registers: [registry],
      collect() {
        this.reset();
        const s = read();
        if (s === null) return;
        for (const kind of ['agent', 'gateway'] as const) {
          for (const state of MEMBER_STATES) this.set({ kind, state }, s.fleet.members.filter((e) => e.member.kind === kind && e.health.state === state).length);
        }
      },
    });
    new Gauge({
      name: 'fustor_controller_partition_suspected', help: '1 when a large share of the fleet went offline at about the same time (see /api/v1/fleet)', registers: [registry],
      collect() { this.set(read()?.fleet.partition.suspected === true ? 1 : 0); },
    });
    const componentGauge = (name: string, help: string, pick: (c: NonNullable<ReportComponents>[number]) => number | undefined) => new Gauge({
      name, help, labelNames: ['kind', 'member', 'component'], registers: [registry],
      collect() {
        this.reset();
        for (const e of read()?.fleet.members ?? []) {
          if (e.health.state === 'offline' || e.health.state === 'revoked') continue;
          for (const c of e.member.report?.components ?? []) {
            const v = pick(c);
            if (v !== undefined) this.set({ kind: e.member.kind, member: e.member.name, component: c.id }, v);
          }
        }
      },
    });
    componentGauge('fustor_controller_member_freshness_lag_seconds', 'Freshness lag per member pipe (agents) or view (gateways), as last reported', (c) => c.freshness_lag_sec);
    componentGauge('fustor_controller_member_backlog', 'Backlog per member pipe or view, as last reported', (c) => c.backlog);
    componentGauge('fustor_controller_member_events_per_second', 'Events per second per member pipe or view, as last reported', (c) => c.events_per_sec);
    const src = this.source;
    new Gauge({
      name: 'fustor_controller_channel_connections', help: 'Members holding a WebSocket channel to this controller', registers: [registry],
      collect() { this.set(src.channelConnections()); },
    });
    new Counter({
      name: 'fustor_controller_admissions_refused_total', help: 'Channel connections refused by the admission rate limit (503 + Retry-After)', registers: [registry],
      collect() { this.reset(); this.inc(src.admissionsRefused()); },
    });
    new Gauge({
      name: 'fustor_controller_revision', help: 'Current revision of the desired state', registers: [registry],
      collect() { this.set(read()?.revision ?? 0); },
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Evaluates the fleet once, then renders every metric from that snapshot. */
  async scrape(): Promise<string> {
    this.snapshot = { fleet: await this.source.monitor.evaluate(), revision: await this.source.currentRevision() };
    return this.registry.metrics();
  }
}

type ReportComponents = NonNullable<MonitoredMember['report']>['components'];
