/**
 * Opening PostgreSQL for the controller (`--database postgres://…`): URL checks, the connection pool, and
 * startup failures phrased as ONE line naming the cause and the fix. The password never appears in a
 * message or a log line: URLs are shown through `redactDatabaseUrl`.
 */
import postgres from 'postgres';
import { StoreError } from './store.ts';

export type Sql = postgres.Sql;

export interface PgTarget { url: string; host: string; port: number; database: string; user: string }

/** The URL with its password (and a `password` query parameter) replaced by `***`. */
export function redactDatabaseUrl(url: string): string {
  // Only a PostgreSQL URL is parsed for sure as user/password/host; of anything else (`user:pw@host` parses as
  // a URL whose "path" is the password) show at most the scheme.
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  const other = scheme === null ? '(value not shown)' : `${scheme[1]}://…`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return other;
  }
  if (scheme === null || (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')) return other;
  if (u.password !== '') u.password = '***';
  if (u.searchParams.has('password')) u.searchParams.set('password', '***');
  return u.toString();
}

/** Checks the form of a `--database` URL; a StoreError (one line) when it is not a PostgreSQL URL. */
export function parseDatabaseUrl(url: string): PgTarget {
  const usage = 'postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new StoreError(`--database ${redactDatabaseUrl(url)}: not a URL: pass ${usage}`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new StoreError(`--database ${redactDatabaseUrl(url)}: only PostgreSQL is supported: pass ${usage} (omit --database for the embedded SQLite store)`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (u.hostname === '' || database === '' || database.includes('/')) throw new StoreError(`--database ${redactDatabaseUrl(url)} names no host or no database: pass ${usage}`);
  const port = u.port === '' ? 5432 : Number(u.port);
  return { url, host: u.hostname, port, database, user: decodeURIComponent(u.username) || (process.env.PGUSER ?? process.env.USER ?? '') };
}

export interface PgPoolOptions {
  /** Connections in the pool (default 10). */
  max?: number;
  /** Seconds to wait for a connection at start (default 10). */
  connectTimeoutSec?: number;
  applicationName?: string;
}

/** Opens a pool and proves it with one query; failures become one StoreError line (cause + fix). */
export async function connectPostgres(url: string, opts: PgPoolOptions = {}): Promise<Sql> {
  const target = parseDatabaseUrl(url);
  const sql = postgres(url, {
    max: opts.max ?? 10,
    connect_timeout: opts.connectTimeoutSec ?? 10,
    idle_timeout: 60,
    // NOTICEs (e.g. "relation already exists, skipping") would go to stdout by default.
    onnotice: () => undefined,
    connection: { application_name: opts.applicationName ?? 'fustor-controller' },
  });
  try {
    await sql`SELECT 1`;
  } catch (e) {
    await sql.end({ timeout: 1 }).catch(() => undefined);
    throw new StoreError(explainConnectError(e, target));
  }
  return sql;
}

/** One line for a failed connection: what happened, at which (redacted) place, and what to do. */
export function explainConnectError(e: unknown, t: PgTarget): string {
  const err = e as { code?: string; message?: string };
  const where = `${t.host}:${t.port}`;
  const fix = 'fix --database (or FUSTOR_CONTROLLER_DATABASE)';
  switch (err.code) {
    case 'ECONNREFUSED':
      return `cannot connect to PostgreSQL at ${where}: connection refused: start PostgreSQL there or ${fix}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot connect to PostgreSQL: host ${t.host} not found: ${fix}`;
    case 'CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `cannot connect to PostgreSQL at ${where}: no answer (${err.code}): check the network and the host/port, or ${fix}`;
    case '28P01':
      return `PostgreSQL at ${where} refused user "${t.user}": password authentication failed: ${fix} with the right user and password`;
    case '28000':
      return `PostgreSQL at ${where} refused user "${t.user}" (${err.message ?? 'not authorized'}): create the role or allow it in pg_hba.conf, or ${fix}`;
    case '3D000':
      return `database "${t.database}" does not exist on ${where}: create it (createdb -h ${t.host} -p ${t.port} ${t.database}) or ${fix}`;
    case '42501':
      return `PostgreSQL user "${t.user}" may not use database "${t.database}" on ${where} (${err.message ?? 'permission denied'}): GRANT it the rights or ${fix}`;
    default:
      return `cannot use PostgreSQL at ${redactDatabaseUrl(t.url)}: ${(err.message ?? String(e)).split('\n')[0]}`;
  }
}
