/**
 * SQLite migration 2 (identity): enrolled members with their public key and state, and the proof-of-
 * possession ids already used (replay protection for credential renewal).
 */
import type { Migration } from '../store/sqlite-migrations.ts';

export const IDENTITY_MIGRATION: Migration = {
  version: 2,
  name: 'members, credentials (identity)',
  sql: `
    CREATE TABLE members (
      id TEXT PRIMARY KEY,
      kind TEXT NOT NULL CHECK (kind IN ('agent', 'gateway')),
      name TEXT NOT NULL,
      labels TEXT NOT NULL DEFAULT '{}',
      public_jwk TEXT NOT NULL,
      jkt TEXT NOT NULL,
      state TEXT NOT NULL DEFAULT 'enrolled',
      enrolled_at TEXT NOT NULL,
      enrollment_token TEXT NOT NULL,
      revoked_at TEXT,
      last_seen TEXT,
      UNIQUE (kind, name)
    );
    CREATE TABLE used_proofs (
      jti TEXT PRIMARY KEY,
      member_id TEXT NOT NULL,
      expires_at INTEGER NOT NULL
    );
  `,
};
