/**
 * The controller: composes the store (SQLite in the data dir, or PostgreSQL shared by replicas; migrations
 * applied), the secret key, the reconciler lease, the services and the management API, and owns their
 * lifecycle (one `dispose()`, in reverse order of creation: the lease is released before the pool closes).
 *
 * Data dir layout: `controller.db` (+ WAL files; SQLite only), `secret-key` (0600, AES-256-GCM key of
 * Secrets, unless `secretKeyFile` points elsewhere), `admin-token` (0600, written on the first start of the
 * first replica only), `signing-key.json` (SQLite only; replicas keep it sealed in the database), `gitops/`.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DisposableStore, toDisposable } from '../kernel/disposable.ts';
import type { Logger } from '../kernel/logger.ts';
import { setServerTls, type TlsMaterial } from '../kernel/tls-files.ts';
import { SecretBox, SecretKeyError } from './crypto/secret-box.ts';
import { issueToken } from './crypto/tokens.ts';
import { GitError } from './gitops/git.ts';
import { GitOps } from './gitops/gitops.ts';
import { gitopsRoutes } from './gitops/routes.ts';
import { GitSourceError, parseGitSource } from './gitops/source.ts';
import { createMemberPlane } from './channel/member-plane.ts';
import { createControllerApp, type ControllerApp } from './http/app.ts';
import { ResourceService } from './service/resource-service.ts';
import { TokenService } from './service/token-service.ts';
import { AlwaysHeldLease, leaseTtlFromEnv, PgLease, RECONCILER_LEASE, type Lease } from './store/lease.ts';
import { PgStore } from './store/pg-store.ts';
import { SqliteStore } from './store/sqlite-store.ts';
import { StoreError, type ControllerStore } from './store/store.ts';

export interface ControllerOptions {
  dataDir: string;
  host: string;
  port: number;
  log: Logger;
  bodyLimit?: number;
  /** GitOps: `REPO[#branch[:dir]]` and the poll interval (seconds); the mirror lives in `DIR/gitops/`. */
  git?: { source: string; intervalSeconds: number };
  /** `postgres://…`: the store is this database, shared with other replicas. Default: SQLite in the data dir. */
  database?: string;
  /** The Secret encryption key file (default `DIR/secret-key`); replicas must all use the same key. */
  secretKeyFile?: string;
  /** Reconciler lease TTL with PostgreSQL (seconds; default FUSTOR_CONTROLLER_LEASE_TTL_SEC, else 5). */
  leaseTtlSec?: number;
  /**
   * The URL members and gateways reach the controller at (a load balancer in front of replicas); gateway
   * manifests name its JWKS. Default: the listening URL — which differs per replica.
   */
  publicUrl?: string;
  /** Serve HTTPS (and wss:// for the channel) with this certificate and key; plain HTTP without. */
  tls?: TlsMaterial;
}

/** A startup failure phrased as one line for the operator (bad data dir, busy port, lost key). */
export class ControllerStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControllerStartError';
  }
}

export const DEFAULT_BODY_LIMIT = 4 * 1024 * 1024;

export class Controller {
  private constructor(
    readonly url: string,
    /** The admin token when this start created it (first start), else null. */
    readonly adminToken: string | null,
    readonly adminTokenFile: string,
    readonly store: ControllerStore,
    /** This process among the replicas (host:pid:random); stable for its lifetime. */
    readonly replica: string,
    /** Who runs the reconcilers (GitOps); always this controller with SQLite. */
    readonly lease: Lease,
    private readonly disposables: DisposableStore,
    /** The listener (an https.Server with TLS), for certificate renewals. */
    private readonly server: unknown,
  ) {}

  /** A renewed certificate: new connections use it (a plain-HTTP controller ignores it). */
  setTls(tls: TlsMaterial): void {
    setServerTls(this.server, tls);
  }

