/**
 * Health, readiness, metrics and the OpenAPI document (main listener). `/healthz` and `/readyz` are the
 * only unauthenticated routes; they read counters only and never wait for view work. `/metrics` needs
 * any valid key (secrets and topology stay behind a key; give the scraper a query key).
 */
import { Type } from 'typebox';
import type { Gateway } from '../gateway.ts';
import type { GatewayApp } from './app.ts';

const ViewReadiness = Type.Object({
  ready: Type.Boolean(),
  reason: Type.Union([Type.String(), Type.Null()]),
  kind: Type.String(),
  scopes: Type.Array(Type.Object({ pipe_id: Type.String(), scope: Type.String(), ready: Type.Boolean(), reason: Type.Union([Type.String(), Type.Null()]), leader: Type.Union([Type.String(), Type.Null()]) })),
});
const ReadyResponse = Type.Object({ ready: Type.Boolean(), views: Type.Record(Type.String(), ViewReadiness) });

export function healthRoutes(app: GatewayApp, gw: Gateway): void {
  app.get('/healthz', {
    schema: { tags: ['health'], summary: 'Process alive (no key needed)', security: [], response: { 200: Type.Object({ status: Type.Literal('ok'), uptime_seconds: Type.Number() }) } },
  }, async () => ({ status: 'ok' as const, uptime_seconds: Math.round(process.uptime()) }));

  app.get('/readyz', {
    schema: { tags: ['health'], summary: 'All views ready (no key needed); 503 lists the views and reasons', security: [], response: { 200: ReadyResponse, 503: ReadyResponse } },
  }, async (_request, reply) => {
    const report = gw.readiness();
    if (!report.ready) void reply.code(503).header('retry-after', '5');
    return report;
  });

  app.get('/metrics', {
    schema: { tags: ['health'], summary: 'Prometheus metrics (any valid key)' },
  }, async (_request, reply) => {
    const text = await gw.metrics.metrics();
    return reply.type(gw.metrics.contentType).send(text);
  });

  app.get('/api/v1/openapi.json', {
    schema: { tags: ['health'], summary: 'This OpenAPI 3 document' },
  }, async () => app.swagger());
}
