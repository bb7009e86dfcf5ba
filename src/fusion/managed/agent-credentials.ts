/**
 * Verification of the credentials managed agents push with (spec 50, "Identity"): ES256 JWTs issued by
 * the controller, checked against the controller's published public keys (its JWKS, `trust.jwks_url` of
 * the manifest) — no shared API key sits on agent hosts. Only signature and lifetime are checked here;
 * what the agent may do (revoked? assigned to the pipe?) is decided per request by the current manifest
 * (KeyIndex.agentGrant), so a newer manifest takes effect at once even for cached verifications.
 *
 * Invariants:
 * - The key set is kept in STATE_DIR/jwks.json (0600) after every successful fetch, and loaded from there
 *   at start, so a restart while the controller is down still verifies (spec: an outage shorter than the
 *   credential lifetime does not affect the data plane).
 * - A token signed with a key id we do not know triggers one refetch (the controller may have rotated its
 *   key), at most once per `refetchIntervalMs`, with concurrent requests sharing the fetch: forged tokens
 *   cannot make the gateway hammer the controller.
 * - Verified tokens are cached (bounded, least recently used out) until their `exp`, so ingest does not
 *   pay a signature check per batch. Tokens are never logged.
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { Compile } from 'typebox/compile';
import { FustorError } from '../../kernel/errors.ts';
import type { Logger } from '../../kernel/logger.ts';
import { writePrivateFile } from '../../kernel/member/identity-files.ts';
import { CREDENTIAL_AUDIENCE, Jwks } from '../../protocol/index.ts';
import type { CredentialVerifier } from '../http/auth.ts';

export interface Trust { issuer: string; jwksUrl: string }

export interface AgentCredentialsOptions {
  /** Where the last fetched key set is kept (0600). */
  cacheFile: string;
  log: Logger;
  /** Least time between two fetches caused by unknown key ids (ms). */
  refetchIntervalMs?: number;
  /** Refresh the key set this often while trusted (ms), so a key the controller withdrew stops verifying. */
  refreshIntervalMs?: number;
  /** Verified tokens remembered. */
  cacheSize?: number;
}

interface Verified { memberId: string; expMs: number }

const FETCH_TIMEOUT_MS = 10_000;
/** Clocks of the controller and this host may differ a little. */
const CLOCK_TOLERANCE_SEC = 30;
const jwksChecker = Compile(Jwks);

const invalid = (why: string) => new FustorError('AUTH_INVALID', `agent credential rejected: ${why}`);

