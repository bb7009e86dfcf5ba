/**
 * `fustor fusion --config DIR [--host H] [--port N] [--log-format json|pretty]` — the standalone gateway
 * (spec 00 command-line contract). Composition root of src/fusion: config loader + Gateway + signals.
 * Prints `fusion listening on http://HOST:PORT` when ready (the real port, also with `--port 0`); exits
 * non-zero with one line on a bad flag, bad config or a busy port; SIGHUP reloads; SIGTERM/SIGINT stop
 * cleanly (exit 0). `--tls-cert FILE --tls-key FILE` (or `tls:` in the config; the flags win) serve every
 * listener over HTTPS, and the printed URLs say https://; both modes.
 *
 * `fustor fusion --controller URL [--token T] [--name N] [--advertise-url URL] [--state-dir DIR] [--host H]
 * [--port N]` — the managed gateway (spec 50): enrolls with the enrollment token on first start (identity,
 * manifest cache and the controller's public keys live in STATE_DIR, default `$FUSTOR_HOME/fusion`), then
 * runs what the controller's manifests say; starts from the cached manifest when the controller is down.
 * Prints `managed by URL as gateway NAME`, then the same ready line as standalone. A revoked gateway exits 1.
 * FUSTOR_MEMBER_RECONNECT_MAX_MS caps the channel's reconnect backoff (default 30 s).
 */
import { installShutdown } from '../shutdown.ts';
import { httpUrlParser, parsePort } from '../option-parsers.ts';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { createLogger, type Logger } from '../../kernel/logger.ts';
import { MemberStartError } from '../../kernel/member/managed-member.ts';
import { FUSTOR_VERSION } from '../../kernel/version.ts';
import { ConfigError, loadConfigDir } from '../../fusion/config/load-config.ts';
import { Gateway } from '../../fusion/gateway.ts';
import { ListenError } from '../../fusion/http/listeners.ts';
import { ManagedGateway } from '../../fusion/managed/managed-gateway.ts';
import type { ConfigDiff } from '../../fusion/config/diff-config.ts';
import { TlsFileError, loadTlsFiles, tlsReloadIntervalMs, type TlsMaterial } from '../../kernel/tls-files.ts';
import { fustorHome } from '../profile.ts';
import { addTlsOptions, tlsFromFlags, watchTls, type TlsFlags } from '../tls-options.ts';

const httpUrl = httpUrlParser('http://controller.example:8100');

interface FusionFlags extends TlsFlags {
  config?: string;
  controller?: string;
  token?: string;
  name?: string;
  advertiseUrl?: string;
  stateDir?: string;
  host?: string;
  port?: number;
  logFormat?: 'json' | 'pretty';
}

const SHUTDOWN_GRACE_MS = 10_000;



export function registerFusion(program: Command): Command {
  const cmd = program
    .command('fusion')
    .description('run a Fusion gateway: ingest from agents, serve queries (standalone: --config DIR; managed: --controller URL)')
    .option('--config <dir>', 'directory of *.yaml gateway configuration files (merged in file-name order)')
    .option('--controller <url>', 'managed mode: the controller that configures this gateway', httpUrl)
    .option('--token <token>', 'managed mode: enrollment token (first start only; from `fustor ctl token create --kind gateway`)')
    .option('--name <name>', 'managed mode: name to enroll as (the Gateway resource of the same name configures it)')
    .option('--advertise-url <url>', 'managed mode: URL agents should push to, reported to the controller (default: the listening URL)', httpUrl)
    .option('--state-dir <dir>', 'managed mode: identity, manifest cache, controller keys (default: $FUSTOR_HOME/fusion)')
    .option('--host <host>', 'address of the main listener (overrides `host:` of the config)')
    .option('--port <n>', 'main port: query API and ingest API (overrides `port:`; 0 = any free port)', parsePort)
    .addOption(new Option('--log-format <format>', 'log lines as JSON or pretty (default: pretty on a TTY, JSON otherwise)').choices(['json', 'pretty']));
  return addTlsOptions(cmd, 'the query and ingest APIs (every listener; overrides `tls:` of the config)')
    .action(async (flags: FusionFlags) => {
      await runFusion(flags);
    });
}

function fail(message: string): never {
  process.stderr.write(`fustor: ${message}\n`);
  process.exit(1);
}

