/**
 * What a managed gateway tells its controller on every heartbeat (spec 50, "The channel" and
 * "Monitoring"): one component per running view — readiness, the sessions feeding it, the leader agent of
 * each election scope, rows applied per second, queue backlog, and why it is not ready — plus process
 * metrics and the URL agents should push to. Read-only over the Gateway; cheap enough to run every
 * heartbeat (no tree walk).
 */
import type { MemberReport } from '../../kernel/control-channel-client.ts';
import type { ComponentState } from '../../protocol/index.ts';
import type { Gateway } from '../gateway.ts';
import type { Static } from 'typebox';

type Component = Static<typeof ComponentState>;

/** Bounds of the report frame schema (control.ts). */
const MAX_COMPONENTS = 1024;
const MAX_LEADERS = 256;

export function memberReport(gw: Gateway, opts: { version: string; advertiseUrl: string }): MemberReport {
  const samples = gw.pipeSamples();
  const components: Component[] = [];
  let sessions = 0;
  let ready = 0;
  let eventsPerSec = 0;
  let backlog = 0;
  for (const s of samples) {
    eventsPerSec += s.rowsPerSecond;
    backlog += s.depth;
  }
  for (const viewId of gw.config.views.keys()) {
    if (gw.view(viewId) === undefined) continue;
    const r = gw.viewReadiness(viewId);
    const feeding = gw.sessionsFeeding(viewId);
    const byId = new Map(feeding.map((s) => [s.id, s]));
    const pipes = samples.filter((p) => gw.config.pipes.get(p.pipeId)?.viewIds.includes(viewId) === true);
    // Leaders are named by the controller's member id when the agent pushed with a credential (the id the
    // manifest uses), else by the agent id of its task.
    const leaders = r.scopes
      .map((s) => (s.leader === null ? undefined : byId.get(s.leader)))
      .filter((s) => s !== undefined)
      .map((s) => (s.memberId ?? s.agentId).slice(0, 256))
      .slice(0, MAX_LEADERS);
    sessions += feeding.length;
    if (r.ready) ready++;
    const c: Component = {
      id: viewId,
      state: r.ready ? 'ready' : 'not-ready',
      ready: r.ready,
      sessions: feeding.length,
      leaders,
      events_per_sec: round(pipes.reduce((n, p) => n + p.rowsPerSecond, 0)),
      backlog: pipes.reduce((n, p) => n + p.depth, 0),
    };
    if (!r.ready) c.degraded_reasons = [r.reason ?? 'not ready'];
    components.push(c);
  }
  const mem = process.memoryUsage();
  return {
    version: opts.version,
    advertise_url: opts.advertiseUrl,
    components: components.slice(0, MAX_COMPONENTS),
    metrics: {
      rss: mem.rss,
      heap_used: mem.heapUsed,
      sessions,
      views: components.length,
      views_ready: ready,
      pipes: samples.length,
      events_per_sec: round(eventsPerSec),
      backlog,
    },
  };
}

const round = (n: number) => Math.round(n * 10) / 10;
