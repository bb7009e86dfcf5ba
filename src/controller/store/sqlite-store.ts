/**
 * ControllerStore on embedded SQLite (better-sqlite3, WAL, synchronous=FULL). better-sqlite3 is
 * synchronous, so each `mutate` is one `db.transaction` run to completion without yielding: no other
 * request can observe or interleave with a half-done change. `BEGIN IMMEDIATE` takes the write lock at the
 * start, so two controller processes on one file still serialise their revisions.
 */
import { toAgentRecord, toAuditEntry, toResource, type AuditRow, type FleetRow, type ResourceRow } from './rows.ts';
import { statementCache } from './statement-cache.ts';
import Database from 'better-sqlite3';
import type { AuditEntry, ResourceKind } from '../../protocol/index.ts';
import { SQLITE_MIGRATIONS, type Migration } from './sqlite-migrations.ts';
import {
  StoreError,
  type AgentRecord, type ControllerStore, type EnrollmentTokenRecord, type GatewayMemberRecord, type MutationPlan, type MutationResult,
  type OperatorTokenRecord, type StateSnapshot, type StoredResource,
} from './store.ts';


// Defined with the interface (PostgreSQL raises it too); re-exported for existing importers.
export { StoreError };

const now = () => new Date().toISOString();

export class SqliteStore implements ControllerStore {
  private readonly db: Database.Database;
  private readonly sql: (text: string) => Database.Statement;

  private constructor(db: Database.Database) {
    this.db = db;
    this.sql = statementCache(this.db);
  }

  /** Open (creating if needed) the database file and apply pending migrations. */
  static open(file: string, migrations: readonly Migration[] = SQLITE_MIGRATIONS): SqliteStore {
    let db: Database.Database;
    try {
      db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
    } catch (e) {
      throw new StoreError(`cannot open the database ${file}: ${(e as Error).message}`);
    }
    try {
      migrate(db, migrations);
    } catch (e) {
      db.close();
      throw e;
    }
    return new SqliteStore(db);
  }

