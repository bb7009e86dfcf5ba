/**
 * A managed member (agent or gateway) of a controller (spec 50): enrolls on first start with an enrollment
 * token and a key pair generated here, keeps its identity in the state dir, renews its short-lived
 * credential at half-life by proof of possession, holds the control channel, applies the manifests it
 * receives (through the caller's `apply`), caches the last good one and starts from that cache when the
 * controller is down. The caller (agent shell or gateway) decides what a manifest means.
 *
 * Invariants:
 * - The private key never leaves the host; only the credential is ever sent (to the controller and, by
 *   agents, to gateways).
 * - The manifest cache holds only a manifest that was APPLIED; a FAILED one is never cached, so a restart
 *   runs the last good manifest.
 * - Manifests are applied one at a time, in arrival order.
 */
import { randomUUID } from 'node:crypto';
import { Compile } from 'typebox/compile';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import { ControlChannelClient, type ChannelTransport, type MemberReport } from '../control-channel-client.ts';
import type { Logger } from '../logger.ts';
import { MEMBER_COMMANDS, ManifestFrame, PROOF_AUDIENCE, type ApplyStatus, type CommandFrame, type EnrollResponse, type MemberKind, type RenewResponse } from '../../protocol/index.ts';
import { identityPaths, loadCachedManifest, loadIdentity, saveIdentity, writePrivateFile, type IdentityPaths, type MemberInfo } from './identity-files.ts';

const manifestFrame = Compile(ManifestFrame);

export interface ManagedMemberOptions {
  kind: MemberKind;
  controllerUrl: string;
  /** Enrollment token: needed only when the state dir holds no identity yet. */
  token?: string;
  name?: string;
  stateDir: string;
  log: Logger;
  version: string;
  /** Apply a manifest (the cached one first at start, then each pushed one). Bad content → FAILED + error. */
  apply(frame: ManifestFrame): Promise<{ status: ApplyStatus; error?: string }>;
  report(): MemberReport;
  /** Targeted commands other than `renew_credential` (which the member handles itself). */
  command?(c: CommandFrame): Promise<{ ok: boolean; message: string }>;
  onRevoked?(reason: string): void;
  /** Reconnect backoff of the channel (tests shorten it). */
  backoff?: { baseMs: number; maxMs: number };
}

/** A start-up failure phrased as one line naming the cause and the fix. */
export class MemberStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemberStartError';
  }
}

const RENEW_RETRY_MS = { base: 2000, max: 60000 };

export class ManagedMember {
  private channel: ControlChannelClient | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private renewing: Promise<void> | null = null;
  private renewFailures = 0;
  private lastRenewError: string | null = null;
  private stopped = false;
  private lastApplied: { revision: number; hash: string } | null = null;
  private revokedReason: string | null = null;

  private constructor(
    private readonly opts: ManagedMemberOptions,
    private readonly paths: IdentityPaths,
    readonly info: MemberInfo,
    private readonly key: CryptoKey,
    private current: string,
  ) {}

  static async start(opts: ManagedMemberOptions): Promise<ManagedMember> {
    const backoff = opts.backoff ?? backoffFromEnv();
    const transport = transportFromEnv();
    const paths = identityPaths(opts.stateDir);
    let stored;
    try {
      stored = loadIdentity(paths);
    } catch (e) {
      throw new MemberStartError((e as Error).message);
    }
    if (stored !== undefined && stored.info.kind !== opts.kind) {
      throw new MemberStartError(`${paths.dir} holds the identity of a ${stored.info.kind}, not a ${opts.kind}: use another --state-dir`);
    }
    if (stored === undefined) stored = await enroll(opts, paths);
    else if (opts.name !== undefined && opts.name !== stored.info.name) {
      opts.log.warn({ enrolledAs: stored.info.name, requested: opts.name }, '--name differs from the enrolled name; the enrolled name stays (enroll again with a new state dir to rename)');
    }
    const key = await importJWK(stored.privateJwk, 'ES256') as CryptoKey;
    const m = new ManagedMember(opts, paths, stored.info, key, stored.credential);
    await m.applyCached();
    m.scheduleRenewal();
    m.channel = new ControlChannelClient({
      url: opts.controllerUrl,
      credential: () => m.freshCredential(),
      onManifest: (f) => m.applyPushed(f),
      onCommand: (c) => m.command(c),
      report: () => opts.report(),
      onRevoked: (reason) => m.revoked(reason),
      onError: (message) => opts.log.warn({ controller: opts.controllerUrl }, message),
      onOpen: (t, why) => {
        if (t === 'long-poll') opts.log.warn({ controller: opts.controllerUrl, why }, `channel open over long-poll${why === undefined ? '' : ` (${why})`}`);
        else opts.log.info({ controller: opts.controllerUrl }, 'channel open over WebSocket');
      },
      transport,
      running: m.lastApplied,
      backoff,
    });
    m.channel.start();
    return m;
  }

  get memberId(): string {
    return this.info.member_id;
  }

  get name(): string {
    return this.info.name;
  }

