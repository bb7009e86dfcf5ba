/** Desired state: apply, diff, list, get, delete (`/api/v1/…`). */
import { ApplyBody, ApplyQuery, ApplyResult, DeleteResult, DiffResult, ErrorBody, KindNameParams, KindParams, ResourceList, StoredResourceView } from '../../protocol/index.ts';
import { parseKind, type ResourceService } from '../service/resource-service.ts';
import { actorOf } from './auth.ts';
import type { ControllerApp } from './app.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 422: ErrorBody };

export function resourceRoutes(app: ControllerApp, resources: ResourceService): void {
  app.post('/api/v1/apply', {
    config: { role: 'operator' },
    schema: {
      tags: ['resources'],
      summary: 'Apply resource documents as ONE revision (all or nothing); unchanged documents make no revision',
      body: ApplyBody, querystring: ApplyQuery, response: { 200: ApplyResult, ...errors },
    },
  }, async (request) => resources.apply(request.body, actorOf(request).name, { prune: request.query.prune }));

  app.post('/api/v1/diff', {
    config: { role: 'viewer' },
    schema: {
      tags: ['resources'],
      summary: 'What an apply of these documents would change, and which agents and gateways it touches',
      body: ApplyBody, querystring: ApplyQuery, response: { 200: DiffResult, ...errors },
    },
  }, async (request) => resources.diff(request.body, { prune: request.query.prune }));

  app.get('/api/v1/resources/:kind', {
    schema: {
      tags: ['resources'],
      summary: 'List the resources of a kind (singular or plural, any case); Secret values are redacted',
      params: KindParams, response: { 200: ResourceList, ...errors },
    },
  }, async (request) => ({ items: await resources.list(parseKind(request.params.kind)) }));

  app.get('/api/v1/resources/:kind/:name', {
    schema: { tags: ['resources'], summary: 'One resource; Secret values are redacted', params: KindNameParams, response: { 200: StoredResourceView, ...errors } },
  }, async (request) => resources.get(parseKind(request.params.kind), request.params.name));

  app.delete('/api/v1/resources/:kind/:name', {
    config: { role: 'operator' },
    schema: {
      tags: ['resources'],
      summary: 'Delete a resource as one revision; 409 naming the referrers while other resources reference it',
      params: KindNameParams, response: { 200: DeleteResult, ...errors },
    },
  }, async (request) => resources.delete(parseKind(request.params.kind), request.params.name, actorOf(request).name));
}

