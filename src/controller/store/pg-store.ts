/**
 * ControllerStore on PostgreSQL (`--database postgres://…`), shared by several controller replicas.
 *
 * `mutate` keeps the SQLite semantics across processes: the transaction first takes
 * `LOCK TABLE revisions IN EXCLUSIVE MODE` (readers are not blocked; other mutations wait), then — in
 * REPEATABLE READ, whose snapshot is fixed by the first query, i.e. after the lock — reads the state, runs
 * the pure plan and writes. Mutations are therefore serialised across replicas: each plan sees every
 * earlier mutation, revisions (an identity column: never reused, also after a crash) commit in increasing
 * order, so `currentRevision()` only ever grows and a poller comparing it misses nothing.
 *
 * The pool (`sql`) is shared with the member store and the lease of the same process; this object owns it
 * and closes it last (the controller disposes in reverse order of creation).
 */
import type { AuditEntry, MemberKind, OperatorRole, ResourceKind } from '../../protocol/index.ts';
import { isoTimeOrNull, toAgentRecord, toAuditEntry, toResource, type AuditRow, type FleetRow, type ResourceRow } from './rows.ts';
import { connectPostgres, explainConnectError, parseDatabaseUrl, type PgPoolOptions, type Sql } from './pg-connect.ts';
import { migratePostgres, MigrationError, PG_MIGRATIONS } from './pg-migrations.ts';
import type { Migration } from './sqlite-migrations.ts';
import {
  LeaseLostError, StoreError,
  type AgentRecord, type ControllerStore, type EnrollmentTokenRecord, type GatewayMemberRecord, type MutateOptions, type MutationPlan,
  type MutationResult, type OperatorTokenRecord, type StateSnapshot, type StoredResource,
} from './store.ts';


export class PgStore implements ControllerStore {
  private constructor(
    /** The pool, shared with PgMemberStore and PgLease of this process. */
    readonly sql: Sql,
    private readonly versions: number[],
  ) {}

  /** Connect, apply pending migrations (under an advisory lock), and return the store; StoreError = one line. */
  static async open(url: string, opts: PgPoolOptions & { migrations?: readonly Migration[] } = {}): Promise<PgStore> {
    const target = parseDatabaseUrl(url);
    const sql = await connectPostgres(url, opts);
    try {
      return new PgStore(sql, await migratePostgres(sql, opts.migrations ?? PG_MIGRATIONS));
    } catch (e) {
      await sql.end({ timeout: 1 }).catch(() => undefined);
      if (e instanceof MigrationError) throw new StoreError(e.message);
      throw new StoreError(`cannot prepare the schema: ${explainConnectError(e, target)}`);
    }
  }

  /** Versions applied (for tests and diagnostics). */
  appliedMigrations(): number[] {
    return [...this.versions];
  }

  async currentRevision(): Promise<number> {
    const [{ r }] = await this.sql<{ r: string }[]>`SELECT COALESCE(MAX(revision), 0) AS r FROM revisions`;
    return Number(r);
  }

  async listResources(kind?: ResourceKind): Promise<StoredResource[]> {
    const rows = kind === undefined
      ? await this.sql<ResourceRow[]>`SELECT * FROM resources ORDER BY kind, name`
      : await this.sql<ResourceRow[]>`SELECT * FROM resources WHERE kind = ${kind} ORDER BY name`;
    return rows.map(toResource);
  }

  async getResource(kind: ResourceKind, name: string): Promise<StoredResource | undefined> {
    const [row] = await this.sql<ResourceRow[]>`SELECT * FROM resources WHERE kind = ${kind} AND name = ${name}`;
    return row === undefined ? undefined : toResource(row);
  }

  async mutate<T>(actor: string, plan: (state: StateSnapshot) => MutationPlan<T>, opts: MutateOptions = {}): Promise<MutationResult<T>> {
    return this.sql.begin('ISOLATION LEVEL REPEATABLE READ', async (tx): Promise<MutationResult<T>> => {
      // Before any query: the snapshot of this transaction must be taken after the lock is granted.
      await tx`LOCK TABLE revisions IN EXCLUSIVE MODE`;
      if (opts.fence !== undefined) {
        const { lease, holder } = opts.fence;
        const [held] = await tx`SELECT 1 FROM leases WHERE name = ${lease} AND holder = ${holder} AND expires_at > clock_timestamp()`;
        if (held === undefined) throw new LeaseLostError(`this replica no longer holds the '${lease}' lease: nothing written`);
      }
      const [{ r }] = await tx<{ r: string }[]>`SELECT COALESCE(MAX(revision), 0) AS r FROM revisions`;
      const state: StateSnapshot = {
        currentRevision: Number(r),
        resources: (await tx<ResourceRow[]>`SELECT * FROM resources ORDER BY kind, name`).map(toResource),
        agents: (await tx<FleetRow[]>`SELECT * FROM agents ORDER BY name`).map(toAgentRecord),
      };
      const { writes, value } = plan(state);
      if (writes.length === 0) return { revision: null, currentRevision: state.currentRevision, value };
      const time = new Date();
      const [{ revision: rev }] = await tx<{ revision: string }[]>`INSERT INTO revisions (actor, created_at) VALUES (${actor}, ${time}) RETURNING revision`;
      const revision = Number(rev);
      // Issued together: postgres.js pipelines them on the transaction's connection, in this order.
      await Promise.all(writes.flatMap((w) => [
        w.after === undefined
          ? tx`DELETE FROM resources WHERE kind = ${w.kind} AND name = ${w.name}`
          : tx`INSERT INTO resources (kind, name, doc, sealed, hash, revision, created_revision, updated_at)
              VALUES (${w.kind}, ${w.name}, ${JSON.stringify(w.after.doc)}, ${w.after.sealed}, ${w.after.hash}, ${revision}, ${revision}, ${time})
              ON CONFLICT (kind, name) DO UPDATE SET doc = excluded.doc, sealed = excluded.sealed, hash = excluded.hash, revision = excluded.revision, updated_at = excluded.updated_at`,
        tx`INSERT INTO audit (revision, actor, time, action, kind, name, before_hash, after_hash)
            VALUES (${revision}, ${actor}, ${time}, ${w.action}, ${w.kind}, ${w.name}, ${w.beforeHash}, ${w.after?.hash ?? null})`,
      ]));
      return { revision, currentRevision: revision, value };
    }) as Promise<MutationResult<T>>;
  }

