/**
 * `fustor up [DIR…] [--port N] [--controller-port N] [--state-dir DIR] [--log-format json|pretty]` — all-in-one
 * (spec 00, spec 50): a controller, a Fusion gateway and an agent in THIS process, loopback only, in managed
 * mode exactly as on separate hosts — the gateway and the agent enroll with enrollment tokens over
 * loopback and run what their manifests say.
 *
 * Layout: one `fs` View per directory, named after the directory's base name (made unique with -2, -3…),
 * each fed by its own Pipe run by the agent `local` and served by the Gateway `local`; one QueryKey `up`
 * for every view. State lives in STATE_DIR (default `$FUSTOR_HOME/up`): `controller/` (database, admin
 * token), `fusion/` and `agent/` (identities, manifest caches), `query-key` (0600). A restart reuses all of
 * it. Prints the controller URL, the admin token file, the query URL, the query key and an example
 * `fustor find` once every view is ready; SIGTERM/SIGINT stop all three (exit 0).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { createLogger } from '../../kernel/logger.ts';
import { identityPaths } from '../../kernel/member/identity-files.ts';
import { MemberStartError } from '../../kernel/member/managed-member.ts';
import { FUSTOR_VERSION } from '../../kernel/version.ts';
import { ManagedAgent } from '../../agent/managed/managed-agent.ts';
import { Controller, ControllerStartError } from '../../controller/controller.ts';
import { ListenError } from '../../fusion/http/listeners.ts';
import { ManagedGateway } from '../../fusion/managed/managed-gateway.ts';
import { fustorHome } from '../profile.ts';
import { installShutdown } from '../shutdown.ts';
import { parsePort } from '../option-parsers.ts';

interface UpFlags { port?: number; controllerPort?: number; stateDir?: string; logFormat?: 'json' | 'pretty' }

const READY_TIMEOUT_MS = 120_000;
const MEMBER_NAME = 'local';
const QUERY_KEY_NAME = 'up';


function fail(message: string): never {
  process.stderr.write(`fustor: ${message}\n`);
  process.exit(1);
}

export function registerUp(program: Command): Command {
  return program
    .command('up')
    .description('all-in-one: controller + gateway + agent (managed mode) on local directories; prints the URLs and a query key')
    .argument('[dirs...]', 'directories to index (default: the current directory)')
    .option('--port <n>', 'port of the query API (default 8101; 0 = any free port)', parsePort)
    .option('--controller-port <n>', 'port of the controller API (default 8100; 0 = any free port)', parsePort)
    .option('--state-dir <dir>', 'controller data, identities, manifest caches and the query key (default: $FUSTOR_HOME/up)')
    .addOption(new Option('--log-format <format>', 'log lines as JSON or pretty (default: pretty on a TTY, JSON otherwise)').choices(['json', 'pretty']))
    .action(async (dirs: string[], flags: UpFlags) => {
      await runUp(dirs.length > 0 ? dirs : ['.'], flags);
    });
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

/** The controller's management API, called with the admin token (loopback). */
function adminClient(url: string, token: string) {
  return async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text === '' ? {} : JSON.parse(text)) as T };
  };
}

type Api = ReturnType<typeof adminClient>;

async function must<T>(what: string, p: Promise<{ status: number; body: T }>, ok: number[] = [200, 201]): Promise<T> {
  const r = await p;
  if (!ok.includes(r.status)) throw new Error(`${what} failed (HTTP ${r.status}): ${JSON.stringify(r.body).slice(0, 300)}`);
  return r.body;
}

/** An enrollment token when this member has no identity yet (a restart reuses the identity). */
async function enrollmentToken(api: Api, kind: 'agent' | 'gateway', stateDir: string): Promise<string | undefined> {
  if (existsSync(identityPaths(stateDir).member)) return undefined;
  const body = await must<{ token: string }>(`creating a ${kind} enrollment token`, api('POST', '/api/v1/tokens/enrollment', { kind, labels: { up: MEMBER_NAME } }));
  return body.token;
}

