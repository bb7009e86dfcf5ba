/**
 * Test helper: a fresh PostgreSQL database per test, made from FUSTOR_TEST_DATABASE_URL (a URL whose role
 * may CREATE DATABASE; CI sets it, see .ci/run). Without the variable the PostgreSQL tests are skipped with
 * `PG_SKIP` as the reason, so a machine without PostgreSQL still runs the rest of the suite.
 *
 *   test('…', { skip: PG_SKIP }, async (t) => {
 *     const defer = deferrals(t);                  // cleanups run last-in first-out after the test
 *     const db = await freshDatabase(defer);       // postgres://…/fustor_t_<random>, dropped after the test
 *   });
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

const ADMIN_URL = process.env.FUSTOR_TEST_DATABASE_URL ?? '';

export const PG_SKIP: string | false = ADMIN_URL === ''
  ? 'FUSTOR_TEST_DATABASE_URL is not set: set it to a PostgreSQL URL whose role may create databases (e.g. postgres://postgres@127.0.0.1:5432/postgres) to run the PostgreSQL tests'
  : false;

export interface TestDatabase { url: string; name: string; drop(): Promise<void> }

function admin(): postgres.Sql {
  return postgres(ADMIN_URL, { max: 1, onnotice: () => undefined, connect_timeout: 10 });
}

export type Defer = (fn: () => unknown) => void;

/** Cleanups of one test, run after it in reverse order of registration (stop the replicas, then drop). */
export function deferrals(t: { after(fn: () => Promise<void>): void }): Defer {
  const stack: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of stack.reverse()) {
      try {
        await fn();
      } catch {
        // Every cleanup runs, even after one failed.
      }
    }
  });
  return (fn) => { stack.push(fn); };
}

/** Creates `fustor_t_<random>`; `defer` gets its drop (which forces out connections of killed processes). */
export async function freshDatabase(defer?: Defer): Promise<TestDatabase> {
  const name = `fustor_t_${randomBytes(6).toString('hex')}`;
  const sql = admin();
  try {
    await sql.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await sql.end();
  }
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  const db: TestDatabase = {
    url: u.toString(),
    name,
    async drop() {
      const s = admin();
      try {
        await s.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await s.end();
      }
    },
  };
  defer?.(() => db.drop());
  return db;
}
