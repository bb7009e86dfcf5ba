/**
 * `fustor fusion --config DIR [--host H] [--port N] [--log-format json|pretty]` — the standalone gateway
 * (spec 00 command-line contract). Composition root of src/fusion: config loader + Gateway + signals.
 * Prints `fusion listening on http://HOST:PORT` when ready (the real port, also with `--port 0`); exits
 * non-zero with one line on a bad flag, bad config or a busy port; SIGHUP reloads; SIGTERM/SIGINT stop
 * cleanly (exit 0).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { createLogger, type Logger } from '../../kernel/logger.ts';
import { ConfigError, loadConfigDir } from '../../fusion/config/load-config.ts';
import { Gateway } from '../../fusion/gateway.ts';
import { ListenError } from '../../fusion/http/listeners.ts';
import type { ConfigDiff } from '../../fusion/config/diff-config.ts';

interface FusionFlags {
  config?: string;
  host?: string;
  port?: number;
  logFormat?: 'json' | 'pretty';
}

const SHUTDOWN_GRACE_MS = 10_000;

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('must be an integer from 0 to 65535 (0 = any free port)');
  return n;
}

export function registerFusion(program: Command): Command {
  return program
    .command('fusion')
    .description('run a Fusion gateway: ingest from agents, serve queries (standalone: --config DIR)')
    .option('--config <dir>', 'directory of *.yaml gateway configuration files (merged in file-name order)')
    .option('--host <host>', 'address of the main listener (overrides `host:` of the config)')
    .option('--port <n>', 'main port: query API and ingest API (overrides `port:`; 0 = any free port)', parsePort)
    .addOption(new Option('--log-format <format>', 'log lines as JSON or pretty (default: pretty on a TTY, JSON otherwise)').choices(['json', 'pretty']))
    .action(async (flags: FusionFlags) => {
      await runFusion(flags);
    });
}

function fail(message: string): never {
  process.stderr.write(`fustor: ${message}\n`);
  process.exit(1);
}

async function runFusion(flags: FusionFlags): Promise<void> {
  if (flags.config === undefined) fail('fusion needs --config DIR (standalone mode); see fustor fusion --help');
  const configDir = flags.config;
  let loaded;
  try {
    loaded = loadConfigDir(configDir);
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
  const log = createLogger({ format: flags.logFormat ?? 'auto', name: 'fusion' });
  for (const w of loaded.warnings) log.warn({ files: loaded.files }, w);

  let gateway: Gateway;
  try {
    gateway = await Gateway.start({ config: loaded.config, log, host: flags.host, port: flags.port });
  } catch (e) {
    if (e instanceof ListenError) fail(e.message);
    throw e;
  }
  const gw = gateway;
  log.info({ url: gw.url, files: loaded.files, views: [...loaded.config.views.keys()], pipes: [...loaded.config.pipes.keys()] }, 'gateway ready');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      process.exit(0);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS);
    force.unref();
    gw.dispose().then(() => process.exit(0), () => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  let reloading: Promise<void> = Promise.resolve();
  process.on('SIGHUP', () => {
    reloading = reloading.then(() => reload(gw, configDir, log));
  });
  // Printed after the handlers exist: a supervisor may signal the moment it reads this line.
  process.stdout.write(`fusion listening on ${gw.url}\n`);
  for (const r of gw.receiverUrls()) process.stdout.write(`fusion ingest listening on ${r.url} (receivers: ${r.receivers.join(', ')})\n`);
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
