/**
 * `fustor controller migrate --data-dir DIR --database postgres://…`: moves a controller from its embedded
 * SQLite store (DIR/controller.db, DIR/secret-key, DIR/signing-key.json) to an EMPTY PostgreSQL database, after
 * which replicas start with `fustor controller --database URL --secret-key-file DIR/secret-key`.
 *
 * What it guarantees:
 *
 * - **All or nothing.** The schema (the ordinary PostgreSQL migrations, under their advisory lock, so a replica
 *   started meanwhile waits and then finds the copied state), the emptiness check and the copy of every table
 *   are ONE PostgreSQL transaction. Any failure — including "the target is not empty" — rolls all of it back.
 * - **Nothing written before every check passed, and never to the SQLite side.** Refused with one line (cause
 *   and fix) and nothing written: a DIR without controller.db, a file that is not a controller database or is
 *   at another schema version than this fustor writes, a database file open in another process (a running
 *   controller: stop it first), a secret-key file other than the one the database was written with, an
 *   unreadable signing key, an unreachable or unusable PostgreSQL (the one-line errors of `--database`), a
 *   target that already holds controller state (a row in any table copied into).
 *   The SQLite file is read through a READ-ONLY connection, in one read transaction (a consistent snapshot).
 *   Before it, a normal connection checks that no other process has the file open: it asks for an exclusive
 *   lock (`locking_mode=EXCLUSIVE` + `BEGIN EXCLUSIVE`, no wait), which a WAL database refuses while any other
 *   connection is open — also an idle one — then rolls back and closes (which only checkpoints the WAL).
 * - **Same identity on the other side.** Rows keep their ids, revision numbers, audit ids, times and hashes,
 *   so history, tokens (stored hashed), enrollment tokens, members and their public keys carry over. The
 *   identity sequences of `revisions` and `audit` are set past the copied rows (and past SQLite's AUTOINCREMENT
 *   high-water mark): the next apply gets the last SQLite revision + 1 and audit ids continue.
 * - **Keys.** Sealed Secrets are copied as they are, so they open with the same secret key; the database
 *   records that key's fingerprint (`meta.secret_key_id`, checked against the file first), so replicas started
 *   with `--secret-key-file DIR/secret-key` accept it and any other key is refused as usual. The credential-
 *   signing keys of DIR/signing-key.json (the whole ring, with its rotation times) are sealed under that key
 *   into `meta.signing_key`, where replicas read them (identity/signing-key.ts, MetaKeyringStorage): the JWKS
 *   and every credential issued by the SQLite controller stay valid.
 *
 * Copied: meta (every key; `secret_key_id` verified, `signing_key` built from the file; `gitops_last_applied`
 * as it is — it names revisions, which keep their numbers), revisions, resources, audit, operator_tokens,
 * enrollment_tokens, agents, gateway_members, members (with last_report; channel_replica reset to NULL: it
 * named the SQLite controller's process, and no channel survives the move), member_commands.
 * Not copied: `used_proofs` (ids of renewal proofs already used — replay protection for proofs that expire
 * within minutes; the controller is down for longer than that during a move), `leases` (PostgreSQL only;
 * replicas elect a leader at start), `schema_migrations` (written by the PostgreSQL migrations).
 * DIR itself is left as it was: a rollback is starting the SQLite controller again.
 */
import Database from 'better-sqlite3';
import type postgres from 'postgres';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SecretBox, SecretKeyError } from '../crypto/secret-box.ts';
import { FileKeyringStorage, sealRing, SIGNING_KEY_META, type StoredEntry } from '../identity/signing-key.ts';
import { connectPostgres, explainConnectError, parseDatabaseUrl, redactDatabaseUrl } from './pg-connect.ts';
import { applyPostgresMigrations, MigrationError } from './pg-migrations.ts';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.ts';
import { StoreError } from './store.ts';

/** A refusal or failure, phrased as ONE line for the operator (cause and fix). */
export class MigrateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrateError';
  }
}

export interface MigrateToPostgresOptions {
  /** The SQLite controller's data dir. */
  dataDir: string;
  /** `postgres://…` of an empty database (it may lack the schema: the migrations create it). */
  database: string;
  /** The key the SQLite controller ran with (default DIR/secret-key). */
  secretKeyFile?: string;
}

