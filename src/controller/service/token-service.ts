/**
 * Operator identity: the first admin token, bearer authentication with roles, operator and enrollment
 * token issuing. Tokens are shown once and stored hashed (crypto/tokens.ts); no message or log line ever
 * contains one.
 */
import { FustorError } from '../../kernel/errors.ts';
import type { EnrollmentTokenCreate, EnrollmentTokenCreated, OperatorRole, OperatorTokenCreate, OperatorTokenCreated } from '../../protocol/index.ts';
import { issueToken, parseToken, tokenMatches } from '../crypto/tokens.ts';
import type { ControllerStore } from '../store/store.ts';

export interface Actor { name: string; role: OperatorRole }

export const ROLE_RANK: Record<OperatorRole, number> = { viewer: 0, operator: 1, admin: 2 };

export const ADMIN_TOKEN_NAME = 'admin';
const MAX_TOKEN_LENGTH = 512;

export class TokenService {
  constructor(private readonly store: ControllerStore, private readonly clock: () => number = Date.now) {}

  /** Creates the `admin` token on first start; returns it then, and null on every later start. */
  async ensureAdminToken(): Promise<string | null> {
    const issued = issueToken('fop');
    const inserted = await this.store.insertOperatorToken({ id: issued.id, name: ADMIN_TOKEN_NAME, role: 'admin', hash: issued.hash, expiresAt: null, revokedAt: null }, 'controller');
    return inserted ? issued.token : null;
  }

  /** The actor of an `Authorization: Bearer <token>` header; 401 when missing or not valid. */
  async authenticate(header: string | undefined): Promise<Actor> {
    if (header === undefined || header.trim() === '') throw new FustorError('AUTH_MISSING', 'no operator token: send Authorization: Bearer <token>');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m === null) throw new FustorError('AUTH_MISSING', 'the Authorization header must be "Bearer <token>"');
    const token = m[1];
    const rejected = () => new FustorError('AUTH_INVALID', 'operator token rejected (unknown, expired or revoked)');
    if (token.length > MAX_TOKEN_LENGTH) throw rejected();
    const parsed = parseToken(token);
    if (parsed === undefined || parsed.prefix !== 'fop') throw rejected();
    const rec = await this.store.findOperatorToken(parsed.id);
    if (rec === undefined || !tokenMatches(token, rec.hash)) throw rejected();
    if (rec.revokedAt !== null) throw rejected();
    if (rec.expiresAt !== null && Date.parse(rec.expiresAt) <= this.clock()) throw rejected();
    return { name: rec.name, role: rec.role };
  }

  async createOperatorToken(req: OperatorTokenCreate, actor: Actor): Promise<OperatorTokenCreated> {
    const issued = issueToken('fop');
    const expiresAt = req.ttl_seconds === undefined ? null : new Date(this.clock() + req.ttl_seconds * 1000).toISOString();
    const ok = await this.store.insertOperatorToken({ id: issued.id, name: req.name, role: req.role, hash: issued.hash, expiresAt, revokedAt: null }, actor.name);
    if (!ok) throw new FustorError('CONFLICT', `an operator token named '${req.name}' already exists: pick another name`);
    return { name: req.name, role: req.role, expires_at: expiresAt, token: issued.token };
  }

  async createEnrollmentToken(req: EnrollmentTokenCreate, actor: Actor): Promise<EnrollmentTokenCreated> {
    const issued = issueToken('fen');
    const uses = req.uses ?? 1;
    const expiresAt = new Date(this.clock() + (req.ttl_seconds ?? 3600) * 1000).toISOString();
    const labels = req.labels ?? {};
    await this.store.insertEnrollmentToken({ id: issued.id, kind: req.kind, labels, usesLeft: uses, hash: issued.hash, expiresAt }, actor.name);
    return { id: issued.id, kind: req.kind, labels, uses, expires_at: expiresAt, token: issued.token };
  }
}
