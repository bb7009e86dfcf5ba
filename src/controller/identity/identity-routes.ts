/** Identity endpoints: enroll (enrollment token), renew (proof of possession), revoke (operator), JWKS, signing-key rotation (admin). */
import { Type } from 'typebox';
import { EnrollRequest, EnrollResponse, ErrorBody, Jwks, MemberKind, RenewRequest, RenewResponse, RevokeResponse, SigningKeyList, SigningKeyRotation } from '../../protocol/index.ts';
import { actorOf } from '../http/auth.ts';
import { memberAuditKind } from '../store/rows.ts';
import type { ControllerApp } from '../http/app.ts';
import type { IdentityService } from './identity-service.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 422: ErrorBody };

/** Records a security action in the audit log (who revoked whom, who rotated the key). */
export type AuditAction = (actor: string, action: string, kind: string, name: string) => Promise<void>;

export function identityRoutes(app: ControllerApp, identity: IdentityService, audit: AuditAction): void {
  app.post('/api/v1/enroll', {
    config: { role: 'public' },
    schema: { tags: ['identity'], summary: 'Enroll an agent or gateway with an enrollment token and its public key; answers a short-lived credential', security: [], body: EnrollRequest, response: { 201: EnrollResponse, ...errors } },
  }, async (request, reply) => reply.code(201).send(await identity.enroll(request.body)));

  app.post('/api/v1/credentials/renew', {
    config: { role: 'public' },
    schema: { tags: ['identity'], summary: 'Renew a member credential with a proof of possession of the member key', security: [], body: RenewRequest, response: { 200: RenewResponse, ...errors } },
  }, async (request) => identity.renew(request.body));

  app.post('/api/v1/members/:kind/:name/revoke', {
    config: { role: 'operator' },
    schema: { tags: ['identity'], summary: 'Revoke an enrolled agent or gateway: no renewal, channel closed, pushed to gateways', params: Type.Object({ kind: MemberKind, name: Type.String({ maxLength: 64 }) }), response: { 200: RevokeResponse, ...errors } },
  }, async (request) => {
    const m = await identity.revoke(request.params.kind, request.params.name);
    await audit(actorOf(request).name, 'member.revoked', memberAuditKind(m.kind), m.name);
    return { member_id: m.id, name: m.name, kind: m.kind, state: 'revoked' as const, revoked_at: m.revokedAt ?? '' };
  });

  app.get('/api/v1/signing-keys', {
    schema: { tags: ['identity'], summary: 'The credential-signing keys: which one signs, which are published and until when (no private parts)', response: { 200: SigningKeyList, 401: ErrorBody, 403: ErrorBody } },
  }, async () => ({ items: identity.signingKeys() }));

  app.post('/api/v1/signing-keys/rotate', {
    config: { role: 'admin' },
    schema: { tags: ['identity'], summary: 'Rotate the credential-signing key: the new key is published at once and signs after the activation delay; the old one stays published while its credentials can be presented', response: { 200: SigningKeyRotation, ...errors } },
  }, async (request) => {
    const r = await identity.rotateSigningKey();
    await audit(actorOf(request).name, 'signing-key.rotated', 'SigningKey', r.kid);
    return r;
  });

  app.get('/api/v1/jwks', {
    config: { role: 'public' },
    schema: { tags: ['identity'], summary: 'Public keys that sign member credentials (for gateways)', security: [], response: { 200: Jwks } },
  }, async () => identity.jwks());
}