  async history(opts: { limit: number; before?: number }): Promise<AuditEntry[]> {
    const rows = opts.before === undefined
      ? await this.sql<AuditRow[]>`SELECT * FROM audit ORDER BY id DESC LIMIT ${opts.limit}`
      : await this.sql<AuditRow[]>`SELECT * FROM audit WHERE id < ${opts.before} ORDER BY id DESC LIMIT ${opts.limit}`;
    return rows.map(toAuditEntry);
  }

  async insertOperatorToken(t: OperatorTokenRecord, actor: string): Promise<boolean> {
    return this.sql.begin(async (tx) => {
      const time = new Date();
      // ON CONFLICT: two replicas creating the same name (e.g. `admin` at first start) — exactly one wins.
      const inserted = await tx`INSERT INTO operator_tokens (id, name, role, hash, created_at, created_by, expires_at)
        VALUES (${t.id}, ${t.name}, ${t.role}, ${t.hash}, ${time}, ${actor}, ${t.expiresAt}) ON CONFLICT DO NOTHING RETURNING id`;
      if (inserted.length === 0) return false;
      await tx`INSERT INTO audit (revision, actor, time, action, kind, name) VALUES (NULL, ${actor}, ${time}, 'token.created', 'OperatorToken', ${t.name})`;
      return true;
    }) as Promise<boolean>;
  }

  async findOperatorToken(id: string): Promise<OperatorTokenRecord | undefined> {
    const [r] = await this.sql<{ id: string; name: string; role: string; hash: string; expires_at: Date | null; revoked_at: Date | null }[]>`
      SELECT id, name, role, hash, expires_at, revoked_at FROM operator_tokens WHERE id = ${id}`;
    return r === undefined ? undefined : { id: r.id, name: r.name, role: r.role as OperatorRole, hash: r.hash, expiresAt: isoTimeOrNull(r.expires_at), revokedAt: isoTimeOrNull(r.revoked_at) };
  }

  async insertEnrollmentToken(t: EnrollmentTokenRecord, actor: string): Promise<void> {
    await this.sql.begin(async (tx) => {
      const time = new Date();
      await tx`INSERT INTO enrollment_tokens (id, kind, labels, uses_left, hash, created_at, created_by, expires_at)
        VALUES (${t.id}, ${t.kind satisfies MemberKind}, ${JSON.stringify(t.labels)}, ${t.usesLeft}, ${t.hash}, ${time}, ${actor}, ${t.expiresAt})`;
      await tx`INSERT INTO audit (revision, actor, time, action, kind, name) VALUES (NULL, ${actor}, ${time}, 'token.created', 'EnrollmentToken', ${t.id})`;
    });
  }

  async appendAudit(actor: string, action: string, kind: string, name: string): Promise<void> {
    await this.sql`INSERT INTO audit (revision, actor, time, action, kind, name) VALUES (NULL, ${actor}, ${new Date()}, ${action}, ${kind}, ${name})`;
  }

  async listAgents(): Promise<AgentRecord[]> {
    return (await this.sql<FleetRow[]>`SELECT * FROM agents ORDER BY name`).map(toAgentRecord);
  }

  async upsertAgent(a: AgentRecord): Promise<void> {
    await this.sql`INSERT INTO agents (name, labels, state, enrolled_at, last_seen) VALUES (${a.name}, ${JSON.stringify(a.labels)}, ${a.state}, ${a.enrolledAt}, ${a.lastSeen})
      ON CONFLICT (name) DO UPDATE SET labels = excluded.labels, state = excluded.state, last_seen = excluded.last_seen`;
  }

  async listGatewayMembers(): Promise<GatewayMemberRecord[]> {
    return (await this.sql<FleetRow[]>`SELECT * FROM gateway_members ORDER BY name`).map((r) => ({ ...toAgentRecord(r), url: r.url ?? null }));
  }

  async getMeta(key: string): Promise<string | undefined> {
    const [r] = await this.sql<{ value: string }[]>`SELECT value FROM meta WHERE key = ${key}`;
    return r?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.sql`INSERT INTO meta (key, value) VALUES (${key}, ${value}) ON CONFLICT (key) DO UPDATE SET value = excluded.value`;
  }

  async claimMeta(key: string, value: string): Promise<string> {
    await this.sql`INSERT INTO meta (key, value) VALUES (${key}, ${value}) ON CONFLICT (key) DO NOTHING`;
    const stored = await this.getMeta(key);
    if (stored === undefined) throw new StoreError(`meta ${key} vanished right after it was written`);
    return stored;
  }

  async dispose(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}