/** The QueryKey `up` for these views: created once (the key is shown only then, so it is kept 0600), widened when views change. */
async function queryKey(api: Api, file: string, views: string[]): Promise<string> {
  const existing = await api<{ spec?: { views?: string[] } }>('GET', `/api/v1/resources/QueryKey/${QUERY_KEY_NAME}`);
  if (existing.status === 200 && existsSync(file)) {
    const had = existing.body.spec?.views ?? [];
    const all = [...new Set([...had, ...views])].sort();
    if (all.length !== had.length) {
      await must('updating the query key', api('POST', '/api/v1/apply', [{ apiVersion: 'fustor.io/v1', kind: 'QueryKey', metadata: { name: QUERY_KEY_NAME }, spec: { views: all } }]));
    }
    return readFileSync(file, 'utf8').trim();
  }
  if (existing.status === 200) await must('replacing the lost query key', api('DELETE', `/api/v1/resources/QueryKey/${QUERY_KEY_NAME}`));
  const created = await must<{ key: string }>('creating the query key', api('POST', '/api/v1/keys', { name: QUERY_KEY_NAME, views }));
  writeSecret(file, `${created.key}\n`);
  return created.key;
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
  const dataDir = join(stateDir, 'controller');
  const fusionDir = join(stateDir, 'fusion');
  const agentDir = join(stateDir, 'agent');
  for (const d of [stateDir, fusionDir, agentDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const views = viewNames(dirs);
  const logFormat = flags.logFormat ?? (process.stdout.isTTY === true ? 'pretty' : 'json');
  const log = createLogger({ format: logFormat, name: 'up' });

  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const controller = await Controller.start({ dataDir, host: '127.0.0.1', port: flags.controllerPort ?? 8100, log: log.child({ part: 'controller' }) });
    stops.push(() => controller.dispose());
    const api = adminClient(controller.url, readFileSync(controller.adminTokenFile, 'utf8').trim());

    const gateway = await ManagedGateway.start({
      controllerUrl: controller.url, token: await enrollmentToken(api, 'gateway', fusionDir), name: MEMBER_NAME, stateDir: fusionDir,
      host: '127.0.0.1', port: flags.port ?? 8101, log: log.child({ part: 'fusion' }), version: FUSTOR_VERSION,
    });
    stops.push(() => gateway.dispose());
    const url = gateway.url;

    const docs = [
      { apiVersion: 'fustor.io/v1', kind: 'Gateway', metadata: { name: MEMBER_NAME }, spec: { url } },
      ...views.map((v) => ({ apiVersion: 'fustor.io/v1', kind: 'View', metadata: { name: v }, spec: { driver: 'fs', gateway: MEMBER_NAME } })),
      ...views.map((v, i) => ({ apiVersion: 'fustor.io/v1', kind: 'Pipe', metadata: { name: v }, spec: { agent: MEMBER_NAME, view: v, source: { driver: 'fs', uri: dirs[i] } } })),
    ];
    await must('applying the views and pipes', api('POST', '/api/v1/apply', docs));
    const key = await queryKey(api, join(stateDir, 'query-key'), views);

    const agent = await ManagedAgent.start({
      controllerUrl: controller.url, token: await enrollmentToken(api, 'agent', agentDir), name: MEMBER_NAME, stateDir: agentDir,
      log: log.child({ part: 'agent' }), logFormat,
    });
    stops.push(() => agent.stop());
    installShutdown(log, stopAll, { onHup: () => log.info({}, 'SIGHUP ignored: fustor up is configured through its controller (fustor ctl)') });

    const ready = await waitReady(url, key, views);
    if (!ready) log.warn({ views }, 'views not ready yet (large directories take a while); queries answer 503 until then');
    process.stdout.write(`fustor up: controller at ${controller.url} (admin token: ${controller.adminTokenFile})\n`);
    process.stdout.write(`fustor up: query API at ${url}\n`);
    process.stdout.write(`query key: ${key}\n`);
    for (const [i, v] of views.entries()) process.stdout.write(`view ${v}: ${dirs[i]}\n`);
    process.stdout.write(`manage: FUSTOR_TOKEN=$(cat ${controller.adminTokenFile}) fustor ctl --server ${controller.url} get agents\n`);
    process.stdout.write(`try: fustor find --server ${url} --key ${key} --view ${views[0]} -name '*'\n`);
    log.info({ url, controller: controller.url, views, stateDir }, 'all-in-one ready');
  } catch (e) {
    await stopAll();
    if (e instanceof ControllerStartError || e instanceof MemberStartError || e instanceof ListenError) fail(e.message);
    fail(e instanceof Error ? e.message : String(e));
  }
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