async function runFusion(flags: FusionFlags): Promise<void> {
  if (flags.config !== undefined && flags.controller !== undefined) {
    fail('--config (standalone) and --controller (managed) exclude each other: a managed gateway takes its configuration from the controller');
  }
  // Before anything else (a managed gateway would otherwise spend its enrollment token first).
  let tls = readTls(() => tlsFromFlags(flags));
  const tlsReloadMs = readTls(() => tlsReloadIntervalMs());
  if (flags.controller !== undefined) return runManaged(flags, flags.controller, tls, tlsReloadMs);
  const managedOnly = (['token', 'name', 'advertiseUrl', 'stateDir'] as const).filter((f) => flags[f] !== undefined);
  if (managedOnly.length > 0) fail(`${managedOnly.map((f) => `--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} ${managedOnly.length === 1 ? 'applies' : 'apply'} only to a managed gateway: add --controller URL`);
  if (flags.config === undefined) fail('fusion needs --config DIR (standalone mode) or --controller URL (managed mode); see fustor fusion --help');
  const configDir = flags.config;
  let loaded;
  try {
    loaded = loadConfigDir(configDir);
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
  const fromConfig = loaded.config.tls;
  if (tls === undefined && fromConfig !== undefined) {
    // Relative to the config directory, like the rest of the config: the gateway's cwd is incidental.
    tls = readTls(() => loadTlsFiles({ file: resolve(configDir, fromConfig.certFile), setting: 'tls.cert_file' }, { file: resolve(configDir, fromConfig.keyFile), setting: 'tls.key_file' }));
  }
  const log = createLogger({ format: flags.logFormat ?? 'auto', name: 'fusion' });
  for (const w of loaded.warnings) log.warn({ files: loaded.files }, w);

  let gateway: Gateway;
  try {
    gateway = await Gateway.start({ config: loaded.config, log, host: flags.host, port: flags.port, tls });
  } catch (e) {
    if (e instanceof ListenError) fail(e.message);
    throw e;
  }
  const gw = gateway;
  log.info({ url: gw.url, files: loaded.files, views: [...loaded.config.views.keys()], pipes: [...loaded.config.pipes.keys()] }, 'gateway ready');

  let reloading: Promise<void> = Promise.resolve();
  const stopTlsWatch = watchTls(tls, tlsReloadMs, log, (m) => gw.setTls(m));
  installShutdown(log, () => { stopTlsWatch(); return gw.dispose(); }, { graceMs: SHUTDOWN_GRACE_MS, onHup: () => { reloading = reloading.then(() => reload(gw, configDir, log)); } });
  // Printed after the handlers exist: a supervisor may signal the moment it reads this line.
  process.stdout.write(`fusion listening on ${gw.url}\n`);
  for (const r of gw.receiverUrls()) process.stdout.write(`fusion ingest listening on ${r.url} (receivers: ${r.receivers.join(', ')})\n`);
}

/** What `load` returns (certificate and key, reload interval), or the one-line error of a TlsFileError. */
function readTls<T>(load: () => T): T {
  try {
    return load();
  } catch (e) {
    if (e instanceof TlsFileError) fail(e.message);
    throw e;
  }
}

async function runManaged(flags: FusionFlags, controllerUrl: string, tls: TlsMaterial | undefined, tlsReloadMs: number): Promise<void> {
  const stateDir = resolve(flags.stateDir ?? join(fustorHome(), 'fusion'));
  const log = createLogger({ format: flags.logFormat ?? 'auto', name: 'fusion' });
  let managed: ManagedGateway | null = null;
  // Installed before the start: a revocation can arrive while the cached manifest is applied.
  const shutdown = installShutdown(log, () => managed?.dispose() ?? Promise.resolve(), {
    graceMs: SHUTDOWN_GRACE_MS,
    // Without a handler SIGHUP would kill the process; a managed gateway's configuration is the controller's.
    onHup: () => log.warn('SIGHUP ignored: a managed gateway is configured by its controller (fustor ctl apply)'),
  });
  const exitRevoked = (reason: string) => {
    process.stderr.write(`fustor: this gateway was revoked by the controller (${reason}): enroll again with a new --token and an empty --state-dir\n`);
    shutdown('revoked', 1);
  };
  try {
    managed = await ManagedGateway.start({
      controllerUrl, token: flags.token, name: flags.name, stateDir, host: flags.host, port: flags.port, advertiseUrl: flags.advertiseUrl, tls,
      log, version: FUSTOR_VERSION, onRevoked: exitRevoked,
    });
  } catch (e) {
    if (e instanceof ListenError || e instanceof MemberStartError) fail(e.message);
    throw e;
  }
  const mg = managed;
  watchTls(tls, tlsReloadMs, log, (m) => mg.setTls(m)); // its timer does not hold the process; disposal ends the listeners
  log.info({ url: mg.url, controller: controllerUrl, member: mg.name, stateDir }, 'managed gateway ready');

  process.stdout.write(`managed by ${controllerUrl} as gateway ${mg.name}\n`);
  // Printed last and after the handlers exist: a supervisor may signal the moment it reads this line.
  process.stdout.write(`fusion listening on ${mg.url}\n`);
}

async function reload(gw: Gateway, dir: string, log: Logger): Promise<void> {
  let loaded;
  try {
    loaded = loadConfigDir(dir);
  } catch (e) {
    log.error({ problem: e instanceof Error ? e.message : String(e) }, 'reload refused: the running configuration stays in effect');
    return;
  }
  for (const w of loaded.warnings) log.warn(w);
  try {
    const diff = await gw.reload(loaded.config);
    log.info(summarise(diff), 'configuration reloaded');
  } catch (e) {
    log.error({ err: e instanceof Error ? { message: e.message, stack: e.stack } : String(e) }, 'reload failed');
  }
}

function summarise(diff: ConfigDiff): Record<string, unknown> {
  const pick = (s: ConfigDiff['pipes']) => ({ added: s.added, removed: s.removed, changed: s.changed, unchanged: s.unchanged.length });
  return { pipes: pick(diff.pipes), views: pick(diff.views), receivers: pick(diff.receivers), global: diff.global };
}
