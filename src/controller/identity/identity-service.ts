/**
 * Member identity (spec 50 "Identity"): enrollment with a one-time / N-use enrollment token, short-lived
 * credentials (ES256 JWT bound to the member key by `cnf.jkt`), renewal by proof of possession, revocation.
 *
 * Credential claims: iss = CREDENTIAL_ISSUER, aud = CREDENTIAL_AUDIENCE, sub = member id, kind, name, cnf.jkt,
 * iat, exp (≤ 24 h), jti. A proof of possession is a JWT signed by the member's private key with
 * sub = member id, aud = 'fustor-renew', iat, exp (≤ 5 min after iat), unique jti (replays are refused).
 */
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, createLocalJWKSet, decodeJwt, importJWK, jwtVerify, SignJWT, errors as joseErrors, type JWTPayload } from 'jose';
import { FustorError } from '../../kernel/errors.ts';
import type { EnrollRequest, EnrollResponse, Jwks, MemberKind, RenewRequest, RenewResponse, SigningKeyInfo } from '../../protocol/index.ts';
import { parseToken, tokenMatches } from '../crypto/tokens.ts';
import type { MemberRecord, MemberStore } from './member-store.ts';
import type { KeyringStorage } from './signing-key.ts';
import { fromStored, newEntry, SigningKeyring } from './signing-keyring.ts';

export { CREDENTIAL_ISSUER, CREDENTIAL_AUDIENCE, PROOF_AUDIENCE } from '../../protocol/index.ts';
import { CREDENTIAL_ISSUER, CREDENTIAL_AUDIENCE, PROOF_AUDIENCE } from '../../protocol/index.ts';
export const MAX_CREDENTIAL_TTL_SEC = 24 * 3600;
const MAX_PROOF_LIFETIME_SEC = 300;

export interface IdentityOptions {
  /** Credential lifetime (default 1 h; at most 24 h). */
  credentialTtlSec: number;
  /** How long after expiry a credential may still be renewed (with a valid proof). Default 1 h. */
  renewGraceSec: number;
  /** How long a rotated-in signing key is published before it signs (default 60 s; see signing-keyring.ts). */
  keyActivationSec: number;
}

export const DEFAULT_IDENTITY_OPTIONS: IdentityOptions = { credentialTtlSec: 3600, renewGraceSec: 3600, keyActivationSec: 60 };

export interface RotationResult { kid: string; active_from: string; keys: SigningKeyInfo[] }

export interface CredentialClaims { memberId: string; kind: MemberKind; name: string; jkt: string; exp: number }

/** Listeners told when a member is revoked (the channel closes its sessions; gateway manifests change). */
export type RevocationListener = (member: MemberRecord) => void;

export class IdentityService {
  private readonly listeners = new Set<RevocationListener>();
  private verifier: { version: number; kids: string; keys: ReturnType<typeof createLocalJWKSet> } | null = null;
  private reloading: Promise<void> | null = null;

  private constructor(
    private readonly members: MemberStore,
    private readonly ring: SigningKeyring,
    private readonly storage: KeyringStorage,
    readonly opts: IdentityOptions,
    private readonly clock: () => number,
  ) {}

  /** Loads the signing keys from `storage` (creating the first one there when it holds none). */
  static async open(members: MemberStore, storage: KeyringStorage, opts: Partial<IdentityOptions> = {}, clock: () => number = Date.now): Promise<IdentityService> {
    const o = { ...DEFAULT_IDENTITY_OPTIONS, ...opts };
    if (!(o.credentialTtlSec > 0 && o.credentialTtlSec <= MAX_CREDENTIAL_TTL_SEC)) throw new Error(`credential lifetime must be 1 s to ${MAX_CREDENTIAL_TTL_SEC} s`);
    const entries = await Promise.all((await storage.load()).map((e) => fromStored(e, 'the stored signing key is not an EC P-256 private key: restore it from a backup')));
    return new IdentityService(members, new SigningKeyring(entries, (o.credentialTtlSec + o.renewGraceSec) * 1000), storage, o, clock);
  }

