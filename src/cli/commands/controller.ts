/**
 * `fustor controller [--data-dir DIR] [--host H] [--port N] [--log-format json|pretty] [--git REPO[#branch[:dir]]]
 * [--database postgres://…] [--secret-key-file PATH] [--tls-cert FILE --tls-key FILE]` — the control plane
 * (spec 50). Composition root of src/controller. On first start it creates the admin token, writes it to
 * DIR/admin-token (0600) and prints it once; prints `controller listening on http(s)://HOST:PORT` when ready
 * (the real port, also with `--port 0`; https with `--tls-cert`/`--tls-key`);
 * exits non-zero with one line on a bad flag or a startup failure; SIGTERM/SIGINT stop cleanly (exit 0).
 * With `--database` (or FUSTOR_CONTROLLER_DATABASE, which keeps the password out of `ps`) several replicas
 * share one PostgreSQL database; the URL is only ever shown with its password redacted.
 *
 * `fustor controller migrate [--data-dir DIR] --database postgres://… [--secret-key-file PATH]` copies a stopped
 * SQLite controller's state into an empty PostgreSQL database (controller/store/migrate-to-postgres.ts), prints
 * what it copied and how to start the replicas, or exits non-zero with one line and nothing written.
 */
import { installShutdown } from '../shutdown.ts';
import { httpUrlParser, parsePort } from '../option-parsers.ts';
import { addTlsOptions, tlsFromFlags, watchTls, type TlsFlags } from '../tls-options.ts';
import { Command, InvalidArgumentError, Option } from 'commander';
import { join } from 'node:path';
import { createLogger } from '../../kernel/logger.ts';
import { Controller, ControllerStartError } from '../../controller/controller.ts';
import { parseDatabaseUrl, redactDatabaseUrl } from '../../controller/store/pg-connect.ts';
import { MigrateError, migrateToPostgres, type MigrationReport } from '../../controller/store/migrate-to-postgres.ts';
import { TlsFileError, tlsReloadIntervalMs, type TlsMaterial } from '../../kernel/tls-files.ts';
import { fustorHome } from '../profile.ts';

interface ControllerFlags extends TlsFlags {
  dataDir?: string;
  host: string;
  port: number;
  database?: string;
  secretKeyFile?: string;
  publicUrl?: string;
  git?: string;
  gitInterval: number;
  logFormat?: 'json' | 'pretty';
}

export const DEFAULT_CONTROLLER_PORT = 8100;

const SHUTDOWN_GRACE_MS = 10_000;


function parseInterval(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a whole number of seconds, at least 1');
  return Number(value);
}

