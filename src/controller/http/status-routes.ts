/** Health, the OpenAPI document, the audit log and the fleet lists. */
import { AgentList, ControllerHealth, ErrorBody, GatewayMemberList, HistoryPage, HistoryQuery } from '../../protocol/index.ts';
import type { ControllerStore } from '../store/store.ts';
import type { ControllerApp } from './app.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody };

export function statusRoutes(app: ControllerApp, store: ControllerStore): void {
  app.get('/healthz', {
    config: { role: 'public' },
    schema: { tags: ['status'], summary: 'Liveness (no token needed)', response: { 200: ControllerHealth } },
  }, async () => ({ status: 'ok' as const, revision: await store.currentRevision() }));

  app.get('/api/v1/openapi.json', {
    schema: { tags: ['status'], summary: 'This OpenAPI 3 document' },
  }, async () => app.swagger());

  app.get('/api/v1/history', {
    schema: { tags: ['status'], summary: 'The audit log, newest first, paged with `before`', querystring: HistoryQuery, response: { 200: HistoryPage, ...errors } },
  }, async (request) => {
    const limit = request.query.limit ?? 100;
    const items = await store.history({ limit, before: request.query.before });
    const last = items.at(-1);
    return items.length === limit && last !== undefined ? { items, next_before: last.id } : { items };
  });

  app.get('/api/v1/agents', {
    schema: { tags: ['fleet'], summary: 'Enrolled agents', response: { 200: AgentList, ...errors } },
  }, async () => ({
    items: (await store.listAgents()).map((a) => ({ name: a.name, labels: a.labels, state: a.state, enrolled_at: a.enrolledAt, last_seen: a.lastSeen })),
  }));

  app.get('/api/v1/gateways', {
    schema: { tags: ['fleet'], summary: 'Enrolled gateways (members, not Gateway resources)', response: { 200: GatewayMemberList, ...errors } },
  }, async () => ({
    items: (await store.listGatewayMembers()).map((g) => ({ name: g.name, labels: g.labels, state: g.state, url: g.url, enrolled_at: g.enrolledAt, last_seen: g.lastSeen })),
  }));
}