/** The tables copied, in insertion order (references first), with their columns (identical on both sides). */
const TABLES = {
  meta: ['key', 'value'],
  revisions: ['revision', 'actor', 'created_at'],
  resources: ['kind', 'name', 'doc', 'sealed', 'hash', 'revision', 'created_revision', 'updated_at'],
  audit: ['id', 'revision', 'actor', 'time', 'action', 'kind', 'name', 'before_hash', 'after_hash'],
  operator_tokens: ['id', 'name', 'role', 'hash', 'created_at', 'created_by', 'expires_at', 'revoked_at'],
  enrollment_tokens: ['id', 'kind', 'labels', 'uses_left', 'hash', 'created_at', 'created_by', 'expires_at', 'revoked_at'],
  agents: ['name', 'labels', 'state', 'enrolled_at', 'last_seen'],
  gateway_members: ['name', 'labels', 'state', 'url', 'enrolled_at', 'last_seen'],
  members: ['id', 'kind', 'name', 'labels', 'public_jwk', 'jkt', 'state', 'enrolled_at', 'enrollment_token', 'revoked_at', 'last_seen', 'last_report', 'channel_replica'],
  member_commands: ['id', 'member_id', 'kind', 'member', 'command', 'pipe', 'state', 'message', 'actor', 'created_at', 'delivered_at', 'finished_at', 'expires_at'],
} as const satisfies Record<string, readonly string[]>;

export type CopiedTable = keyof typeof TABLES;

/** Primary-key order of each table (a stable copy, and the identity columns ascending). */
const ORDER: Record<CopiedTable, string> = {
  meta: 'key', revisions: 'revision', resources: 'kind, name', audit: 'id', operator_tokens: 'id', enrollment_tokens: 'id',
  agents: 'name', gateway_members: 'name', members: 'id', member_commands: 'id',
};

/** SQLite tables deliberately left behind (see the header; `sqlite_*` are SQLite's own); any other unknown table stops the copy. */
const NOT_COPIED = new Set(['used_proofs', 'schema_migrations']);

/** Identity columns of PostgreSQL (pg-migrations.ts): inserted with OVERRIDING SYSTEM VALUE, then setval. */
const IDENTITY: Partial<Record<CopiedTable, string>> = { revisions: 'revision', audit: 'id' };

/** Rows per INSERT (13 columns at most: far below the 65535 parameters of one statement). */
const BATCH = 500;

export interface MigrationReport {
  dataDir: string;
  /** The target, password redacted. */
  database: string;
  secretKeyFile: string;
  /** Rows copied per table. */
  counts: Record<CopiedTable, number>;
  /** The last revision copied: the next apply on PostgreSQL gets the one after it. */
  currentRevision: number;
  /** Credential-signing keys copied into `meta.signing_key` (0 when DIR had no signing-key.json). */
  signingKeys: number;
  /** Fingerprint of the secret key recorded in the target. */
  secretKeyId: string;
}

type Value = string | number | null;
type Row = Record<string, Value>;

