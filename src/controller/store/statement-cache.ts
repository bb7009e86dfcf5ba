/**
 * better-sqlite3 compiles SQL on every `prepare`; on the controller's hot paths (a report per member every
 * heartbeat, credential checks on connect) compiling cost as much as running. Statements are kept by their
 * text — a small, fixed set, since table names are the only interpolated parts.
 */
import type Database from 'better-sqlite3';

export function statementCache(db: Database.Database): (sql: string) => Database.Statement {
  const cache = new Map<string, Database.Statement>();
  return (sql) => {
    let st = cache.get(sql);
    if (st === undefined) {
      st = db.prepare(sql);
      cache.set(sql, st);
    }
    return st;
  };
}
