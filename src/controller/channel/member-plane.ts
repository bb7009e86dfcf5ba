/**
 * Composition of the member plane (identity + channel + monitoring + targeted commands) for the controller: the signing key (in
 * the data dir, or in the database for PostgreSQL replicas), the member store (SQLite or PostgreSQL, like
 * the resource store), the identity service, the channel hub, the fleet monitor, and their
 * routes. Tunables come from the options or the environment (FUSTOR_CONTROLLER_CREDENTIAL_TTL_SEC,
 * FUSTOR_CONTROLLER_HEARTBEAT_SEC, FUSTOR_CONTROLLER_ADMISSION_RATE, FUSTOR_CONTROLLER_ADMISSION_BURST, FUSTOR_CONTROLLER_ADMISSION_PENDING, FUSTOR_CONTROLLER_ADMISSION_FIRST_FRAME_SEC,
 * FUSTOR_CONTROLLER_WATCH_MS, FUSTOR_CONTROLLER_KEY_ACTIVATION_SEC).
 */
import { join } from 'node:path';
import type { Logger } from '../../kernel/logger.ts';
import { secretAad } from '../resources/plan.ts';
import { CommandService } from '../commands/command-service.ts';
import { SqliteCommandStore, type CommandStore } from '../commands/command-store.ts';
import { PgCommandStore } from '../commands/pg-command-store.ts';
import { commandRoutes } from '../commands/routes.ts';
import type { ControllerApp } from '../http/app.ts';
import { CREDENTIAL_ISSUER, IdentityService } from '../identity/identity-service.ts';
import { identityRoutes } from '../identity/identity-routes.ts';
import { SqliteMemberStore, type MemberStore } from '../identity/member-store.ts';
import { PgMemberStore } from '../identity/pg-member-store.ts';
import { FileKeyringStorage, MetaKeyringStorage } from '../identity/signing-key.ts';
import { FleetMonitor } from '../monitoring/fleet-monitor.ts';
import { ControllerMetrics } from '../monitoring/metrics.ts';
import { monitoringRoutes } from '../monitoring/routes.ts';
import type { Sql } from '../store/pg-connect.ts';
import type { ControllerStore } from '../store/store.ts';
import { channelRoutes } from './channel-routes.ts';
import { ChannelHub } from './hub.ts';

export interface MemberPlaneOptions {
  credentialTtlSec: number;
  heartbeatSec: number;
  admissionRatePerSec: number;
  admissionBurst: number;
  admissionMaxPending: number;
  admissionFirstFrameSec: number;
  watchIntervalMs: number;
  keyActivationSec: number;
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
    admissionMaxPending: envNumber('FUSTOR_CONTROLLER_ADMISSION_PENDING', 64),
    admissionFirstFrameSec: envNumber('FUSTOR_CONTROLLER_ADMISSION_FIRST_FRAME_SEC', 10),
    watchIntervalMs: envNumber('FUSTOR_CONTROLLER_WATCH_MS', 500),
    keyActivationSec: envNumber('FUSTOR_CONTROLLER_KEY_ACTIVATION_SEC', 60),
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
  /** This replica's id (host:pid:random), recorded with each report so every replica can tell where a member is connected. */
  replica: string;
  /**
   * PostgreSQL replicas: members live in the shared database (the PgStore's pool) and so does the signing
   * key, sealed with the secret box, so that every replica signs with the same key (identity/signing-key.ts).
   */
  postgres?: { sql: Sql; seal: (plaintext: string, aad: string) => string };
}): Promise<MemberPlane> {
  const o = { ...memberPlaneOptionsFromEnv(), ...opts.options };
  const pg = opts.postgres;
  const keys = pg === undefined
    ? new FileKeyringStorage(join(opts.dataDir, 'signing-key.json'))
    : new MetaKeyringStorage(opts.store, { seal: pg.seal, open: opts.open });
  const members: MemberStore = pg === undefined ? new SqliteMemberStore(join(opts.dataDir, 'controller.db')) : new PgMemberStore(pg.sql);
  const commandStore: CommandStore = pg === undefined ? new SqliteCommandStore(join(opts.dataDir, 'controller.db')) : new PgCommandStore(pg.sql);
  const identity = await IdentityService.open(members, keys, { credentialTtlSec: o.credentialTtlSec, keyActivationSec: o.keyActivationSec });
  // Replicas: a rotation made on another replica reaches this one's JWKS and signer within two watch intervals.
  const keyReload = pg === undefined ? undefined : setInterval(() => {
    identity.reloadKeys().catch((e: unknown) => opts.log.warn({ err: (e as Error).message }, 'identity: cannot reload the signing keys; retrying'));
  }, o.watchIntervalMs * 2);
  keyReload?.unref();
  let url = '';
  const hub = new ChannelHub(opts.store, members, commandStore, identity, {
    heartbeatSec: o.heartbeatSec,
    replica: opts.replica,
    watchIntervalMs: o.watchIntervalMs,
    trust: () => ({ issuer: CREDENTIAL_ISSUER, jwks_url: `${url}/api/v1/jwks` }),
    openSecret: (name, sealed) => JSON.parse(opts.open(sealed, secretAad(name))) as Record<string, string>,
  }, opts.log);
  const commands = new CommandService(members, commandStore, opts.store, () => { void hub.deliverCommands(); });
  let routes: { dispose(): void; admissionsRefused(): number } | undefined;
  // Monitoring reads the same member rows the channel writes (fleet health, spec 50 "Monitoring").
  const monitor = new FleetMonitor(members, opts.store, { heartbeatSec: o.heartbeatSec, replica: opts.replica, isConnected: (id) => hub.isConnected(id) });
  const metrics = new ControllerMetrics({
    monitor, currentRevision: () => opts.store.currentRevision(), channelConnections: () => hub.connectedCount(), admissionsRefused: () => routes?.admissionsRefused() ?? 0,
  });
  return {
    identity,
    hub,
    install(app) {
      identityRoutes(app, identity, (actor, action, kind, name) => opts.store.appendAudit(actor, action, kind, name));
      routes = channelRoutes(app, hub, identity, { ratePerSec: o.admissionRatePerSec, burst: o.admissionBurst, maxPending: o.admissionMaxPending, firstFrameTimeoutMs: o.admissionFirstFrameSec * 1000 }, opts.log);
      monitoringRoutes(app, monitor, metrics);
      commandRoutes(app, commands);
    },
    setUrl(u) { url = u; },
    async dispose() {
      if (keyReload !== undefined) clearInterval(keyReload);
      hub.dispose();
      routes?.dispose();
      await commandStore.dispose();
      await members.dispose();
    },
  };
}