  onRevoked(l: RevocationListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  jwks(): Jwks {
    return { keys: this.ring.published(this.clock()).map((e) => ({ ...e.key.publicJwk })) };
  }

  signingKeys(): SigningKeyInfo[] {
    return this.ring.info(this.clock());
  }

  /**
   * A new signing key, published now and signing after `keyActivationSec`; the current one retires then and
   * stays published while credentials it signed can be presented. Reads the stored ring first, so a rotation
   * made on another replica is not undone.
   */
  async rotateSigningKey(): Promise<RotationResult> {
    await this.reloadKeys();
    const now = this.clock();
    const next = await newEntry(now, now + this.opts.keyActivationSec * 1000);
    this.ring.rotate(next, now);
    await this.storage.save(this.ring.stored());
    return { kid: next.key.kid, active_from: new Date(next.activeFrom).toISOString(), keys: this.ring.info(now) };
  }

  /** Picks up a ring changed by another replica (PostgreSQL): called periodically; one reload at a time. */
  reloadKeys(): Promise<void> {
    this.reloading ??= (async () => {
      const stored = await this.storage.load();
      if (this.ring.sameAs(stored)) return;
      this.ring.replace(await Promise.all(stored.map((e) => fromStored(e, 'the stored signing key is not an EC P-256 private key: restore it from a backup'))));
    })().finally(() => { this.reloading = null; });
    return this.reloading;
  }

  /** The local key set to verify credentials with, rebuilt when the published keys change. */
  private verifyKeys(): ReturnType<typeof createLocalJWKSet> {
    const jwks = this.jwks();
    const kids = jwks.keys.map((k) => k.kid).join(',');
    if (this.verifier === null || this.verifier.version !== this.ring.version || this.verifier.kids !== kids) {
      this.verifier = { version: this.ring.version, kids, keys: createLocalJWKSet(jwks) };
    }
    return this.verifier.keys;
  }

  async enroll(req: EnrollRequest): Promise<EnrollResponse> {
    const refused = (why: string) => new FustorError('AUTH_INVALID', `enrollment token refused: ${why}`);
    if (req.token.length > 512) throw refused('unknown token');
    const parsed = parseToken(req.token);
    if (parsed === undefined || parsed.prefix !== 'fen') throw refused('not an enrollment token (they start with fen_)');
    const tok = await this.members.findEnrollmentToken(parsed.id);
    if (tok === undefined || !tokenMatches(req.token, tok.hash)) throw refused('unknown token');
    if (tok.revokedAt !== null) throw refused('the token was revoked');
    if (Date.parse(tok.expiresAt) <= this.clock()) throw refused(`the token expired at ${tok.expiresAt}; ask an operator for a new one`);
    if (tok.usesLeft <= 0) throw refused('the token has no uses left (already used); ask an operator for a new one');
    if (tok.kind !== req.kind) throw new FustorError('FORBIDDEN', `enrollment token refused: it enrolls ${tok.kind}s, not ${req.kind}s`);
    let jkt: string;
    try {
      await importJWK({ kty: 'EC', crv: 'P-256', x: req.public_key.x, y: req.public_key.y }, 'ES256');
      jkt = await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: req.public_key.x, y: req.public_key.y });
    } catch {
      throw new FustorError('VALIDATION', 'body.public_key: not a valid EC P-256 public key');
    }
    const publicJwk = { kty: 'EC' as const, crv: 'P-256' as const, x: req.public_key.x, y: req.public_key.y };
    const out = await this.members.enroll(tok.id, { kind: req.kind, name: req.name, publicJwk, jkt }, this.clock());
    if (!out.ok) {
      if (out.reason === 'name_taken') throw new FustorError('CONFLICT', `a${req.kind === 'agent' ? 'n agent' : ' gateway'} named '${req.name ?? ''}' is already enrolled: pick another name (the token was not used)`);
      if (out.reason === 'expired') throw refused('the token expired; ask an operator for a new one');
      throw refused('the token has no uses left (already used); ask an operator for a new one');
    }
    const { credential, expiresAt } = await this.issue(out.member);
    return { member_id: out.member.id, name: out.member.name, kind: out.member.kind, labels: out.member.labels, credential, expires_at: expiresAt };
  }

  async renew(req: RenewRequest): Promise<RenewResponse> {
    const refused = (why: string) => new FustorError('AUTH_INVALID', `renewal refused: ${why}`);
    let claims: CredentialClaims;
    try {
      claims = await this.verifyJwt(req.credential, this.opts.renewGraceSec);
    } catch (e) {
      throw refused(`the credential is not valid (${describe(e)})`);
    }
    const member = await this.members.getMember(claims.memberId);
    if (member === undefined) throw refused('unknown member');
    if (member.revokedAt !== null) throw new FustorError('FORBIDDEN', `renewal refused: member '${member.name}' was revoked at ${member.revokedAt}`);
    let proof: JWTPayload;
    try {
      const key = await importJWK({ ...member.publicJwk }, 'ES256');
      ({ payload: proof } = await jwtVerify(req.proof, key, { algorithms: ['ES256'], audience: PROOF_AUDIENCE, subject: member.id, requiredClaims: ['iat', 'exp', 'jti'], currentDate: new Date(this.clock()), clockTolerance: 30 }));
    } catch (e) {
      throw refused(`the proof of possession does not verify with the member's enrolled key (${describe(e)})`);
    }
    const iat = proof.iat as number;
    const exp = proof.exp as number;
    if (exp - iat > MAX_PROOF_LIFETIME_SEC) throw refused(`the proof lives longer than ${MAX_PROOF_LIFETIME_SEC} s (exp - iat)`);
    if (typeof proof.jti !== 'string' || proof.jti.length > 128) throw refused('the proof needs a jti of at most 128 characters');
    if (!(await this.members.useProof(`${member.id}:${proof.jti}`, member.id, exp + 60, Math.floor(this.clock() / 1000)))) throw refused('this proof was already used (replay)');
    const { credential, expiresAt } = await this.issue(member);
    return { credential, expires_at: expiresAt };
  }

  async revoke(kind: MemberKind, name: string): Promise<MemberRecord> {
    const m = await this.members.findMember(kind, name);
    if (m === undefined) throw new FustorError('NOT_FOUND', `no ${kind} named '${name}' is enrolled`);
    const r = await this.members.revoke(m.id, this.clock());
    if (r === undefined) throw new FustorError('NOT_FOUND', `no ${kind} named '${name}' is enrolled`);
    for (const l of this.listeners) l(r);
    return r;
  }

  /** The member behind a `Bearer <credential>` header: valid signature, not expired, not revoked. */
  async authenticate(header: string | undefined): Promise<{ claims: CredentialClaims; member: MemberRecord }> {
    if (header === undefined || header.trim() === '') throw new FustorError('AUTH_MISSING', 'no member credential: send Authorization: Bearer <credential>');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m === null || m[1].length > 8192) throw new FustorError('AUTH_MISSING', 'the Authorization header must be "Bearer <credential>"');
    let claims: CredentialClaims;
    try {
      claims = await this.verifyJwt(m[1], 0);
    } catch (e) {
      throw new FustorError('AUTH_INVALID', `member credential rejected (${describe(e)}); renew it or enroll again`);
    }
    const member = await this.members.getMember(claims.memberId);
    if (member === undefined) throw new FustorError('AUTH_INVALID', 'member credential rejected (unknown member)');
    if (member.revokedAt !== null) throw new FustorError('FORBIDDEN', `member '${member.name}' was revoked at ${member.revokedAt}`);
    return { claims, member };
  }

  private async verifyJwt(token: string, toleranceSec: number): Promise<CredentialClaims> {
    const { payload } = await jwtVerify(token, this.verifyKeys(), {
      algorithms: ['ES256'], issuer: CREDENTIAL_ISSUER, audience: CREDENTIAL_AUDIENCE, currentDate: new Date(this.clock()), clockTolerance: toleranceSec, requiredClaims: ['sub', 'exp', 'cnf'],
    });
    const cnf = payload.cnf as { jkt?: unknown } | undefined;
    if (typeof payload.sub !== 'string' || (payload.kind !== 'agent' && payload.kind !== 'gateway') || typeof cnf?.jkt !== 'string' || typeof payload.name !== 'string') {
      throw new Error('claims sub, kind, name, cnf.jkt are required');
    }
    return { memberId: payload.sub, kind: payload.kind, name: payload.name, jkt: cnf.jkt, exp: payload.exp as number };
  }

  private async issue(member: MemberRecord): Promise<{ credential: string; expiresAt: string }> {
    const now = Math.floor(this.clock() / 1000);
    const exp = now + this.opts.credentialTtlSec;
    const key = this.ring.signer(this.clock());
    const credential = await new SignJWT({ kind: member.kind, name: member.name, cnf: { jkt: member.jkt } })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
      .setIssuer(CREDENTIAL_ISSUER).setAudience(CREDENTIAL_AUDIENCE).setSubject(member.id)
      .setIssuedAt(now).setExpirationTime(exp).setJti(randomUUID())
      .sign(key.privateKey);
    return { credential, expiresAt: new Date(exp * 1000).toISOString() };
  }
}

function describe(e: unknown): string {
  if (e instanceof joseErrors.JWTExpired) return 'expired';
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad signature';
  if (e instanceof joseErrors.JWTClaimValidationFailed) return `claim ${e.claim} ${e.reason}`;
  if (e instanceof joseErrors.JOSEError) return e.code;
  return (e as Error).message.slice(0, 200);
}

/** Claims of a credential without verifying it (diagnostics only). */
export const peekCredential = (token: string): JWTPayload => decodeJwt(token);
