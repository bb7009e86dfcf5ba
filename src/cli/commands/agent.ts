/**
 * `fustor agent --controller URL [--token T] [--name N] [--state-dir DIR]` — the managed agent (spec 50): enrolls
 * on first start (identity kept in STATE_DIR/identity), runs the pipes of its manifest, starts from the cached
 * manifest when the controller is down.
 * `fustor agent --config DIR [--state-dir DIR] [--log-format json|pretty]` — the standalone agent (spec 00
 * command-line contract, spec 40). Prints `agent running: N pipes (status: SOCKET)` when started; SIGHUP
 * reloads (per-pipe diff); SIGTERM/SIGINT stop every pipe (each deletes its session) and exit 0; a bad flag
 * or config exits 1 with one line.
 * `fustor agent status [--state-dir DIR] [--json]` and `fustor agent reload [--state-dir DIR]` talk to a
 * running agent over `STATE_DIR/agent.sock`. The state dir defaults to `$FUSTOR_HOME/agent`.
 */
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { createLogger } from '../../kernel/logger.ts';
import { AgentConfigError } from '../../agent/config/index.ts';
import { AgentShell, callAgent, type AgentStatus, type ReloadResult } from '../../agent/shell/index.ts';
import { fustorHome } from '../profile.ts';
import { installShutdown } from '../shutdown.ts';

interface AgentFlags { config?: string; stateDir?: string; logFormat?: 'json' | 'pretty'; controller?: string; token?: string; name?: string }


export function defaultAgentStateDir(): string {
  return join(fustorHome(), 'agent');
}

function fail(message: string): never {
  process.stderr.write(`fustor: ${message}\n`);
  process.exit(1);
}

export function registerAgent(program: Command): Command {
  const agent = program
    .command('agent')
    .description('run an agent: watch and walk local file systems, stream their metadata to Fusion gateways (standalone: --config DIR)')
    .option('--config <dir>', 'directory of *.yaml agent configuration files (merged in file-name order)')
    .option('--state-dir <dir>', 'state directory: status socket (default: $FUSTOR_HOME/agent)')
    .option('--controller <url>', 'managed mode: the controller gives this agent its pipes (enrolls on first start)')
    .option('--token <token>', 'enrollment token for the first start in managed mode (or FUSTOR_ENROLL_TOKEN); from `fustor ctl token create --kind agent`')
    .option('--name <name>', 'name to enroll under (default: chosen by the controller); managed mode')
    .addOption(new Option('--log-format <format>', 'log lines as JSON or pretty (default: pretty on a TTY, JSON otherwise)').choices(['json', 'pretty']))
    .action(async (flags: AgentFlags) => {
      await runAgent(flags);
    });
  agent
    .command('status')
    .description("show each pipe of a running agent: state, role, session, events/s, walk, watches, errors")
    .option('--state-dir <dir>', 'state directory of the agent (default: $FUSTOR_HOME/agent)')
    .option('--json', 'print the raw JSON status')
    .action(async (flags: { stateDir?: string; json?: boolean }) => {
      const sock = join(resolve(flags.stateDir ?? (agent.opts() as AgentFlags).stateDir ?? defaultAgentStateDir()), 'agent.sock');
      let res;
      try {
        res = await callAgent(sock, 'GET', '/status');
      } catch (e) {
        fail(e instanceof Error ? e.message : String(e));
      }
      if (flags.json === true) process.stdout.write(`${JSON.stringify(res.body, null, 2)}\n`);
      else process.stdout.write(formatStatus(res.body as AgentStatus));
    });
  agent
    .command('reload')
    .description('re-read the configuration of a running agent and apply the per-pipe diff')
    .option('--state-dir <dir>', 'state directory of the agent (default: $FUSTOR_HOME/agent)')
    .action(async (flags: { stateDir?: string }) => {
      const sock = join(resolve(flags.stateDir ?? (agent.opts() as AgentFlags).stateDir ?? defaultAgentStateDir()), 'agent.sock');
      let res;
      try {
        res = await callAgent(sock, 'POST', '/reload', 60_000);
      } catch (e) {
        fail(e instanceof Error ? e.message : String(e));
      }
      const r = res.body as ReloadResult;
      if (!r.ok) fail(`reload refused: ${r.error}`);
      const d = r.diff;
      process.stdout.write(`reloaded: added ${list(d.added)}, removed ${list(d.removed)}, changed ${list(d.changed)}, unchanged ${d.unchanged.length}\n`);
    });
  return agent;
}