  /** The file holding the current credential (pipe workers read it, so a renewal reaches them). */
  get credentialFile(): string {
    return this.paths.credential;
  }

  get cacheDir(): string {
    return this.opts.stateDir;
  }

  get connected(): boolean {
    return this.channel?.connected ?? false;
  }

  get revokedBecause(): string | null {
    return this.revokedReason;
  }

  credential(): string {
    return this.current;
  }

  running(): { revision: number; hash: string } | null {
    return this.lastApplied;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.renewTimer !== null) clearTimeout(this.renewTimer);
    await this.channel?.stop();
  }

  // ---- commands ----

  private async command(c: CommandFrame): Promise<{ ok: boolean; message: string }> {
    this.opts.log.info({ command: c.id, what: c.command, pipe: c.pipe }, 'command from the controller');
    // A newer controller may know commands this member does not (mixed versions during an upgrade).
    if (!MEMBER_COMMANDS.has(c.command)) return { ok: false, message: `this ${this.info.kind} (fustor ${this.opts.version}) does not know the command "${c.command}": upgrade it to use that command` };
    if (c.command === 'renew_credential') return this.renewNow();
    if (this.opts.command === undefined) return { ok: false, message: `a ${this.info.kind} does not run pipes: ${c.command} is for agents` };
    return this.opts.command(c);
  }

  /** Renew at once (the `renew_credential` command) and say whether a new credential came back. */
  private async renewNow(): Promise<{ ok: boolean; message: string }> {
    const before = this.current;
    await this.renew();
    if (this.current !== before) return { ok: true, message: `credential renewed; expires at ${new Date((expiryOf(this.current) ?? 0) * 1000).toISOString()}` };
    return { ok: false, message: `credential not renewed: ${this.revokedReason ?? this.lastRenewError ?? 'unknown reason'}` };
  }

  // ---- manifests ----

  private async applyCached(): Promise<void> {
    const cached = loadCachedManifest(this.paths);
    if (cached === undefined) return;
    if (!manifestFrame.Check(cached) || cached.content.member !== this.info.name) {
      this.opts.log.warn({ file: this.paths.manifest }, 'the cached manifest is not usable; waiting for the controller');
      return;
    }
    const r = await this.safeApply(cached);
    if (r.status === 'APPLIED') {
      this.lastApplied = { revision: cached.revision, hash: cached.hash };
      this.opts.log.info({ revision: cached.revision }, 'started from the cached manifest');
    } else {
      this.opts.log.error({ revision: cached.revision, error: r.error }, 'the cached manifest could not be applied; waiting for the controller');
    }
  }

  private async applyPushed(f: ManifestFrame): Promise<{ status: ApplyStatus; error?: string }> {
    if (f.content.member !== this.info.name || f.content.kind !== this.info.kind) {
      return { status: 'FAILED', error: `manifest is for ${f.content.kind} '${f.content.member}', not for this ${this.info.kind} '${this.info.name}'` };
    }
    const r = await this.safeApply(f);
    if (r.status === 'APPLIED') {
      this.lastApplied = { revision: f.revision, hash: f.hash };
      try {
        writePrivateFile(this.paths.manifest, `${JSON.stringify(f)}\n`);
      } catch (e) {
        this.opts.log.error({ err: (e as Error).message, file: this.paths.manifest }, 'cannot cache the manifest; a restart without the controller would start empty');
      }
      this.opts.log.info({ revision: f.revision }, 'manifest applied');
    } else {
      this.opts.log.error({ revision: f.revision, error: r.error }, 'manifest refused; the last good one keeps running');
    }
    return r;
  }

  private async safeApply(f: ManifestFrame): Promise<{ status: ApplyStatus; error?: string }> {
    try {
      return await this.opts.apply(f);
    } catch (e) {
      return { status: 'FAILED', error: e instanceof Error ? e.message : String(e) };
    }
  }

  private revoked(reason: string): void {
    this.revokedReason = reason;
    if (this.renewTimer !== null) clearTimeout(this.renewTimer);
    this.opts.log.error({ reason }, 'this member was revoked by the controller; enroll again with a new token to rejoin');
    this.opts.onRevoked?.(reason);
  }

  // ---- credentials ----

  /** Renew first when the credential is already expired (e.g. after a long controller outage). */
  private async freshCredential(): Promise<string> {
    const exp = expiryOf(this.current);
    if (exp !== null && exp * 1000 <= Date.now()) await this.renew();
    return this.current;
  }

  private scheduleRenewal(): void {
    if (this.stopped) return;
    if (this.renewTimer !== null) clearTimeout(this.renewTimer);
    const claims = decodeJwt(this.current);
    const iat = claims.iat ?? Math.floor(Date.now() / 1000);
    const exp = claims.exp ?? iat;
    let delay = Math.max(0, ((iat + exp) / 2) * 1000 - Date.now());
    if (this.renewFailures > 0) delay = Math.min(RENEW_RETRY_MS.max, RENEW_RETRY_MS.base * 2 ** (this.renewFailures - 1)) * (0.5 + Math.random() / 2);
    this.renewTimer = setTimeout(() => { void this.renew(); }, Math.min(delay, 2 ** 31 - 1));
    this.renewTimer.unref();
  }

  /** Renew by proof of possession (one at a time); on failure retry with backoff — the old credential stays in use. */
  renew(): Promise<void> {
    this.renewing ??= this.renewOnce().finally(() => {
      this.renewing = null;
      this.scheduleRenewal();
    });
    return this.renewing;
  }

  private async renewOnce(): Promise<void> {
    if (this.stopped || this.revokedReason !== null) return;
    try {
      const now = Math.floor(Date.now() / 1000);
      const proof = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject(this.info.member_id).setAudience(PROOF_AUDIENCE)
        .setIssuedAt(now).setExpirationTime(now + 120).setJti(randomUUID()).sign(this.key);
      const res = await postJson(`${this.opts.controllerUrl}/api/v1/credentials/renew`, { credential: this.current, proof });
      if (res.status === 403) {
        this.revoked(messageOf(res.body));
        return;
      }
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${messageOf(res.body)}`);
      const body = res.body as RenewResponse;
      this.current = body.credential;
      writePrivateFile(this.paths.credential, `${body.credential}\n`);
      this.renewFailures = 0;
      this.lastRenewError = null;
      this.opts.log.info({ expires_at: body.expires_at }, 'credential renewed');
    } catch (e) {
      this.renewFailures++;
      this.lastRenewError = (e as Error).message;
      this.opts.log.warn({ err: (e as Error).message, failures: this.renewFailures }, 'credential renewal failed; retrying (the current credential stays in use until it expires)');
    }
  }
}

/**
 * FUSTOR_MEMBER_RECONNECT_MAX_MS caps the channel's reconnect backoff (default 30 s; tests shorten it). A bad
 * value stops the start with one line rather than silently using the default.
 */
function backoffFromEnv(): { baseMs: number; maxMs: number } {
  const raw = process.env.FUSTOR_MEMBER_RECONNECT_MAX_MS;
  if (raw === undefined || raw === '') return { baseMs: 500, maxMs: 30000 };
  const max = Number(raw);
  if (!Number.isFinite(max) || max < 1) throw new MemberStartError(`FUSTOR_MEMBER_RECONNECT_MAX_MS must be a positive number of milliseconds, not ${JSON.stringify(raw)}`);
  return { baseMs: Math.min(500, max), maxMs: max };
}

/**
 * FUSTOR_MEMBER_CHANNEL: `auto` (default: WebSocket, long-poll when the upgrade is refused on the way),
 * `websocket` or `poll` (a path known to refuse WebSockets: skip the failed upgrade at each start).
 */
function transportFromEnv(): ChannelTransport {
  const raw = process.env.FUSTOR_MEMBER_CHANNEL;
  if (raw === undefined || raw === '') return 'auto';
  if (raw === 'auto' || raw === 'websocket' || raw === 'poll') return raw;
  throw new MemberStartError(`FUSTOR_MEMBER_CHANNEL must be auto, websocket or poll, not ${JSON.stringify(raw)}`);
}

function expiryOf(jwt: string): number | null {
  try {
    return decodeJwt(jwt).exp ?? null;
  } catch {
    return null;
  }
}

async function postJson(url: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(15000) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: res.status, body: parsed };
}

function messageOf(body: unknown): string {
  if (typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string') return (body as { message: string }).message;
  return String(body).slice(0, 200);
}

/** First start: generate the key pair here, enroll with the token, store the identity (0600). */
async function enroll(opts: ManagedMemberOptions, paths: IdentityPaths): Promise<{ info: MemberInfo; privateJwk: JWK; credential: string }> {
  if (opts.token === undefined || opts.token === '') {
    throw new MemberStartError(`this host is not enrolled yet (${paths.dir} is empty): pass --token with an enrollment token from \`fustor ctl token create --kind ${opts.kind}\``);
  }
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const privateJwk = await exportJWK(privateKey);
  let res;
  try {
    res = await postJson(`${opts.controllerUrl}/api/v1/enroll`, {
      token: opts.token, kind: opts.kind, ...(opts.name === undefined ? {} : { name: opts.name }),
      public_key: { kty: 'EC', crv: 'P-256', x: publicJwk.x, y: publicJwk.y },
    });
  } catch (e) {
    throw new MemberStartError(`cannot reach the controller at ${opts.controllerUrl} to enroll (${(e as Error).message}): check --controller and that the controller runs`);
  }
  if (res.status !== 201) throw new MemberStartError(`enrollment refused by the controller (HTTP ${res.status}): ${messageOf(res.body)}`);
  const body = res.body as EnrollResponse;
  const info: MemberInfo = { member_id: body.member_id, name: body.name, kind: body.kind, labels: body.labels, controller_url: opts.controllerUrl, enrolled_at: new Date().toISOString() };
  const stored = { info, privateJwk, credential: body.credential };
  saveIdentity(paths, stored);
  opts.log.info({ member: body.name, kid: await calculateJwkThumbprint(publicJwk) }, 'enrolled with the controller');
  return stored;
}