export async function migrateToPostgres(opts: MigrateToPostgresOptions): Promise<MigrationReport> {
  const dataDir = resolve(opts.dataDir);
  const file = join(dataDir, 'controller.db');
  const keyFile = resolve(opts.secretKeyFile ?? join(dataDir, 'secret-key'));
  const target = await checked(() => parseDatabaseUrl(opts.database));
  if (!existsSync(file)) {
    throw new MigrateError(`${dataDir} is not a controller data dir (no controller.db): pass the --data-dir the SQLite controller ran with`);
  }
  assertNotInUse(file);
  const db = openReadOnly(file);
  try {
    db.exec('BEGIN'); // one snapshot for every read below
    checkSchema(db, file);
    const sqliteMeta = new Map((db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
    const box = openSecretKey(keyFile, sqliteMeta.get('secret_key_id'), file);
    const signing = await loadSigningKeys(join(dataDir, 'signing-key.json'));
    const sealedRing = signing === undefined ? undefined : sealRing(signing, box); // as the replicas' own storage seals it
    const meta = new Map(sqliteMeta);
    meta.set('secret_key_id', box.keyId);
    if (sealedRing === undefined) meta.delete(SIGNING_KEY_META);
    else meta.set(SIGNING_KEY_META, sealedRing);

    const sql = await checked(() => connectPostgres(opts.database, { max: 1, applicationName: 'fustor-controller-migrate' }));
    try {
      const counts = await sql.begin(async (tx) => {
        await applyPostgresMigrations(tx);
        await assertEmpty(tx, target.host, target.port, target.database);
        const copied = {} as Record<CopiedTable, number>;
        for (const table of Object.keys(TABLES) as CopiedTable[]) {
          const rows = table === 'meta'
            ? [...meta].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => ({ key, value }))
            : db.prepare(`SELECT ${TABLES[table].join(', ')} FROM ${table} ORDER BY ${ORDER[table]}`).iterate() as Iterable<Row>;
          copied[table] = await copyRows(tx, table, rows, table === 'members' ? (r) => ({ ...r, channel_replica: null }) : (r) => r);
        }
        for (const [table, column] of Object.entries(IDENTITY) as [CopiedTable, string][]) {
          const last = highWaterMark(db, table, column);
          // A fresh identity sequence hands out 1 first: nothing to set when SQLite never used one.
          if (last > 0) await tx`SELECT setval(pg_get_serial_sequence(${table}, ${column}), ${last})`;
        }
        return copied;
      });
      return {
        dataDir, database: redactDatabaseUrl(opts.database), secretKeyFile: keyFile, counts,
        currentRevision: (db.prepare('SELECT COALESCE(MAX(revision), 0) AS r FROM revisions').get() as { r: number }).r,
        signingKeys: signing?.length ?? 0, secretKeyId: box.keyId,
      };
    } catch (e) {
      if (e instanceof MigrateError) throw e;
      if (e instanceof MigrationError) throw new MigrateError(`${e.message}; nothing was copied`);
      if (String((e as { code?: unknown }).code).startsWith('SQLITE')) throw new MigrateError(`cannot read ${file}: ${(e as Error).message}; nothing was copied`);
      throw new MigrateError(`${explainConnectError(e, target)}; nothing was copied (the transaction was rolled back)`);
    } finally {
      await sql.end({ timeout: 5 }).catch(() => undefined);
    }
  } finally {
    db.close();
  }
}

/** A StoreError of the `--database` checks becomes a MigrateError with the same line. */
/** A StoreError (the one-line `--database` errors) becomes the command's own one-line error. */
async function checked<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof StoreError) throw new MigrateError(e.message);
    throw e;
  }
}

/**
 * Refuse while another process has the database open (see the header). The probe is a normal connection:
 * a read-only one cannot take the lock. It changes nothing; closing it as the last connection checkpoints
 * the WAL into the file, as the controller's own close does.
 */
function assertNotInUse(file: string): void {
  let probe: Database.Database | undefined;
  try {
    probe = new Database(file, { fileMustExist: true });
    probe.pragma('busy_timeout = 0');
    probe.pragma('locking_mode = EXCLUSIVE');
    probe.exec('BEGIN EXCLUSIVE');
    probe.exec('ROLLBACK');
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
      throw new MigrateError(`${file} is in use by another process (is the SQLite controller still running?): stop the controller, then run migrate again`);
    }
    throw new MigrateError(`cannot open ${file} (${(e as Error).message}): pass the --data-dir of the SQLite controller`);
  } finally {
    probe?.close();
  }
}

function openReadOnly(file: string): Database.Database {
  try {
    return new Database(file, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new MigrateError(`cannot open ${file} read-only: ${(e as Error).message}`);
  }
}

/** The SQLite schema must be exactly the one this fustor writes, with exactly the tables and columns copied here. */
function checkSchema(db: Database.Database, file: string): void {
  const known = SQLITE_MIGRATIONS.reduce((m, x) => Math.max(m, x.version), 0);
  const tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name));
  if (!tables.has('schema_migrations') || !tables.has('meta')) {
    throw new MigrateError(`${file} is not a controller database (no schema_migrations): pass the --data-dir of the SQLite controller`);
  }
  const version = (db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }).v;
  if (version > known) throw new MigrateError(`${file} is at schema version ${version}, newer than this fustor knows (${known}): run the migrate of the fustor version the controller ran`);
  if (version < known) {
    throw new MigrateError(`${file} is at schema version ${version}, older than this fustor writes (${known}): start this fustor's controller on the data dir once (it upgrades the file), stop it, then run migrate again`);
  }
  // A guard for later schema changes: a table or column this code does not copy must stop it, not be dropped.
  for (const t of tables) {
    if (!NOT_COPIED.has(t) && !t.startsWith('sqlite_') && !Object.hasOwn(TABLES, t)) throw new MigrateError(`${file} has a table "${t}" this migrate does not copy: run the migrate of the fustor version the controller ran`);
  }
  for (const [t, columns] of Object.entries(TABLES)) {
    const have = (db.prepare(`SELECT name FROM pragma_table_info('${t}')`).all() as { name: string }[]).map((r) => r.name).sort();
    if (JSON.stringify(have) !== JSON.stringify([...columns].sort())) {
      throw new MigrateError(`${file}: table "${t}" has columns ${have.join(', ')}; this migrate copies ${columns.join(', ')}: run the migrate of the fustor version the controller ran`);
    }
  }
}

