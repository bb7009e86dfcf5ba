/**
 * SQLite migration 4 (commands): targeted commands to one member (spec 50), kept in the database so any
 * replica can deliver a command to the member connected to it and any replica can show its outcome.
 */
import type { Migration } from '../store/sqlite-migrations.ts';

export const COMMANDS_MIGRATION: Migration = {
  version: 4,
  name: 'member commands',
  sql: `
    CREATE TABLE member_commands (
      id TEXT PRIMARY KEY,
      member_id TEXT NOT NULL,
      kind TEXT NOT NULL,
      member TEXT NOT NULL,
      command TEXT NOT NULL,
      pipe TEXT,
      state TEXT NOT NULL,
      message TEXT,
      actor TEXT NOT NULL,
      created_at TEXT NOT NULL,
      delivered_at TEXT,
      finished_at TEXT,
      expires_at TEXT NOT NULL
    );
    CREATE INDEX member_commands_open ON member_commands(state, expires_at);
    CREATE INDEX member_commands_by_member ON member_commands(member_id, created_at);
  `,
};
