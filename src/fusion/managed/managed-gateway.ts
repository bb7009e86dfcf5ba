/**
 * A gateway managed by a controller (`fustor fusion --controller URL`, spec 50): the Gateway runtime, the
 * verifier of agent credentials and the shared member module (enrollment, credential, channel, manifest
 * cache) composed into one object with one `dispose()`.
 *
 * Lifecycle: the member starts first (identity, or enrollment with the token — a host that cannot join
 * says why before it takes a port); while starting it applies the cached manifest, which becomes the
 * configuration the gateway starts listening with (the controller may be down). Then each manifest the
 * controller pushes is applied = validated + `Gateway.reload` (per-view/pipe diff, unchanged views keep
 * their trees); an invalid manifest is FAILED and the running configuration stays.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../kernel/logger.ts';
import type { TlsMaterial } from '../../kernel/tls-files.ts';
import type { MemberReport } from '../../kernel/control-channel-client.ts';
import { ManagedMember } from '../../kernel/member/managed-member.ts';
import type { ApplyStatus, ManifestFrame } from '../../protocol/index.ts';
import type { ConfigDiff } from '../config/diff-config.ts';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import { Gateway } from '../gateway.ts';
import { AgentCredentials } from './agent-credentials.ts';
import { emptyManagedConfig, manifestConfig, ManifestError, type ManagedListener } from './gateway-manifest.ts';
import { memberReport } from './member-report.ts';

export interface ManagedGatewayOptions {
  controllerUrl: string;
  /** Enrollment token; needed only when `stateDir` holds no identity yet. */
  token?: string;
  name?: string;
  stateDir: string;
  host?: string;
  port?: number;
  /** The URL agents should push to, as reported to the controller (default: the listening URL, https with `tls`). */
  advertiseUrl?: string;
  /** Serve HTTPS with this certificate and key (host-local, so from the command line, never the manifest). */
  tls?: TlsMaterial;
  log: Logger;
  version: string;
  /** Reconnect backoff of the channel. */
  backoff?: { baseMs: number; maxMs: number };
  onRevoked?(reason: string): void;
}

export type ApplyResult = { status: ApplyStatus; error?: string; diff?: ConfigDiff };

/**
 * Validate a manifest and reconcile the gateway with it. Invalid content → FAILED with the reason, and the
 * running configuration is untouched.
 */
export async function applyManifest(gw: Gateway, credentials: AgentCredentials | null, content: unknown, listener: ManagedListener): Promise<ApplyResult> {
  let next;
  try {
    next = manifestConfig(content, listener);
  } catch (e) {
    if (e instanceof ManifestError) return { status: 'FAILED', error: e.message };
    throw e;
  }
  // Trust first: agents reconnecting to a new pipe must find the keys (being) fetched.
  if (next.access !== undefined) credentials?.setTrust(next.access.trust);
  const diff = await gw.reload(next);
  return { status: 'APPLIED', diff };
}

const stripDiff = (r: ApplyResult): { status: ApplyStatus; error?: string } => (r.error === undefined ? { status: r.status } : { status: r.status, error: r.error });

export class ManagedGateway {
  private gw: Gateway | null = null;
  private member: ManagedMember | null = null;
  private readonly credentials: AgentCredentials;
  private readonly listener: ManagedListener;
  /** What the gateway starts with: no views, or the cached manifest the member applied while starting. */
  private initial: ResolvedConfig;
  /** True while the member starts: the only manifest applied then is the cached one. */
  private starting = true;
  /** Settles once the gateway listens (or could not): manifests pushed meanwhile wait for it. */
  private readonly opened: Promise<void>;
  private markOpened: () => void = () => {};

  private constructor(private readonly opts: ManagedGatewayOptions) {
    this.credentials = new AgentCredentials({ cacheFile: join(opts.stateDir, 'jwks.json'), log: opts.log });
    this.listener = { host: opts.host, port: opts.port };
    this.initial = emptyManagedConfig(this.listener);
    this.opened = new Promise((resolve) => { this.markOpened = resolve; });
  }

  /**
   * Join the controller, then listen. Throws MemberStartError (no identity and no token, enrollment
   * refused, controller unreachable on first start) or ListenError (port) — one line each; nothing stays open.
   */
  static async start(opts: ManagedGatewayOptions): Promise<ManagedGateway> {
    mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
    const mg = new ManagedGateway(opts);
    try {
      mg.member = await ManagedMember.start({
        kind: 'gateway',
        controllerUrl: opts.controllerUrl,
        token: opts.token,
        name: opts.name,
        stateDir: opts.stateDir,
        log: opts.log,
        version: opts.version,
        apply: (frame) => mg.apply(frame),
        report: () => mg.report(),
        onRevoked: (reason) => opts.onRevoked?.(reason),
        ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }),
      });
      mg.starting = false;
      mg.gw = await Gateway.start({ config: mg.initial, log: opts.log, credentials: mg.credentials, tls: opts.tls });
    } catch (e) {
      mg.markOpened();
      await mg.dispose();
      throw e;
    }
    mg.markOpened();
    return mg;
  }

  get name(): string {
    return this.member?.name ?? '';
  }

  /** A renewed certificate for the gateway's listeners (see Gateway.setTls). */
  setTls(tls: TlsMaterial): void {
    this.gw?.setTls(tls);
  }

  get url(): string {
    return this.gw?.url ?? '';
  }

  private async apply(frame: ManifestFrame): Promise<{ status: ApplyStatus; error?: string }> {
    if (this.starting) {
      try {
        this.initial = manifestConfig(frame.content, this.listener);
      } catch (e) {
        if (e instanceof ManifestError) return { status: 'FAILED', error: e.message };
        throw e;
      }
      if (this.initial.access !== undefined) this.credentials.setTrust(this.initial.access.trust);
      return { status: 'APPLIED' };
    }
    await this.opened;
    if (this.gw === null) return { status: 'FAILED', error: 'the gateway is not running' };
    const r = await applyManifest(this.gw, this.credentials, frame.content, this.listener);
    if (r.diff !== undefined) {
      const pick = (d: ConfigDiff['views']) => ({ added: d.added, removed: d.removed, changed: d.changed, unchanged: d.unchanged.length });
      this.opts.log.info({ revision: frame.revision, views: pick(r.diff.views), pipes: pick(r.diff.pipes) }, 'manifest applied to the gateway');
    }
    return stripDiff(r);
  }

  private report(): MemberReport {
    const advertiseUrl = this.opts.advertiseUrl ?? this.gw?.url;
    if (this.gw === null) return { version: this.opts.version, ...(advertiseUrl === undefined ? {} : { advertise_url: advertiseUrl }) };
    return memberReport(this.gw, { version: this.opts.version, advertiseUrl: advertiseUrl ?? '' });
  }

  async dispose(): Promise<void> {
    await this.member?.stop();
    await this.gw?.dispose();
    this.credentials.dispose();
  }
}