function list(ids: string[]): string {
  return ids.length === 0 ? '-' : ids.join(',');
}

async function runAgent(flags: AgentFlags): Promise<void> {
  if (flags.controller !== undefined) return runManagedAgent(flags, flags.controller);
  if (flags.token !== undefined || flags.name !== undefined) fail('--token and --name belong to managed mode: add --controller URL');
  if (flags.config === undefined) fail('agent needs --config DIR (standalone) or --controller URL (managed); see fustor agent --help');
  const configDir = resolve(flags.config);
  const stateDir = resolve(flags.stateDir ?? defaultAgentStateDir());
  const logFormat = flags.logFormat ?? (process.stdout.isTTY === true ? 'pretty' : 'json');
  const log = createLogger({ format: logFormat, name: 'agent' });
  let shell: AgentShell;
  try {
    shell = await AgentShell.start({ configDir, stateDir, log, logFormat });
  } catch (e) {
    if (e instanceof AgentConfigError) fail(e.message);
    fail(e instanceof Error ? e.message : String(e));
  }
  const sh = shell;
  // Handlers first: a supervisor may send SIGTERM the moment it reads the "running" line.
  installShutdown(log, () => sh.stop(), { onHup: () => { void sh.reload(); } });
  process.stdout.write(`agent running: ${sh.pipeCount} pipes (status: ${sh.socketPath})\n`);
}

async function runManagedAgent(flags: AgentFlags, controller: string): Promise<void> {
  if (flags.config !== undefined) fail('--config and --controller exclude each other: a managed agent gets its pipes from the controller');
  if (!/^https?:\/\/[^/]/.test(controller)) fail(`--controller must be an http:// or https:// URL, not ${JSON.stringify(controller)}`);
  const stateDir = resolve(flags.stateDir ?? defaultAgentStateDir());
  const logFormat = flags.logFormat ?? (process.stdout.isTTY === true ? 'pretty' : 'json');
  const log = createLogger({ format: logFormat, name: 'agent' });
  const token = flags.token ?? process.env.FUSTOR_ENROLL_TOKEN;
  const { ManagedAgent } = await import('../../agent/managed/managed-agent.ts');
  const { MemberStartError } = await import('../../kernel/member/managed-member.ts');
  let agent;
  try {
    agent = await ManagedAgent.start({ controllerUrl: controller.replace(/\/+$/, ''), stateDir, log, logFormat, ...(token === undefined ? {} : { token }), ...(flags.name === undefined ? {} : { name: flags.name }) });
  } catch (e) {
    if (e instanceof MemberStartError) fail(e.message);
    fail(e instanceof Error ? e.message : String(e));
  }
  const a = agent;
  installShutdown(log, () => a.stop(), { onHup: () => log.info({}, 'SIGHUP ignored: a managed agent is configured by its controller (fustor ctl apply)') });
  process.stdout.write(`agent running: managed by ${controller} as ${a.name}, ${a.pipeCount} pipes (status: ${a.socketPath})\n`);
}

function formatStatus(s: AgentStatus): string {
  const head = `agent ${s.agentId} (pid ${s.pid}, up ${Math.round((Date.now() - s.startedAt) / 1000)} s, reloads ${s.reloads})\n`;
  const cols = ['PIPE', 'STATE', 'ROLE', 'SESSION', 'EV/S', 'WALK', 'WATCHES', 'RESTARTS', 'DEGRADED', 'LAST ERROR'];
  const rows = s.pipes.map((p) => {
    const w = p.pipe?.walk;
    return [
      p.pipeId,
      p.state,
      p.pipe?.role ?? '-',
      p.pipe?.sessionId?.slice(0, 8) ?? '-',
      String(p.pipe?.eventsPerSec ?? 0),
      w ? `${w.phase} ${w.dirs}d/${w.files}f` : '-',
      p.pipe ? `${p.pipe.watchCount}/${p.pipe.watchLimit}` : '-',
      String(p.restarts),
      p.degraded.length > 0 ? p.degraded.join('; ') : '-',
      p.lastError ?? '-',
    ];
  });
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => Math.min(r[i].length, 60))));
  const line = (r: string[]) => r.map((v, i) => (i === r.length - 1 ? v : v.slice(0, 60).padEnd(widths[i]))).join('  ').trimEnd();
  return head + [cols, ...rows].map(line).join('\n') + '\n';
}