  /** Versions applied so far (for tests and diagnostics). */
  appliedMigrations(): number[] {
    return (this.sql('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[]).map((r) => r.version);
  }

  async currentRevision(): Promise<number> {
    return this.revisionNow();
  }

  async listResources(kind?: ResourceKind): Promise<StoredResource[]> {
    const rows = kind === undefined
      ? this.sql('SELECT * FROM resources ORDER BY kind, name').all() as ResourceRow[]
      : this.sql('SELECT * FROM resources WHERE kind = ? ORDER BY name').all(kind) as ResourceRow[];
    return rows.map(toResource);
  }

  async getResource(kind: ResourceKind, name: string): Promise<StoredResource | undefined> {
    const row = this.sql('SELECT * FROM resources WHERE kind = ? AND name = ?').get(kind, name) as ResourceRow | undefined;
    return row === undefined ? undefined : toResource(row);
  }

  // No fence (MutateOptions) here: an embedded store has one controller, which always holds every lease.
  async mutate<T>(actor: string, plan: (state: StateSnapshot) => MutationPlan<T>): Promise<MutationResult<T>> {
    const run = this.db.transaction((): MutationResult<T> => {
      const state: StateSnapshot = {
        currentRevision: this.revisionNow(),
        resources: (this.sql('SELECT * FROM resources ORDER BY kind, name').all() as ResourceRow[]).map(toResource),
        agents: this.agentsNow(),
      };
      const { writes, value } = plan(state);
      if (writes.length === 0) return { revision: null, currentRevision: state.currentRevision, value };
      const time = now();
      const revision = Number(this.sql('INSERT INTO revisions (actor, created_at) VALUES (?, ?)').run(actor, time).lastInsertRowid);
      const upsert = this.sql(`INSERT INTO resources (kind, name, doc, sealed, hash, revision, created_revision, updated_at)
        VALUES (@kind, @name, @doc, @sealed, @hash, @revision, @revision, @time)
        ON CONFLICT (kind, name) DO UPDATE SET doc = excluded.doc, sealed = excluded.sealed, hash = excluded.hash, revision = excluded.revision, updated_at = excluded.updated_at`);
      const remove = this.sql('DELETE FROM resources WHERE kind = ? AND name = ?');
      const audit = this.sql('INSERT INTO audit (revision, actor, time, action, kind, name, before_hash, after_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
      for (const w of writes) {
        if (w.after === undefined) remove.run(w.kind, w.name);
        else upsert.run({ kind: w.kind, name: w.name, doc: JSON.stringify(w.after.doc), sealed: w.after.sealed, hash: w.after.hash, revision, time });
        audit.run(revision, actor, time, w.action, w.kind, w.name, w.beforeHash, w.after?.hash ?? null);
      }
      return { revision, currentRevision: revision, value };
    });
    return run.immediate();
  }

  async history(opts: { limit: number; before?: number }): Promise<AuditEntry[]> {
    const rows = (opts.before === undefined
      ? this.sql('SELECT * FROM audit ORDER BY id DESC LIMIT ?').all(opts.limit)
      : this.sql('SELECT * FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?').all(opts.before, opts.limit)) as AuditRow[];
    return rows.map(toAuditEntry);
  }

  async insertOperatorToken(t: OperatorTokenRecord, actor: string): Promise<boolean> {
    const run = this.db.transaction((): boolean => {
      const taken = this.sql('SELECT 1 FROM operator_tokens WHERE name = ?').get(t.name);
      if (taken !== undefined) return false;
      const time = now();
      this.sql('INSERT INTO operator_tokens (id, name, role, hash, created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(t.id, t.name, t.role, t.hash, time, actor, t.expiresAt);
      this.auditEvent(actor, time, 'token.created', 'OperatorToken', t.name);
      return true;
    });
    return run.immediate();
  }

  async findOperatorToken(id: string): Promise<OperatorTokenRecord | undefined> {
    const row = this.sql('SELECT id, name, role, hash, expires_at AS expiresAt, revoked_at AS revokedAt FROM operator_tokens WHERE id = ?').get(id) as OperatorTokenRecord | undefined;
    return row;
  }

  async insertEnrollmentToken(t: EnrollmentTokenRecord, actor: string): Promise<void> {
    const run = this.db.transaction(() => {
      const time = now();
      this.sql('INSERT INTO enrollment_tokens (id, kind, labels, uses_left, hash, created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(t.id, t.kind, JSON.stringify(t.labels), t.usesLeft, t.hash, time, actor, t.expiresAt);
      this.auditEvent(actor, time, 'token.created', 'EnrollmentToken', t.id);
    });
    run.immediate();
  }

  async appendAudit(actor: string, action: string, kind: string, name: string): Promise<void> {
    this.auditEvent(actor, now(), action, kind, name);
  }

  async listAgents(): Promise<AgentRecord[]> {
    return this.agentsNow();
  }

  async upsertAgent(a: AgentRecord): Promise<void> {
    this.sql(`INSERT INTO agents (name, labels, state, enrolled_at, last_seen) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (name) DO UPDATE SET labels = excluded.labels, state = excluded.state, last_seen = excluded.last_seen`)
      .run(a.name, JSON.stringify(a.labels), a.state, a.enrolledAt, a.lastSeen);
  }

  async listGatewayMembers(): Promise<GatewayMemberRecord[]> {
    return (this.sql('SELECT * FROM gateway_members ORDER BY name').all() as FleetRow[]).map((r) => ({ ...toAgentRecord(r), url: r.url ?? null }));
  }

  async getMeta(key: string): Promise<string | undefined> {
    return (this.sql('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.sql('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  async claimMeta(key: string, value: string): Promise<string> {
    this.sql('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING').run(key, value);
    return (this.sql('SELECT value FROM meta WHERE key = ?').get(key) as { value: string }).value;
  }

  dispose(): void {
    if (this.db.open) this.db.close();
  }

  private revisionNow(): number {
    return (this.sql('SELECT COALESCE(MAX(revision), 0) AS r FROM revisions').get() as { r: number }).r;
  }

  private agentsNow(): AgentRecord[] {
    return (this.sql('SELECT * FROM agents ORDER BY name').all() as FleetRow[]).map(toAgentRecord);
  }

  private auditEvent(actor: string, time: string, action: string, kind: string, name: string): void {
    this.sql('INSERT INTO audit (revision, actor, time, action, kind, name, before_hash, after_hash) VALUES (NULL, ?, ?, ?, ?, ?, NULL, NULL)')
      .run(actor, time, action, kind, name);
  }
}

function migrate(db: Database.Database, migrations: readonly Migration[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  const run = db.transaction(() => {
    const applied = (db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }).v;
    const known = migrations.reduce((m, x) => Math.max(m, x.version), 0);
    if (applied > known) throw new StoreError(`the database is at schema version ${applied}, newer than this controller knows (${known}): run a newer fustor`);
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (m.version <= applied) continue;
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, now());
    }
  });
  run.immediate();
}

