/**
 * Composition of the member plane (identity + channel) for the controller: the signing key in the data
 * dir, the member store, the identity service, the channel hub, and their routes. Tunables come from the
 * options or the environment (FUSTOR_CONTROLLER_CREDENTIAL_TTL_SEC, FUSTOR_CONTROLLER_HEARTBEAT_SEC,
 * FUSTOR_CONTROLLER_ADMISSION_RATE, FUSTOR_CONTROLLER_ADMISSION_BURST, FUSTOR_CONTROLLER_WATCH_MS).
 */
import { join } from 'node:path';
import type { Logger } from '../../kernel/logger.ts';
import { secretAad } from '../resources/plan.ts';
import type { ControllerApp } from '../http/app.ts';
import { CREDENTIAL_ISSUER, IdentityService } from '../identity/identity-service.ts';
import { identityRoutes } from '../identity/identity-routes.ts';
import { SqliteMemberStore } from '../identity/member-store.ts';
import { loadOrCreateSigningKey } from '../identity/signing-key.ts';
import type { ControllerStore } from '../store/store.ts';
import { channelRoutes } from './channel-routes.ts';
import { ChannelHub } from './hub.ts';

export interface MemberPlaneOptions {
  credentialTtlSec: number;
  heartbeatSec: number;
  admissionRatePerSec: number;
  admissionBurst: number;
  watchIntervalMs: number;
}

function envNumber(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not ${JSON.stringify(v)}`);
  return n;
}

export function memberPlaneOptionsFromEnv(): MemberPlaneOptions {
  return {
    credentialTtlSec: envNumber('FUSTOR_CONTROLLER_CREDENTIAL_TTL_SEC', 3600),
    heartbeatSec: envNumber('FUSTOR_CONTROLLER_HEARTBEAT_SEC', 15),
    admissionRatePerSec: envNumber('FUSTOR_CONTROLLER_ADMISSION_RATE', 50),
    admissionBurst: envNumber('FUSTOR_CONTROLLER_ADMISSION_BURST', 100),
    watchIntervalMs: envNumber('FUSTOR_CONTROLLER_WATCH_MS', 500),
  };
}

export interface MemberPlane {
  identity: IdentityService;
  hub: ChannelHub;
  /** Registers the routes (before the app is ready). */
  install(app: ControllerApp): void;
  /** The API's URL, once it listens (for the gateways' trusted JWKS URL). */
  setUrl(url: string): void;
  dispose(): Promise<void>;
}

export async function createMemberPlane(opts: {
  dataDir: string; store: ControllerStore; open: (sealed: string, aad: string) => string; log: Logger; options?: Partial<MemberPlaneOptions>;
}): Promise<MemberPlane> {
  const o = { ...memberPlaneOptionsFromEnv(), ...opts.options };
  const key = await loadOrCreateSigningKey(join(opts.dataDir, 'signing-key.json'));
  const members = new SqliteMemberStore(join(opts.dataDir, 'controller.db'));
  const identity = new IdentityService(members, key, { credentialTtlSec: o.credentialTtlSec });
  let url = '';
  const hub = new ChannelHub(opts.store, members, identity, {
    heartbeatSec: o.heartbeatSec,
    watchIntervalMs: o.watchIntervalMs,
    trust: () => ({ issuer: CREDENTIAL_ISSUER, jwks_url: `${url}/api/v1/jwks` }),
    openSecret: (name, sealed) => JSON.parse(opts.open(sealed, secretAad(name))) as Record<string, string>,
  }, opts.log);
  let routes: { dispose(): void } | undefined;
  return {
    identity,
    hub,
    install(app) {
      identityRoutes(app, identity);
      routes = channelRoutes(app, hub, identity, { ratePerSec: o.admissionRatePerSec, burst: o.admissionBurst }, opts.log);
    },
    setUrl(u) { url = u; },
    async dispose() {
      hub.dispose();
      routes?.dispose();
      members.dispose();
    },
  };
}
