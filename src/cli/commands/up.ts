/**
 * `fustor up [DIR…] [--port N] [--state-dir DIR] [--log-format json|pretty]` — all-in-one (spec 00): a
 * Fusion gateway and an agent in THIS process, on local directories, loopback only, generated keys.
 *
 * Layout: one `fs` view per directory, named after the directory's base name (made unique with -2, -3…),
 * each fed by its own pipe (gateway pipe id = agent pipe id = view name) with its own generated ingest
 * key; one generated query key for every view. Keys are crypto-random and kept (mode 0600) in
 * `STATE_DIR/keys.json` (default `$FUSTOR_HOME/up`) so they survive a restart; the generated gateway and
 * agent configurations are written next to them (`fusion/`, `agent/`) for inspection. With no DIR the
 * current directory is indexed. Prints the query URL, the key and an example `fustor find` once every view
 * is ready; SIGTERM/SIGINT stop both (exit 0).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { stringify } from 'yaml';
import { createLogger } from '../../kernel/logger.ts';
import { AgentConfigError, loadAgentConfigDir } from '../../agent/config/index.ts';
import { AgentShell } from '../../agent/shell/index.ts';
import { ConfigError, loadConfigDir } from '../../fusion/config/load-config.ts';
import { Gateway } from '../../fusion/gateway.ts';
import { ListenError } from '../../fusion/http/listeners.ts';
import { fustorHome, installSignals } from './agent.ts';

interface UpFlags { port?: number; stateDir?: string; logFormat?: 'json' | 'pretty' }

interface Keys { query: string; ingest: Record<string, string> }

const READY_TIMEOUT_MS = 120_000;

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('must be an integer from 0 to 65535 (0 = any free port)');
  return n;
}

function fail(message: string): never {
  process.stderr.write(`fustor: ${message}\n`);
  process.exit(1);
}

export function registerUp(program: Command): Command {
  return program
    .command('up')
    .description('all-in-one: a gateway and an agent on local directories, generated keys; prints the query URL and key')
    .argument('[dirs...]', 'directories to index (default: the current directory)')
    .option('--port <n>', 'port of the query API (default 8101; 0 = any free port)', parsePort)
    .option('--state-dir <dir>', 'where keys, generated configs and the agent socket live (default: $FUSTOR_HOME/up)')
    .addOption(new Option('--log-format <format>', 'log lines as JSON or pretty (default: pretty on a TTY, JSON otherwise)').choices(['json', 'pretty']))
    .action(async (dirs: string[], flags: UpFlags) => {
      await runUp(dirs.length > 0 ? dirs : ['.'], flags);
    });
}

function newKey(prefix: string): string {
  return `${prefix}-${randomBytes(24).toString('base64url')}`;
}

/** Unique view names from the directories' base names. */
function viewNames(dirs: string[]): string[] {
  const used = new Set<string>();
  return dirs.map((d) => {
    let base = basename(d).replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 56);
    if (base === '') base = 'root';
    let name = base;
    for (let i = 2; used.has(name); i++) name = `${base}-${i}`;
    used.add(name);
    return name;
  });
}

function loadKeys(file: string, views: string[]): Keys {
  let keys: Keys = { query: newKey('fq'), ingest: {} };
  if (existsSync(file)) {
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<Keys>;
      if (typeof parsed.query === 'string' && parsed.ingest !== undefined) keys = { query: parsed.query, ingest: { ...parsed.ingest } };
    } catch {
      // unreadable: new keys
    }
  }
  for (const v of views) keys.ingest[v] ??= newKey('fa');
  writeFileSync(file, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return keys;
}

async function runUp(rawDirs: string[], flags: UpFlags): Promise<void> {
  const dirs = rawDirs.map((d) => resolve(d));
  for (const d of dirs) {
    let ok: boolean;
    try {
      ok = statSync(d).isDirectory();
    } catch {
      ok = false;
    }
    if (!ok) fail(`${d}: not a directory`);
  }
  const stateDir = resolve(flags.stateDir ?? join(fustorHome(), 'up'));
  const fusionDir = join(stateDir, 'fusion');
  const agentDir = join(stateDir, 'agent');
  for (const d of [stateDir, fusionDir, agentDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const views = viewNames(dirs);
  const keys = loadKeys(join(stateDir, 'keys.json'), views);
  const logFormat = flags.logFormat ?? (process.stdout.isTTY === true ? 'pretty' : 'json');
  const log = createLogger({ format: logFormat, name: 'up' });

  const fusionConfig = {
    host: '127.0.0.1',
    port: flags.port ?? 8101,
    receivers: { local: { driver: 'http', api_keys: views.map((v) => ({ key: keys.ingest[v], pipe_id: v })) } },
    views: Object.fromEntries(views.map((v) => [v, { driver: 'fs', api_keys: [keys.query] }])),
    pipes: Object.fromEntries(views.map((v) => [v, { receiver: 'local', views: [v] }])),
  };
  writeSecret(join(fusionDir, 'fusion.yaml'), stringify(fusionConfig));
  let gateway: Gateway;
  try {
    const loaded = loadConfigDir(fusionDir);
    gateway = await Gateway.start({ config: loaded.config, log: log.child({ part: 'fusion' }), host: '127.0.0.1', port: flags.port ?? 8101 });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof ListenError) fail(e.message);
    throw e;
  }
  const url = gateway.url;
  const agentConfig = {
    agent_id: 'local',
    sources: Object.fromEntries(views.map((v, i) => [v, { driver: 'fs', uri: dirs[i] }])),
    senders: Object.fromEntries(views.map((v) => [v, { driver: 'fusion', uri: url, credential: { key: keys.ingest[v] } }])),
    pipes: Object.fromEntries(views.map((v) => [v, { source: v, sender: v }])),
  };
  writeSecret(join(agentDir, 'agent.yaml'), stringify(agentConfig));
  let shell: AgentShell;
  try {
    const loaded = loadAgentConfigDir(agentDir);
    shell = await AgentShell.start({ configDir: agentDir, stateDir, log: log.child({ part: 'agent' }), logFormat, initial: loaded.config });
  } catch (e) {
    await gateway.dispose();
    if (e instanceof AgentConfigError) fail(e.message);
    fail(e instanceof Error ? e.message : String(e));
  }
  const sh = shell;
  const gw = gateway;
  installSignals(log, async () => {
    await sh.stop();
    await gw.dispose();
  }, () => { void sh.reload(); });

  const ready = await waitReady(url, keys.query, views);
  if (!ready) log.warn({ views }, 'views not ready yet (large directories take a while); queries answer 503 until then');
  process.stdout.write(`fustor up: query API at ${url}\n`);
  process.stdout.write(`query key: ${keys.query}\n`);
  for (const [i, v] of views.entries()) process.stdout.write(`view ${v}: ${dirs[i]}\n`);
  process.stdout.write(`try: fustor find --server ${url} --key ${keys.query} --view ${views[0]} -name '*'\n`);
  log.info({ url, views, stateDir }, 'all-in-one ready');
}

function writeSecret(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}

async function waitReady(url: string, key: string, views: string[]): Promise<boolean> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const pending = new Set(views);
  while (pending.size > 0 && Date.now() < deadline) {
    for (const v of [...pending]) {
      try {
        const res = await fetch(`${url}/api/v1/views/${encodeURIComponent(v)}/tree?max_depth=0`, { headers: { 'x-api-key': key } });
        await res.arrayBuffer();
        if (res.status === 200) pending.delete(v);
      } catch {
        // not yet
      }
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 200));
  }
  return pending.size === 0;
}
