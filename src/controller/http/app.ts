/**
 * The management API (spec 50): one Fastify instance, schema-first routes under `/api/v1`, the OpenAPI
 * document generated from them, bearer auth with roles, the gateway's error conventions.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import swagger from '@fastify/swagger';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { FustorError } from '../../kernel/errors.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { TlsMaterial } from '../../kernel/tls-files.ts';
import type { ResourceService } from '../service/resource-service.ts';
import type { TokenService } from '../service/token-service.ts';
import type { ControllerStore } from '../store/store.ts';
import { installAuth } from './auth.ts';
import { installErrorHandling, sendError } from './errors.ts';
import { resourceRoutes } from './resource-routes.ts';
import { statusRoutes, type ReplicaHealth } from './status-routes.ts';
import { tokenRoutes } from './token-routes.ts';

export type ControllerApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface ControllerAppOptions {
  store: ControllerStore;
  resources: ResourceService;
  tokens: TokenService;
  log: Logger;
  /** Largest accepted request body (bytes). */
  bodyLimit: number;
  /** Optional features (GitOps) adding routes and hooks; installed before the core routes. */
  extensions?: ReadonlyArray<(app: ControllerApp) => void>;
  /** Which replica answers and whether it leads (added to `GET /healthz`). */
  health?: () => ReplicaHealth;
  /** Serve HTTPS with this certificate and key (`--tls-cert`/`--tls-key`); plain HTTP without. */
  tls?: TlsMaterial;
}

const MAX_PARAM_LENGTH = 256;

export async function createControllerApp(opts: ControllerAppOptions): Promise<ControllerApp> {
  // `https: null` is Fastify's plain HTTP server. Typed as the HTTP instance either way: routes and hooks
  // see the same IncomingMessage/ServerResponse, and `server` is only used for address() and upgrades.
  const app = (Fastify({
    https: opts.tls ?? null,
    loggerInstance: opts.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: (error, _request, reply) => {
      if (error.code === 'FST_ERR_BAD_URL') return sendError(reply, new FustorError('BAD_REQUEST', 'the URL path is not valid percent-encoding'));
      if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') return sendError(reply, new FustorError('BAD_REQUEST', `a URL path segment is longer than ${MAX_PARAM_LENGTH} characters: no kind or name is that long`));
      return sendError(reply, new FustorError('INTERNAL', 'internal error; the controller logged it and keeps running'));
    },
  }) as unknown as FastifyInstance).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  // Response schemas document the API; serialisation stays JSON.stringify (never trims fields silently).
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  installErrorHandling(app, opts.log);
  installAuth(app, opts.tokens);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Fustor controller', version: '1', description: 'Management API of the Fustor control plane (spec 50): desired-state resources, revisions, audit log, tokens, fleet.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  for (const extend of opts.extensions ?? []) extend(app);
  statusRoutes(app, opts.store, opts.health);
  resourceRoutes(app, opts.resources);
  tokenRoutes(app, opts.tokens, opts.resources);
  await app.ready();
  return app;
}
