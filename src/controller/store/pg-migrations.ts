/**
 * Schema migrations of the PostgreSQL store: numbered, in code, recorded in `schema_migrations`. Several
 * replicas may start together on one database, so `migratePostgres` applies them in ONE transaction under a
 * transaction-scoped advisory lock: the second replica waits, then finds nothing left to do. DDL is
 * transactional in PostgreSQL, so a failed migration leaves the schema as it was. Never edit a released
 * migration; append a new one (and keep the SQLite side in step: sqlite-migrations.ts, identity/migration.ts).
 *
 * Differences from SQLite, each on purpose: times are `timestamptz`; identifiers and names are
 * `COLLATE "C"` so `ORDER BY` sorts bytewise as SQLite does; revisions and audit ids are identity columns
 * (a sequence never hands a value out twice, also after a crash); documents stay text (JSON), because
 * `jsonb` would reorder the keys of every stored document.
 */
import type postgres from 'postgres';
import type { Migration } from './sqlite-migrations.ts';

/** Advisory lock keys (two int4): a namespace for Fustor, then the purpose. */
export const ADVISORY_NAMESPACE = 0x46757374; // "Fust"
export const MIGRATION_LOCK = 1;

export const PG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'resources, revisions, audit, tokens, fleet, leases',
    sql: `
      CREATE TABLE meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE revisions (
        revision BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        actor TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
      );
      CREATE TABLE resources (
        kind TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        doc TEXT NOT NULL,
        sealed TEXT,
        hash TEXT NOT NULL,
        revision BIGINT NOT NULL REFERENCES revisions(revision),
        created_revision BIGINT NOT NULL REFERENCES revisions(revision),
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (kind, name)
      );
      CREATE TABLE audit (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        revision BIGINT REFERENCES revisions(revision),
        actor TEXT NOT NULL,
        time TIMESTAMPTZ NOT NULL,
        action TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        before_hash TEXT,
        after_hash TEXT
      );
      CREATE INDEX audit_by_revision ON audit(revision);
      CREATE TABLE operator_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
        hash TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        created_by TEXT NOT NULL,
        expires_at TIMESTAMPTZ,
        revoked_at TIMESTAMPTZ
      );
      CREATE TABLE enrollment_tokens (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('agent', 'gateway')),
        labels TEXT NOT NULL,
        uses_left INTEGER NOT NULL,
        hash TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        created_by TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        revoked_at TIMESTAMPTZ
      );
      CREATE TABLE agents (
        name TEXT COLLATE "C" PRIMARY KEY,
        labels TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL DEFAULT 'pending',
        enrolled_at TIMESTAMPTZ NOT NULL,
        last_seen TIMESTAMPTZ
      );
      CREATE TABLE gateway_members (
        name TEXT COLLATE "C" PRIMARY KEY,
        labels TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL DEFAULT 'pending',
        url TEXT,
        enrolled_at TIMESTAMPTZ NOT NULL,
        last_seen TIMESTAMPTZ
      );
      -- Leases (store/lease.ts): taken and renewed by compare-and-set against the database clock.
      CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        acquired_at TIMESTAMPTZ NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'members, credentials (identity), last report (monitoring)',
    sql: `
      CREATE TABLE members (
        id TEXT PRIMARY KEY,
        kind TEXT COLLATE "C" NOT NULL CHECK (kind IN ('agent', 'gateway')),
        name TEXT COLLATE "C" NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}',
        public_jwk TEXT NOT NULL,
        jkt TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'enrolled',
        enrolled_at TIMESTAMPTZ NOT NULL,
        enrollment_token TEXT NOT NULL,
        revoked_at TIMESTAMPTZ,
        last_seen TIMESTAMPTZ,
        -- JSON of the member's last report frame (monitoring; SQLite migration 3).
        last_report TEXT,
        UNIQUE (kind, name)
      );
      CREATE TABLE used_proofs (
        jti TEXT PRIMARY KEY,
        member_id TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX used_proofs_by_expiry ON used_proofs(expires_at);
    `,
  },
  {
    version: 3,
    name: 'member commands',
    sql: `
      -- Targeted commands to one member (SQLite migration 4).
      CREATE TABLE member_commands (
        id TEXT PRIMARY KEY,
        member_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        member TEXT COLLATE "C" NOT NULL,
        command TEXT NOT NULL,
        pipe TEXT,
        state TEXT NOT NULL,
        message TEXT,
        actor TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        delivered_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        expires_at TIMESTAMPTZ NOT NULL
      );
      CREATE INDEX member_commands_open ON member_commands(state, expires_at);
      CREATE INDEX member_commands_by_member ON member_commands(member_id, created_at);
    `,
  },
  {
    version: 4,
    name: 'members: channel replica (monitoring)',
    sql: `
      -- Which replica holds each member's channel (SQLite migration 5).
      ALTER TABLE members ADD COLUMN channel_replica TEXT;
    `,
  },
];

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

/** Apply the pending migrations (see the header); returns the versions now applied. */
export async function migratePostgres(sql: postgres.Sql, migrations: readonly Migration[] = PG_MIGRATIONS): Promise<number[]> {
  return sql.begin((tx) => applyPostgresMigrations(tx, migrations));
}

/**
 * The body of `migratePostgres`, inside a transaction the caller owns (`fustor controller migrate` creates the
 * schema and copies the data in one): takes the migration lock for the rest of that transaction, applies what
 * is pending, returns the versions applied.
 */
export async function applyPostgresMigrations(tx: postgres.TransactionSql, migrations: readonly Migration[] = PG_MIGRATIONS): Promise<number[]> {
  const known = migrations.reduce((m, x) => Math.max(m, x.version), 0);
  await tx`SELECT pg_advisory_xact_lock(${ADVISORY_NAMESPACE}, ${MIGRATION_LOCK})`;
  await tx`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`;
  const [{ v: applied }] = await tx<{ v: number }[]>`SELECT COALESCE(MAX(version), 0)::int AS v FROM schema_migrations`;
  if (applied > known) throw new MigrationError(`the database is at schema version ${applied}, newer than this controller knows (${known}): run a newer fustor`);
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (m.version <= applied) continue;
    await tx.unsafe(m.sql);
    await tx`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${m.version}, ${m.name}, now())`;
  }
  const rows = await tx<{ version: number }[]>`SELECT version FROM schema_migrations ORDER BY version`;
  return rows.map((r) => r.version);
}