export function registerController(program: Command): Command {
  const cmd = program
    .command('controller')
    // Bad flags: one line (the contract), not the line plus a usage hint.
    .showHelpAfterError(false)
    .description('run the controller: desired state, revisions, audit log, operator and enrollment tokens')
    .option('--data-dir <dir>', 'state directory (database, secret key, admin token); default $FUSTOR_HOME/controller')
    .option('--host <host>', 'address to listen on (use 0.0.0.0 to serve other hosts)', '127.0.0.1')
    .option('--port <n>', `port of the management API (0 = any free port)`, parsePort, DEFAULT_CONTROLLER_PORT)
    .option('--database <url>', 'PostgreSQL URL (postgres://USER[:PASSWORD]@HOST[:PORT]/DB): replicas share this database; default $FUSTOR_CONTROLLER_DATABASE, else SQLite in --data-dir')
    .option('--secret-key-file <path>', 'the key that encrypts Secrets (the same file on every replica); default $FUSTOR_CONTROLLER_SECRET_KEY_FILE, else DIR/secret-key')
    .option('--public-url <url>', 'the URL gateways and agents reach this controller at (e.g. a load balancer in front of replicas); gateway manifests trust its /api/v1/jwks. Default: the listening URL', httpUrlParser('https://fustor-controller.example'))
    .option('--git <repo[#branch[:dir]]>', 'Git repository as the source of truth of Gateways, Views and Pipes (default branch: the remote HEAD; dir: the root)')
    .option('--git-interval <seconds>', 'how often to fetch the --git branch', parseInterval, 30)
    .addOption(new Option('--log-format <format>', 'log lines as JSON or pretty (default: pretty on a TTY, JSON otherwise)').choices(['json', 'pretty']));
  addTlsOptions(cmd, 'the management API and the member channel (wss://)')
    .action(async (flags: ControllerFlags) => {
      await runController(flags);
    });
  // The flags are declared again for `migrate --help`; commander hands those written after `migrate` to the
  // parent command (it knows them too), so the action reads both.
  cmd
    .command('migrate')
    .description('copy the state of a stopped SQLite controller (--data-dir) into an empty PostgreSQL database (--database), in one transaction, for replicas')
    .option('--data-dir <dir>', 'the SQLite controller\'s state directory; default $FUSTOR_HOME/controller')
    .option('--database <url>', 'the EMPTY PostgreSQL database (postgres://USER[:PASSWORD]@HOST[:PORT]/DB); default $FUSTOR_CONTROLLER_DATABASE')
    .option('--secret-key-file <path>', 'the key the SQLite controller ran with; default $FUSTOR_CONTROLLER_SECRET_KEY_FILE, else DIR/secret-key')
    .action(async (own: MigrateFlags) => {
      await runMigrate(cmd, own);
    });
  return cmd;
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

function fail(message: string): never {
  process.stderr.write(`fustor: ${message}\n`);
  process.exit(1);
}

interface MigrateFlags { dataDir?: string; database?: string; secretKeyFile?: string }

const MIGRATE_FLAGS = new Set(['dataDir', 'database', 'secretKeyFile']);

async function runMigrate(controller: Command, own: MigrateFlags): Promise<void> {
  const parent = controller.opts<ControllerFlags>();
  // Flags of the running controller (--port, --git, …) mean nothing here: say so rather than ignore them.
  const stray = controller.options.filter((o) => !MIGRATE_FLAGS.has(o.attributeName()) && controller.getOptionValueSource(o.attributeName()) === 'cli');
  if (stray.length > 0) fail(`controller migrate takes only --data-dir, --database and --secret-key-file, not ${stray.map((o) => o.long ?? o.flags).join(', ')}`);
  const dataDir = own.dataDir ?? parent.dataDir ?? join(fustorHome(), 'controller');
  const database = own.database ?? parent.database ?? nonEmpty(process.env.FUSTOR_CONTROLLER_DATABASE);
  const secretKeyFile = own.secretKeyFile ?? parent.secretKeyFile ?? nonEmpty(process.env.FUSTOR_CONTROLLER_SECRET_KEY_FILE);
  if (database === undefined) fail('controller migrate needs --database postgres://USER[:PASSWORD]@HOST[:PORT]/DB (or FUSTOR_CONTROLLER_DATABASE): the empty PostgreSQL database to copy into');
  let report: MigrationReport;
  try {
    report = await migrateToPostgres({ dataDir, database, secretKeyFile });
  } catch (e) {
    if (e instanceof MigrateError) fail(e.message);
    throw e;
  }
  const c = report.counts;
  const n = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;
  const keys = report.signingKeys === 0 ? 'no signing key (none in the data dir: the first replica creates one)' : n(report.signingKeys, 'signing key');
  process.stdout.write(`copied ${n(c.resources, 'resource')}, ${n(c.revisions, 'revision')} (current: ${report.currentRevision}), ${n(c.audit, 'audit entry', 'audit entries')}, `
    + `${n(c.operator_tokens, 'operator token')}, ${n(c.enrollment_tokens, 'enrollment token')}, ${n(c.members, 'member')}, `
    + `${n(c.agents + c.gateway_members, 'fleet row')}, ${n(c.member_commands, 'command')}, ${keys} and the secret-key fingerprint `
    + `from ${report.dataDir} to ${report.database}\n`);
  const password = report.database === database ? '' : ' (with the real password, or FUSTOR_CONTROLLER_DATABASE)';
  process.stdout.write(`start the replicas with: fustor controller --database ${report.database} --secret-key-file ${report.secretKeyFile}${password}; `
    + 'keep the SQLite controller stopped\n');
}

async function runController(flags: ControllerFlags): Promise<void> {
  const dataDir = flags.dataDir ?? join(fustorHome(), 'controller');
  const database = flags.database ?? nonEmpty(process.env.FUSTOR_CONTROLLER_DATABASE);
  const secretKeyFile = flags.secretKeyFile ?? nonEmpty(process.env.FUSTOR_CONTROLLER_SECRET_KEY_FILE);
  if (database !== undefined) {
    try {
      parseDatabaseUrl(database); // a malformed URL fails before anything touches the data dir
    } catch (e) {
      fail((e as Error).message);
    }
  }
  let tls: TlsMaterial | undefined;
  let tlsReloadMs: number;
  try {
    tls = tlsFromFlags(flags); // also before the data dir: a wrong file is an operator error, one line
    tlsReloadMs = tlsReloadIntervalMs();
  } catch (e) {
    if (e instanceof TlsFileError) fail(e.message);
    throw e;
  }
  const log = createLogger({ format: flags.logFormat ?? 'auto', name: 'controller' });
  let controller: Controller;
  try {
    const git = flags.git === undefined ? undefined : { source: flags.git, intervalSeconds: flags.gitInterval };
    controller = await Controller.start({ dataDir, host: flags.host, port: flags.port, log, git, database, secretKeyFile, tls, ...(flags.publicUrl === undefined ? {} : { publicUrl: flags.publicUrl }) });
  } catch (e) {
    if (e instanceof ControllerStartError) fail(e.message);
    // FUSTOR_CONTROLLER_LEASE_TTL_SEC and the like: a bad tunable is an operator error, one line.
    if (e instanceof Error && /^FUSTOR_[A-Z_]+ must be/.test(e.message)) fail(e.message);
    throw e;
  }
  const c = controller;
  if (c.adminToken !== null) {
    process.stdout.write(`admin token (shown once; also written to ${c.adminTokenFile}): ${c.adminToken}\n`);
  }
  log.info({
    url: c.url, dataDir, revision: await c.store.currentRevision(), replica: c.replica, leader: c.lease.held(),
    store: database === undefined ? 'sqlite' : redactDatabaseUrl(database),
  }, 'controller ready');

  const stopTlsWatch = watchTls(tls, tlsReloadMs, log, (m) => c.setTls(m));
  installShutdown(log, () => { stopTlsWatch(); return c.dispose(); }, { graceMs: SHUTDOWN_GRACE_MS });
  // Printed after the handlers exist: a supervisor may signal the moment it reads this line.
  process.stdout.write(`controller listening on ${c.url}\n`);
}