/** The key file must be the one the SQLite database was written with (as the controller checks at start). */
function openSecretKey(keyFile: string, recorded: string | undefined, file: string): SecretBox {
  let box: SecretBox;
  try {
    box = SecretBox.loadOrCreate(keyFile, false, 'pass --secret-key-file PATH naming the key the SQLite controller ran with');
  } catch (e) {
    if (e instanceof SecretKeyError) throw new MigrateError(e.message);
    throw e;
  }
  if (recorded !== undefined && recorded !== box.keyId) {
    throw new MigrateError(`${keyFile} is not the secret key ${file} was written with (its fingerprint is ${recorded}, this file's ${box.keyId}): pass --secret-key-file PATH naming the key the SQLite controller ran with`);
  }
  return box;
}

/** The ring of DIR/signing-key.json, or undefined when there is none (the first replica will then create a key). */
async function loadSigningKeys(path: string): Promise<StoredEntry[] | undefined> {
  if (!existsSync(path)) return undefined; // checked first: FileKeyringStorage.load would create one
  try {
    return await new FileKeyringStorage(path).load();
  } catch (e) {
    throw new MigrateError((e as Error).message);
  }
}

/** Refuse (inside the transaction, so the schema just created rolls back too) a target holding any state. */
async function assertEmpty(tx: postgres.TransactionSql, host: string, port: number, database: string): Promise<void> {
  const tables = [...Object.keys(TABLES), 'used_proofs'];
  const rows = await tx.unsafe<{ t: string }[]>(tables.map((t) => `SELECT '${t}' AS t WHERE EXISTS (SELECT 1 FROM ${t})`).join(' UNION ALL '));
  if (rows.length > 0) {
    throw new MigrateError(`database "${database}" on ${host}:${port} is not empty (rows in ${rows.map((r) => r.t).join(', ')}): nothing was copied; migrate into a new empty database (createdb -h ${host} -p ${port} NAME), or drop this one if nothing in it is needed`);
  }
}

/** Inserts `rows` in batches; returns how many. Identity columns keep their SQLite values. */
async function copyRows(tx: postgres.TransactionSql, table: CopiedTable, rows: Iterable<Row>, map: (r: Row) => Row): Promise<number> {
  const columns: readonly string[] = TABLES[table];
  const head = `INSERT INTO ${table} (${columns.join(', ')})${IDENTITY[table] === undefined ? '' : ' OVERRIDING SYSTEM VALUE'} VALUES `;
  let batch: Value[][] = [];
  let n = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const params = batch.flat();
    const tuples = batch.map((_, i) => `(${columns.map((__, j) => `$${i * columns.length + j + 1}`).join(', ')})`);
    await tx.unsafe(head + tuples.join(', '), params);
    n += batch.length;
    batch = [];
  };
  for (const r of rows) {
    const m = map(r);
    batch.push(columns.map((c) => m[c] ?? null));
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  return n;
}

/** The highest value SQLite handed out for an AUTOINCREMENT column: its sequence, or the largest row. */
function highWaterMark(db: Database.Database, table: string, column: string): number {
  const seq = (db.prepare('SELECT seq FROM sqlite_sequence WHERE name = ?').get(table) as { seq: number } | undefined)?.seq ?? 0;
  const max = (db.prepare(`SELECT COALESCE(MAX(${column}), 0) AS m FROM ${table}`).get() as { m: number }).m;
  return Math.max(seq, max);
}
