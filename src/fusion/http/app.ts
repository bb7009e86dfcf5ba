/**
 * Builds one Fastify instance of the gateway: the main listener (query + ingest + health + metrics +
 * OpenAPI) or a receiver listener (ingest API only). Routes are parametric and read the gateway's
 * current state per request, so a reload never re-registers routes.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifySchemaCompiler, type RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import swagger from '@fastify/swagger';
import { TypeBoxValidatorCompiler, type TSchema, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { FustorError } from '../../kernel/errors.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { TlsMaterial } from '../../kernel/tls-files.ts';
import type { Gateway } from '../gateway.ts';
import { installAuth, type ListenerScope } from './auth.ts';
import { installErrorHandling, sendError } from './errors.ts';
import { healthRoutes } from './health-routes.ts';
import { ingestRoutes } from './ingest-routes.ts';
import { queryRoutes } from './query-routes.ts';
import { parseQueryString } from './query-string.ts';

export type GatewayApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface AppOptions {
  gateway: Gateway;
  log: Logger;
  scope: ListenerScope;
  kind: 'main' | 'receiver';
  bodyLimit: number;
  /** Serve HTTPS with this certificate and key; plain HTTP without. */
  tls?: TlsMaterial;
}

export async function createApp(opts: AppOptions): Promise<GatewayApp> {
  // `https: null` is Fastify's plain HTTP server. Typed as the HTTP instance either way: routes and hooks
  // see the same IncomingMessage/ServerResponse, and `server` is only used for address().
  const app = (Fastify({
    https: opts.tls ?? null,
    loggerInstance: opts.log as FastifyBaseLogger,
    // One line per request would drown the log (agents heartbeat and push constantly); errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH, querystringParser: parseQueryString },
    // URLs the router rejects before any route runs: answered in our error shape, not Fastify's.
    frameworkErrors: (error, _request, reply) => {
      if (error.code === 'FST_ERR_BAD_URL') return sendError(reply, new FustorError('BAD_REQUEST', 'the URL path is not valid percent-encoding'));
      if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') return sendError(reply, new FustorError('BAD_REQUEST', `a URL path segment is longer than ${MAX_PARAM_LENGTH} characters: no view, pipe, session or job id is that long`));
      return sendError(reply, new FustorError('INTERNAL', 'internal error; the gateway logged it and keeps running'));
    },
  }) as unknown as FastifyInstance).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(strictNumbers);
  // Response schemas document the API (OpenAPI); serialisation stays JSON.stringify so that engine
  // results are never silently trimmed to the documented fields.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  installErrorHandling(app, opts.log);
  installAuth(app, opts.gateway);

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

const MAX_PARAM_LENGTH = 512;
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * TypeBox validation, with strict numbers in query strings and URL params: TypeBox's conversion turns
 * `limit=1.5` into 1, `max_depth=` into 0 and `limit=0x10` into 16. Here a value for an integer or
 * number field must be a decimal number (an integral one for integers), else it is refused as
 * "must be integer" / "must be number" (400 naming the parameter).
 */
const strictNumbers: FastifySchemaCompiler<TSchema> = (route) => {
  const validate = TypeBoxValidatorCompiler(route);
  const props = (route.schema as { properties?: Record<string, { type?: unknown }> }).properties;
  if (route.httpPart === 'body' || props === undefined) return validate;
  const numeric = Object.entries(props).filter(([, p]) => p.type === 'integer' || p.type === 'number').map(([k, p]) => [k, p.type as string] as const);
  if (numeric.length === 0) return validate;
  return (value) => {
    if (typeof value === 'object' && value !== null) {
      for (const [key, type] of numeric) {
        const v = (value as Record<string, unknown>)[key];
        if (typeof v !== 'string') continue;
        if (DECIMAL.test(v) && (type === 'number' || Number.isInteger(Number(v)))) continue;
        return { error: [{ keyword: 'type', instancePath: `/${key}`, schemaPath: `#/properties/${key}/type`, params: { type }, message: `must be ${type}` }] };
      }
    }
    return validate(value);
  };
};
