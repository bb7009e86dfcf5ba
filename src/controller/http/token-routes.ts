/** Identity: operator tokens (admin), enrollment tokens and query keys (operator). Secrets shown once. */
import { ErrorBody, EnrollmentTokenCreate, EnrollmentTokenCreated, KeyCreate, KeyCreated, OperatorTokenCreate, OperatorTokenCreated } from '../../protocol/index.ts';
import type { ResourceService } from '../service/resource-service.ts';
import type { TokenService } from '../service/token-service.ts';
import { actorOf } from './auth.ts';
import type { ControllerApp } from './app.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 409: ErrorBody, 413: ErrorBody, 422: ErrorBody };

export function tokenRoutes(app: ControllerApp, tokens: TokenService, resources: ResourceService): void {
  app.post('/api/v1/tokens/operator', {
    config: { role: 'admin' },
    schema: { tags: ['identity'], summary: 'Create an operator token (admin only); the token is in this answer only', body: OperatorTokenCreate, response: { 201: OperatorTokenCreated, ...errors } },
  }, async (request, reply) => reply.code(201).send(await tokens.createOperatorToken(request.body, actorOf(request))));

  app.post('/api/v1/tokens/enrollment', {
    config: { role: 'operator' },
    schema: {
      tags: ['identity'],
      summary: 'Create an enrollment token for agents or gateways (N uses, expiring); the token is in this answer only',
      body: EnrollmentTokenCreate, response: { 201: EnrollmentTokenCreated, ...errors },
    },
  }, async (request, reply) => reply.code(201).send(await tokens.createEnrollmentToken(request.body, actorOf(request))));

  app.post('/api/v1/keys', {
    config: { role: 'operator' },
    schema: { tags: ['identity'], summary: 'Create a QueryKey resource (one revision); the key value is in this answer only', body: KeyCreate, response: { 201: KeyCreated, ...errors } },
  }, async (request, reply) => reply.code(201).send(await resources.createKey(request.body.name, request.body.views, actorOf(request).name)));
}