  static async start(opts: ControllerOptions): Promise<Controller> {
    const disposables = new DisposableStore();
    try {
      try {
        mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
      } catch (e) {
        throw new ControllerStartError(`cannot create the data dir ${opts.dataDir}: ${(e as Error).message}`);
      }
      const replica = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
      const pg = opts.database === undefined ? undefined : disposables.add(await PgStore.open(opts.database));
      const store: ControllerStore = pg ?? disposables.add(SqliteStore.open(join(opts.dataDir, 'controller.db')));
      const box = await openSecretBox(store, opts.secretKeyFile ?? join(opts.dataDir, 'secret-key'), pg !== undefined);
      // Replicas: one lease in the database elects who runs the reconcilers (store/lease.ts).
      const lease: Lease = pg === undefined
        ? new AlwaysHeldLease(RECONCILER_LEASE, replica)
        : disposables.add(await PgLease.start(pg.sql, { name: RECONCILER_LEASE, replica, ttlSec: opts.leaseTtlSec ?? leaseTtlFromEnv(), log: opts.log }));
      const tokens = new TokenService(store);
      const resources = new ResourceService(store, {
        seal: (p, aad) => box.seal(p, aad),
        open: (s, aad) => box.open(s, aad),
        mac: (t) => box.mac(t),
        newQueryKey: () => issueToken('fqk'),
      });
      const adminTokenFile = join(opts.dataDir, 'admin-token');
      const adminToken = await tokens.ensureAdminToken();
      if (adminToken !== null) {
        writeFileSync(adminTokenFile, `${adminToken}\n`, { mode: 0o600 });
        chmodSync(adminTokenFile, 0o600);
      }
      const gitops = opts.git === undefined ? undefined : await GitOps.open(parseGitSource(opts.git.source), join(opts.dataDir, 'gitops'), store, opts.log, { fence: () => lease.fence() });
      if (gitops !== undefined) disposables.add(gitops);
      const extensions: ((app: ControllerApp) => void)[] = gitops === undefined ? [] : [gitopsRoutes(gitops)];
      // Member plane (spec 50 Identity + channel): enrollment, credentials, JWKS, the channel.
      const members = disposables.add(await createMemberPlane({
        dataDir: opts.dataDir, store, open: (s, aad) => box.open(s, aad), log: opts.log, replica,
        postgres: pg === undefined ? undefined : { sql: pg.sql, seal: (p, aad) => box.seal(p, aad) },
      }));
      extensions.push((app) => members.install(app));
      const health = () => ({ replica, leader: lease.held(), leader_replica: lease.holder(), store: pg === undefined ? 'sqlite' as const : 'postgres' as const });
      const app = await createControllerApp({ store, resources, tokens, log: opts.log, bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT, extensions, health, tls: opts.tls });
      disposables.add(toDisposable(() => app.close()));
      try {
        await app.listen({ host: opts.host, port: opts.port });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const why = code === 'EADDRINUSE' ? 'the port is in use (pass another --port)' : code === 'EADDRNOTAVAIL' ? 'the address is not on this host (check --host)' : (e as Error).message;
        throw new ControllerStartError(`cannot listen on ${opts.host}:${opts.port}: ${why}`);
      }
      if (gitops !== undefined && opts.git !== undefined) {
        const interval = opts.git.intervalSeconds;
        // Subscribed before the first sync, so a lease change during it is not missed.
        disposables.add(toDisposable(lease.onChange((held) => {
          if (held) gitops.lead(interval).catch((e: unknown) => opts.log.error({ err: e }, 'gitops: sync after taking the lease failed'));
          else gitops.stopTimer();
        })));
        if (lease.held()) {
          await gitops.sync('start');
          gitops.startTimer(interval);
        }
      }
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : opts.port;
      const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
      // The scheme follows the listener, so the default public URL (manifests' JWKS URL) is https:// with TLS.
      const url = `${opts.tls === undefined ? 'http' : 'https'}://${host}:${port}`;
      members.setUrl(opts.publicUrl?.replace(/\/+$/, '') ?? url);
      return new Controller(url, adminToken, adminTokenFile, store, replica, lease, disposables, app.server);
    } catch (e) {
      await disposables.dispose();
      if (e instanceof StoreError || e instanceof SecretKeyError || e instanceof GitSourceError) throw new ControllerStartError(e.message);
      if (e instanceof GitError) throw new ControllerStartError(`--git ${opts.git?.source ?? ''}: ${e.message}`);
      throw e;
    }
  }

  dispose(): Promise<void> {
    return this.disposables.dispose();
  }
}

/**
 * The key file must be the one the database was written with (its fingerprint is in `meta`). The key itself
 * never enters the database. With replicas the first one to start records its key's fingerprint (insert-if-
 * absent, so replicas starting together agree) and every other replica must be given the same file.
 */
async function openSecretBox(store: ControllerStore, file: string, replicas: boolean): Promise<SecretBox> {
  const fix = replicas
    ? `copy the secret-key file of the first replica to ${file}, or pass --secret-key-file PATH (FUSTOR_CONTROLLER_SECRET_KEY_FILE) naming a copy`
    : 'restore the matching secret-key from a backup of the data dir';
  const recorded = await store.getMeta('secret_key_id');
  const existed = existsSync(file);
  const box = SecretBox.loadOrCreate(file, recorded === undefined, replicas ? fix : undefined);
  const winner = recorded ?? await store.claimMeta('secret_key_id', box.keyId);
  if (winner !== box.keyId) {
    // A key this start created but another replica's key won the race: leave no wrong key file behind.
    if (!existed) rmSync(file, { force: true });
    throw new SecretKeyError(`${file} is not the secret key this database was written with (its fingerprint is ${winner}, this file's ${box.keyId}): ${fix}`);
  }
  return box;
}
