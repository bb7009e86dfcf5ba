/**
 * The controller: composes the store (SQLite in the data dir, migrations applied), the secret key, the
 * services and the management API, and owns their lifecycle (one `dispose()`).
 *
 * Data dir layout: `controller.db` (+ WAL files), `secret-key` (0600, AES-256-GCM key of Secrets),
 * `admin-token` (0600, written on first start only).
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DisposableStore, toDisposable } from '../kernel/disposable.ts';
import type { Logger } from '../kernel/logger.ts';
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
import { SqliteStore, StoreError } from './store/sqlite-store.ts';
import type { ControllerStore } from './store/store.ts';

export interface ControllerOptions {
  dataDir: string;
  host: string;
  port: number;
  log: Logger;
  bodyLimit?: number;
  /** GitOps: `REPO[#branch[:dir]]` and the poll interval (seconds); the mirror lives in `DIR/gitops/`. */
  git?: { source: string; intervalSeconds: number };
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
    private readonly disposables: DisposableStore,
  ) {}

  static async start(opts: ControllerOptions): Promise<Controller> {
    const disposables = new DisposableStore();
    try {
      try {
        mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
      } catch (e) {
        throw new ControllerStartError(`cannot create the data dir ${opts.dataDir}: ${(e as Error).message}`);
      }
      const store = disposables.add(SqliteStore.open(join(opts.dataDir, 'controller.db')));
      const box = await openSecretBox(store, join(opts.dataDir, 'secret-key'));
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
      const gitops = opts.git === undefined ? undefined : await GitOps.open(parseGitSource(opts.git.source), join(opts.dataDir, 'gitops'), store, opts.log);
      if (gitops !== undefined) disposables.add(gitops);
      const extensions: ((app: ControllerApp) => void)[] = gitops === undefined ? [] : [gitopsRoutes(gitops)];
      // Member plane (spec 50 Identity + channel): enrollment, credentials, JWKS, the channel.
      const members = disposables.add(await createMemberPlane({ dataDir: opts.dataDir, store, open: (s, aad) => box.open(s, aad), log: opts.log }));
      extensions.push((app) => members.install(app));
      const app = await createControllerApp({ store, resources, tokens, log: opts.log, bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT, extensions });
      disposables.add(toDisposable(() => app.close()));
      try {
        await app.listen({ host: opts.host, port: opts.port });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const why = code === 'EADDRINUSE' ? 'the port is in use (pass another --port)' : code === 'EADDRNOTAVAIL' ? 'the address is not on this host (check --host)' : (e as Error).message;
        throw new ControllerStartError(`cannot listen on ${opts.host}:${opts.port}: ${why}`);
      }
      if (gitops !== undefined && opts.git !== undefined) {
        await gitops.sync('start');
        gitops.startTimer(opts.git.intervalSeconds);
      }
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : opts.port;
      const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
      members.setUrl(`http://${host}:${port}`);
      return new Controller(`http://${host}:${port}`, adminToken, adminTokenFile, store, disposables);
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

/** The key file must be the one the database was written with (its fingerprint is in `meta`). */
async function openSecretBox(store: ControllerStore, file: string): Promise<SecretBox> {
  const recorded = await store.getMeta('secret_key_id');
  const box = SecretBox.loadOrCreate(file, recorded === undefined);
  if (recorded === undefined) await store.setMeta('secret_key_id', box.keyId);
  else if (recorded !== box.keyId) throw new SecretKeyError(`${file} is not the key this database was written with: restore the matching secret-key from a backup of the data dir`);
  return box;
}
