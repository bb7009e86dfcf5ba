/**
 * Authentication of every request except the health probes (spec 10, "Authentication"): `X-API-Key` (or
 * `Authorization: Bearer`) resolved to a KeyGrant by an onRequest hook, before any body is read.
 * Route-level checks (`requirePipeKey`, `requireViewKey`, `requireAdminKey`) turn a grant into 403s.
 * Keys are never logged: the logger redacts the headers and no message here contains a key.
 *
 * Managed mode (spec 50): a managed agent presents its credential (an ES256 JWT from the controller)
 * instead of a key, and names its pipe in the `x-fustor-pipe` header. The signature is checked against
 * the controller's keys, then the current manifest decides (revoked? assigned to that pipe?). The
 * request's principal is then `agent:<member id>` rather than the token, so sessions survive the renewal
 * of the credential at half-life.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FustorError, forbidden } from '../../kernel/errors.ts';
import { PIPE_HEADER } from '../../protocol/index.ts';
import type { KeyGrant, KeyIndex } from '../config/key-index.ts';

declare module 'fastify' {
  interface FastifyRequest {
    grant: KeyGrant | null;
    /** Who sent the request: the API key itself, or `agent:<member id>` for an agent credential. */
    principal: string;
  }
}

/** Checks the signature and lifetime of an agent credential; throws a FustorError (401, or 503 when keys are unavailable). */
export interface CredentialVerifier {
  verify(token: string): Promise<{ memberId: string }>;
}

/** What the hook reads per request (swapped whole on reload). */
export interface AuthSource {
  keys(): KeyIndex;
  /** Managed mode only. */
  credentials(): CredentialVerifier | null;
}

/** Three base64url segments: the shape of a JWT (API keys of the standalone config never take the detour). */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Which receivers a listener serves: null = the main listener (every receiver). Mutated on reload. */
export interface ListenerScope { receivers: Set<string> | null }

const PUBLIC_PATHS = new Set(['/healthz', '/readyz']);

export function installAuth(app: FastifyInstance, source: AuthSource): void {
  app.decorateRequest('grant', null);
  app.decorateRequest('principal', '');
  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0];
    if (PUBLIC_PATHS.has(path)) return;
    const key = presentedKey(request);
    if (key === null) throw new FustorError('AUTH_MISSING', 'X-API-Key header is missing');
    const verifier = source.credentials();
    // Managed agents push with a credential (a JWT; issued keys never contain dots): straight to its verifier,
    // whose cache answers repeated batches — not through the key index, which would hash it first to look it up.
    if (verifier === null || !source.keys().managed || !JWT_SHAPE.test(key)) {
      const grant = source.keys().lookup(key);
      if (grant === undefined) throw new FustorError('AUTH_INVALID', 'Invalid or inactive X-API-Key');
      request.grant = grant;
      request.principal = key;
      return;
    }
    const { memberId } = await verifier.verify(key);
    const pipeId = headerValue(request, PIPE_HEADER);
    if (pipeId === undefined) throw forbidden(`an agent credential must name the pipe it pushes for in the ${PIPE_HEADER} header`);
    // Read the index again: a manifest may have been applied while the signature was being checked.
    request.grant = source.keys().agentGrant(memberId, pipeId);
    request.principal = `agent:${memberId}`;
  });
}

function headerValue(request: FastifyRequest, name: string): string | undefined {
  const h = request.headers[name];
  const v = Array.isArray(h) ? h[0] : h;
  return typeof v === 'string' && v.length > 0 ? v : undefined;
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
