/**
 * Schema migrations of the SQLite store: numbered, in code, applied in order inside one transaction at
 * start and recorded in `schema_migrations`. Never edit a released migration; append a new one.
 */
import { COMMANDS_MIGRATION } from '../commands/migration.ts';
import { IDENTITY_MIGRATION } from '../identity/migration.ts';
import { MONITORING_MIGRATION } from '../monitoring/migration.ts';
import { CHANNEL_REPLICA_MIGRATION } from '../monitoring/migration-channel.ts';

export interface Migration { version: number; name: string; sql: string }

export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'resources, revisions, audit, tokens, fleet',
    sql: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      -- AUTOINCREMENT: a revision number is never handed out twice, even after a crash.
      CREATE TABLE revisions (
        revision INTEGER PRIMARY KEY AUTOINCREMENT,
        actor TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE resources (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        doc TEXT NOT NULL,
        sealed TEXT,
        hash TEXT NOT NULL,
        revision INTEGER NOT NULL REFERENCES revisions(revision),
        created_revision INTEGER NOT NULL REFERENCES revisions(revision),
        updated_at TEXT NOT NULL,
        PRIMARY KEY (kind, name)
      );
      CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        revision INTEGER REFERENCES revisions(revision),
        actor TEXT NOT NULL,
        time TEXT NOT NULL,
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
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        expires_at TEXT,
        revoked_at TEXT
      );
      CREATE TABLE enrollment_tokens (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('agent', 'gateway')),
        labels TEXT NOT NULL,
        uses_left INTEGER NOT NULL,
        hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        revoked_at TEXT
      );
      CREATE TABLE agents (
        name TEXT PRIMARY KEY,
        labels TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL DEFAULT 'pending',
        enrolled_at TEXT NOT NULL,
        last_seen TEXT
      );
      CREATE TABLE gateway_members (
        name TEXT PRIMARY KEY,
        labels TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL DEFAULT 'pending',
        url TEXT,
        enrolled_at TEXT NOT NULL,
        last_seen TEXT
      );
    `,
  },
  IDENTITY_MIGRATION,
  MONITORING_MIGRATION,
  COMMANDS_MIGRATION,
  CHANNEL_REPLICA_MIGRATION,
];
