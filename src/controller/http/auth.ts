/**
 * Every request is authenticated (Bearer operator token) by an onRequest hook — before any body is read —
 * except routes whose config says `role: 'public'` (`/healthz`). A route declares the least role it needs
 * (`config: {role}`; default viewer): viewer < operator < admin. Tokens never reach a log line (the logger
 * redacts the header) or a message.
 */
import type { FastifyInstance } from 'fastify';
import { FustorError } from '../../kernel/errors.ts';
import type { OperatorRole } from '../../protocol/index.ts';
import { ROLE_RANK, type Actor, type TokenService } from '../service/token-service.ts';

declare module 'fastify' {
  interface FastifyContextConfig { role?: OperatorRole | 'public' }
  interface FastifyRequest { actor: Actor | null }
}

export function installAuth(app: FastifyInstance, tokens: TokenService): void {
  app.decorateRequest('actor', null);
  app.addHook('onRequest', async (request) => {
    const need = request.routeOptions.config?.role ?? 'viewer';
    if (need === 'public') return;
    const actor = await tokens.authenticate(request.headers.authorization);
    if (ROLE_RANK[actor.role] < ROLE_RANK[need]) {
      throw new FustorError('UNAUTHORIZED_ROLE', `this request needs the ${need} role; token '${actor.name}' has the ${actor.role} role`);
    }
    request.actor = actor;
  });
}

/** The authenticated actor of a request that passed the hook. */
export function actorOf(request: { actor: Actor | null }): Actor {
  if (request.actor === null) throw new FustorError('AUTH_MISSING', 'no operator token');
  return request.actor;
}
