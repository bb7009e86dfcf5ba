/** Health, the OpenAPI document and the audit log. The fleet lists are monitoring's (src/controller/monitoring/routes.ts). */
import { ControllerHealth, ErrorBody, HistoryPage, HistoryQuery } from '../../protocol/index.ts';
import type { ControllerStore } from '../store/store.ts';
import type { ControllerApp } from './app.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody };

/** The replica fields of `GET /healthz` (ControllerHealth). */
export type ReplicaHealth = Required<Pick<ControllerHealth, 'replica' | 'leader' | 'leader_replica' | 'store'>>;

export function statusRoutes(app: ControllerApp, store: ControllerStore, health?: () => ReplicaHealth): void {
  app.get('/healthz', {
    config: { role: 'public' },
    schema: { tags: ['status'], summary: 'Liveness (no token needed); with replicas: which one answers and whether it leads', response: { 200: ControllerHealth } },
  }, async (): Promise<ControllerHealth> => ({ status: 'ok' as const, revision: await store.currentRevision(), ...health?.() }));

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
}
