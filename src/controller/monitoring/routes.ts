/**
 * Fleet monitoring endpoints (viewer role, like every read): `GET /api/v1/agents[/{name}]`,
 * `GET /api/v1/gateways[/{name}]` (enrolled gateway members, not Gateway resources), `GET /api/v1/fleet`,
 * and `GET /metrics` (Prometheus text, any operator token).
 */
import { Type } from 'typebox';
import { FustorError } from '../../kernel/errors.ts';
import { AgentInfo, AgentList, ErrorBody, FleetStatus, GatewayMemberInfo, GatewayMemberList } from '../../protocol/index.ts';
import type { ControllerApp } from '../http/app.ts';
import { agentInfo, gatewayInfo, type FleetMonitor } from './fleet-monitor.ts';
import type { ControllerMetrics } from './metrics.ts';

const errors = { 401: ErrorBody, 403: ErrorBody };
const NameParams = Type.Object({ name: Type.String() });

export function monitoringRoutes(app: ControllerApp, monitor: FleetMonitor, metrics: ControllerMetrics): void {
  app.get('/api/v1/agents', {
    schema: { tags: ['fleet'], summary: 'Enrolled agents with their state, running revision, pipes and reasons', response: { 200: AgentList, ...errors } },
  }, async () => ({ items: (await monitor.list('agent')).map(agentInfo) }));

  app.get('/api/v1/agents/:name', {
    schema: { tags: ['fleet'], summary: 'One enrolled agent', params: NameParams, response: { 200: AgentInfo, 404: ErrorBody, ...errors } },
  }, async (request) => {
    const e = await monitor.one('agent', request.params.name);
    if (e === undefined) throw new FustorError('NOT_FOUND', `no agent named '${request.params.name}' is enrolled`);
    return agentInfo(e);
  });

  app.get('/api/v1/gateways', {
    schema: { tags: ['fleet'], summary: 'Enrolled gateways (members, not Gateway resources) with their state, views and reasons', response: { 200: GatewayMemberList, ...errors } },
  }, async () => ({ items: (await monitor.list('gateway')).map(gatewayInfo) }));

  app.get('/api/v1/gateways/:name', {
    schema: { tags: ['fleet'], summary: 'One enrolled gateway', params: NameParams, response: { 200: GatewayMemberInfo, 404: ErrorBody, ...errors } },
  }, async (request) => {
    const e = await monitor.one('gateway', request.params.name);
    if (e === undefined) throw new FustorError('NOT_FOUND', `no gateway named '${request.params.name}' is enrolled`);
    return gatewayInfo(e);
  });

  app.get('/api/v1/fleet', {
    schema: { tags: ['fleet'], summary: 'Members by state and kind, the partition suspicion, the desired revision', response: { 200: FleetStatus, ...errors } },
  }, async () => monitor.fleet());

  app.get('/metrics', {
    schema: { tags: ['fleet'], summary: 'Prometheus metrics of the controller and the fleet (any operator token)' },
  }, async (_request, reply) => {
    const text = await metrics.scrape();
    return reply.type(metrics.contentType).send(text);
  });
}
