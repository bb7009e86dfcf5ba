/**
 * better-sqlite3 compiles SQL on every `prepare`; on the controller's hot paths (a report per member every
 * heartbeat, credential checks on connect) compiling cost as much as running. Statements are kept by their
 * text — a small, fixed set, since table names are the only interpolated parts. Also: the side connections
 * of the member and command stores.
 */
import Database from 'better-sqlite3';

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

/**
 * A second connection to the controller database, for a store that lives beside the resource store (members,
 * commands): WAL lets it read while the other writes; writers wait up to 5 s for the lock instead of failing.
 */
export function openSideConnection(file: string): { db: Database.Database; sql: (text: string) => Database.Statement } {
  const db = new Database(file);
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  return { db, sql: statementCache(db) };
}