export class AgentCredentials implements CredentialVerifier {
  private trust: Trust | null = null;
  private keys: JSONWebKeySet | null = null;
  private keysUrl: string | null = null;
  private keySet: ReturnType<typeof createLocalJWKSet> | null = null;
  /** False while the keys are only those of the cache file: the controller is asked once it is trusted. */
  private fresh = false;
  private fetching: Promise<void> | null = null;
  /** When an unknown key id last caused a fetch (the rate-limited kind). */
  private lastUnforcedMs = Number.NEGATIVE_INFINITY;
  private readonly verified = new Map<string, Verified>();
  private readonly refetchMs: number;
  private readonly refreshMs: number;
  private readonly cacheSize: number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly opts: AgentCredentialsOptions) {
    this.refetchMs = opts.refetchIntervalMs ?? 30_000;
    this.refreshMs = opts.refreshIntervalMs ?? 15 * 60_000;
    this.cacheSize = opts.cacheSize ?? 4096;
    this.loadCache();
    this.timer = setInterval(() => { void this.refresh(true); }, this.refreshMs);
    this.timer.unref();
  }

  /** The issuer and key URL of the applied manifest. A new URL (or no keys yet) fetches at once, without waiting. */
  setTrust(trust: Trust): void {
    const prev = this.trust;
    this.trust = trust;
    if (prev !== null && prev.issuer !== trust.issuer) this.verified.clear();
    if (!this.fresh || this.keysUrl !== trust.jwksUrl) void this.refresh(true);
  }

  async verify(token: string): Promise<{ memberId: string }> {
    const hit = this.verified.get(token);
    if (hit !== undefined) {
      this.verified.delete(token);
      if (hit.expMs + CLOCK_TOLERANCE_SEC * 1000 <= Date.now()) throw invalid('it has expired; the agent renews it with the controller');
      this.verified.set(token, hit); // most recently used last
      return { memberId: hit.memberId };
    }
    const trust = this.trust;
    if (trust === null || trust.jwksUrl === '') throw invalid('this gateway has no manifest from its controller yet, so it trusts no issuer');
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg !== 'ES256') throw invalid(`it must be signed with ES256, not ${String(header.alg)}`);
      kid = header.kid;
    } catch (e) {
      if (e instanceof FustorError) throw e;
      throw invalid('it is not a JWT');
    }
    if (this.keySet === null || (kid !== undefined && !this.knows(kid))) await this.refresh(false);
    const keySet = this.keySet;
    if (keySet === null) {
      throw new FustorError('NOT_READY', "agent credentials cannot be verified yet: the controller's public keys are neither cached nor reachable", { retryAfter: 10 });
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keySet, { issuer: trust.issuer, audience: CREDENTIAL_AUDIENCE, algorithms: ['ES256'], clockTolerance: CLOCK_TOLERANCE_SEC, requiredClaims: ['sub', 'exp'] }));
    } catch (e) {
      throw invalid(reasonOf(e));
    }
    if (payload.kind !== 'agent') throw invalid(`it identifies a ${String(payload.kind)}, not an agent`);
    const v: Verified = { memberId: payload.sub!, expMs: payload.exp! * 1000 };
    this.verified.set(token, v);
    if (this.verified.size > this.cacheSize) this.verified.delete(this.verified.keys().next().value!);
    return { memberId: v.memberId };
  }

  dispose(): void {
    clearInterval(this.timer);
  }

  private knows(kid: string): boolean {
    return this.keys?.keys.some((k) => k.kid === kid) ?? false;
  }

  /** Fetch the key set (shared by concurrent callers); unforced fetches are rate-limited. Never throws. */
  private refresh(force: boolean): Promise<void> {
    if (this.fetching !== null) return this.fetching;
    const trust = this.trust;
    if (trust === null || trust.jwksUrl === '') return Promise.resolve();
    if (!force) {
      const now = performance.now();
      if (now - this.lastUnforcedMs < this.refetchMs) return Promise.resolve();
      this.lastUnforcedMs = now;
    }
    this.fetching = this.fetchKeys(trust.jwksUrl).finally(() => { this.fetching = null; });
    return this.fetching;
  }

  private async fetchKeys(url: string): Promise<void> {
    try {
      const res = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body: unknown = await res.json();
      this.install(body, url);
      this.fresh = true;
      writePrivateFile(this.opts.cacheFile, `${JSON.stringify({ jwks_url: url, fetched_at: new Date().toISOString(), keys: (body as JSONWebKeySet).keys })}\n`);
    } catch (e) {
      this.opts.log.warn({ url, err: (e as Error).message, cached: this.keySet !== null }, "cannot fetch the controller's public keys; agent credentials are verified with the keys already known");
    }
  }

  /** Validate and adopt a key set; throws when it is not one. */
  private install(body: unknown, url: string): void {
    if (!jwksChecker.Check(body)) throw new Error('the answer is not a JSON Web Key Set');
    const keys = { keys: (body as JSONWebKeySet).keys };
    const set = createLocalJWKSet(keys);
    this.keys = keys;
    this.keysUrl = url;
    this.keySet = set;
  }

  private loadCache(): void {
    let text: string;
    try {
      text = readFileSync(this.opts.cacheFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.opts.log.warn({ file: this.opts.cacheFile, err: (e as Error).message }, 'cannot read the cached key set');
      return;
    }
    try {
      const doc = JSON.parse(text) as { jwks_url?: unknown; keys?: unknown };
      this.install({ keys: doc.keys }, typeof doc.jwks_url === 'string' ? doc.jwks_url : '');
    } catch (e) {
      this.opts.log.warn({ file: this.opts.cacheFile, err: (e as Error).message }, 'the cached key set is damaged; it is fetched again from the controller');
    }
  }
}

function reasonOf(e: unknown): string {
  if (e instanceof joseErrors.JWTExpired) return 'it has expired; the agent renews it with the controller';
  if (e instanceof joseErrors.JWTClaimValidationFailed) return `claim '${e.claim}' is not valid (${e.reason})`;
  if (e instanceof joseErrors.JWKSNoMatchingKey) return 'it is signed by a key the controller did not publish';
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return "its signature does not verify against the controller's keys";
  if (e instanceof joseErrors.JOSEError) return 'it is malformed';
  return 'it could not be verified';
}
