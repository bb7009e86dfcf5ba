/**
 * Authentication of every request except the health probes (spec 10, "Authentication"): `X-API-Key` (or
 * `Authorization: Bearer`) resolved to a KeyGrant by an onRequest hook, before any body is read.
 * Route-level checks (`requirePipeKey`, `requireViewKey`, `requireAdminKey`) turn a grant into 403s.
 * Keys are never logged: the logger redacts the headers and no message here contains a key.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FustorError, forbidden } from '../../kernel/errors.ts';
import type { KeyGrant, KeyIndex } from '../config/key-index.ts';

declare module 'fastify' {
  interface FastifyRequest {
    grant: KeyGrant | null;
    apiKey: string;
  }
}

/** Which receivers a listener serves: null = the main listener (every receiver). Mutated on reload. */
export interface ListenerScope { receivers: Set<string> | null }

const PUBLIC_PATHS = new Set(['/healthz', '/readyz']);

export function installAuth(app: FastifyInstance, keys: () => KeyIndex): void {
  app.decorateRequest('grant', null);
  app.decorateRequest('apiKey', '');
  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0];
    if (PUBLIC_PATHS.has(path)) return;
    const key = presentedKey(request);
    if (key === null) throw new FustorError('AUTH_MISSING', 'X-API-Key header is missing');
    const grant = keys().lookup(key);
    if (grant === undefined) throw new FustorError('AUTH_INVALID', 'Invalid or inactive X-API-Key');
    request.grant = grant;
    request.apiKey = key;
  });
}

function presentedKey(request: FastifyRequest): string | null {
  const header = request.headers['x-api-key'];
  const key = Array.isArray(header) ? header[0] : header;
  if (typeof key === 'string' && key.length > 0) return key;
  const auth = request.headers.authorization;
  if (typeof auth === 'string' && auth.toLowerCase().startsWith('bearer ')) {
    const token = auth.slice(7).trim();
    if (token.length > 0) return token;
  }
  return null;
}

function grantOf(request: FastifyRequest): KeyGrant {
  if (request.grant === null) throw new FustorError('AUTH_MISSING', 'X-API-Key header is missing');
  return request.grant;
}

/** A receiver key whose receiver this listener serves; returns its pipe. */
export function requirePipeKey(request: FastifyRequest, scope: ListenerScope): { pipeId: string; receiverId: string } {
  const pipe = grantOf(request).pipe;
  if (pipe === null) throw forbidden('this key is a query key; ingest needs a receiver key (receivers.*.api_keys)');
  if (scope.receivers !== null && !scope.receivers.has(pipe.receiverId)) throw forbidden(`this key belongs to receiver '${pipe.receiverId}', which is not served on this port`);
  return pipe;
}

/**
 * The key may query `viewId`. An unknown view is 404 naming the views this key may see (never others);
 * a known view the key is not authorised for is 403.
 */
export function requireViewKey(request: FastifyRequest, viewId: string, exists: (id: string) => boolean): void {
  const grant = grantOf(request);
  if (grant.views.has(viewId) && exists(viewId)) return;
  if (!exists(viewId)) {
    const visible = [...grant.views].filter(exists).sort();
    throw new FustorError('NOT_FOUND', `view '${viewId}' unknown: known views: ${visible.length > 0 ? visible.join(', ') : 'none for this key'}`);
  }
  throw forbidden(`API key not authorized for view '${viewId}'`);
}

export function requireAdminKey(request: FastifyRequest, viewId: string, exists: (id: string) => boolean): void {
  requireViewKey(request, viewId, exists);
  if (!grantOf(request).adminViews.has(viewId)) throw forbidden(`resetting view '${viewId}' needs one of its admin_keys`);
}
