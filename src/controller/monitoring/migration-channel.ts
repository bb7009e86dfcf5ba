/**
 * SQLite migration 5 (monitoring): which controller replica holds each member's channel, written with every
 * report and cleared when that replica sees the channel close — so any replica can say whether a member is
 * connected, not only the one it is connected to.
 */
import type { Migration } from '../store/sqlite-migrations.ts';

export const CHANNEL_REPLICA_MIGRATION: Migration = {
  version: 5,
  name: 'members: channel replica (monitoring)',
  sql: `
    ALTER TABLE members ADD COLUMN channel_replica TEXT;
  `,
};
