/**
 * Builds one Fastify instance of the gateway: the main listener (query + ingest + health + metrics +
 * OpenAPI) or a receiver listener (ingest API only). Routes are parametric and read the gateway's
 * current state per request, so a reload never re-registers routes.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import swagger from '@fastify/swagger';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from '../../kernel/logger.ts';
import type { Gateway } from '../gateway.ts';
import { installAuth, type ListenerScope } from './auth.ts';
import { installErrorHandling } from './errors.ts';
import { healthRoutes } from './health-routes.ts';
import { ingestRoutes } from './ingest-routes.ts';
import { queryRoutes } from './query-routes.ts';

export type GatewayApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface AppOptions {
  gateway: Gateway;
  log: Logger;
  scope: ListenerScope;
  kind: 'main' | 'receiver';
  bodyLimit: number;
}

export async function createApp(opts: AppOptions): Promise<GatewayApp> {
  const app = Fastify({
    loggerInstance: opts.log as FastifyBaseLogger,
    // One line per request would drown the log (agents heartbeat and push constantly); errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 512 },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  // Response schemas document the API (OpenAPI); serialisation stays JSON.stringify so that engine
  // results are never silently trimmed to the documented fields.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  installErrorHandling(app, opts.log);
  installAuth(app, () => opts.gateway.keys());

  if (opts.kind === 'main') {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: { title: 'Fustor Fusion gateway', version: '1', description: 'Ingest protocol (spec 10) and query API (spec 30) of a Fusion gateway.' },
        components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } } },
        security: [{ apiKey: [] }],
      },
    });
    healthRoutes(app, opts.gateway);
    queryRoutes(app, opts.gateway);
  }
  ingestRoutes(app, opts.gateway, opts.scope);
  await app.ready();
  return app;
}
