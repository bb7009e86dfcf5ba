/**
 * SQLite migration 3 (monitoring): the last report of each member, kept as the JSON of its `report` frame so
 * the health of a member can be computed at read time on any replica (no sweeper). `last_seen` (migration 2)
 * is the time that report arrived; `state` holds the state the report alone implied when it arrived.
 */
import type { Migration } from '../store/sqlite-migrations.ts';

export const MONITORING_MIGRATION: Migration = {
  version: 3,
  name: 'members: last report (monitoring)',
  sql: `
    ALTER TABLE members ADD COLUMN last_report TEXT;
  `,
};
