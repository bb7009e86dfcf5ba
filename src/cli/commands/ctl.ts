/**
 * `fustor ctl` — the operator client of the controller's management API (spec 50); a thin client: every
 * subcommand is one or two REST calls. Output is a contract scripts rely on:
 *
 *   ctl token create --kind agent|gateway [--labels k=v,…] [--uses N] [--ttl 1h]   → only the token
 *   ctl token operator NAME --role admin|operator|viewer [--ttl 30d]              → only the token
 *   ctl key create NAME --views v1,v2                                             → only the key
 *   ctl apply -f FILE|DIR [--prune]     → `revision N` (or `revision N (unchanged)`), then `Kind/name action` lines
 *   ctl diff -f FILE|DIR [--prune] [-o text|json]
 *   ctl get KIND [NAME] [-o table|json|yaml]   (KIND: singular/plural, any case: views, pipes, gateways, secrets, querykeys)
 *   ctl get agents|gateway-members [NAME] [-o …]   enrolled members: NAME STATE REVISION PIPES|VIEWS LAG LAST-SEEN REASON
 *   ctl get fleet [-o …]                 members by state and kind, desired revision, the partition warning
 *   ctl delete KIND NAME                 → `Kind/name deleted (revision N)`
 *   ctl history [--limit N] [-o table|json]
 *   ctl sync                             → `commit SHA applied (revision N)` / `… already applied …`; a rejected commit: exit 1
 *   ctl revoke agent|gateway NAME        → `agent/NAME revoked`; its channel closes, renewals are refused
 *   ctl rescan | restart-pipe | renew | get commands   targeted commands (ctl-commands.ts)
 *   ctl signing-key list | rotate       the credential-signing keys; rotate → `signing key KID published; it signs from T`
 *
 * Server: `--server URL`, else FUSTOR_CONTROLLER, else FUSTOR_SERVER, else http://127.0.0.1:8100.
 * Token: `--token T`, else FUSTOR_TOKEN. Errors: one line naming cause and fix, exit 1 (a 422 adds one
 * line per bad field, naming the file and document it came from).
 */
import { Option, type Command } from 'commander';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import {
  normalizeKind, type AgentInfo, type CommandList, type SigningKeyInfo, type ApplyResult, type DiffResult, type FleetStatus, type GatewayMemberInfo, type HistoryPage, type StoredResourceView,
} from '../../protocol/index.ts';
import { componentTable, fleetText, memberDetails, memberTable } from './ctl-fleet.ts';
import { getCommands } from './ctl-commands.ts';
import {
  client, CtlError, DEFAULT_CONTROLLER_URL, formatOption, list, out, parseDuration, parseLabels, parsePositive, print, run, table, type Client, type DocOrigin, type Json,
} from './ctl-client.ts';


// ---- files -------------------------------------------------------------------------------------

/** Every document of FILE or of DIR's *.yaml/*.yml files (name order); origins[i] says where doc i came from. */
export function readDocuments(paths: string[]): { docs: unknown[]; origins: DocOrigin[] } {
  const docs: unknown[] = [];
  const origins: DocOrigin[] = [];
  for (const p of paths) {
    let files: string[];
    try {
      files = statSync(p).isDirectory() ? readdirSync(p).filter((n) => /\.ya?ml$/.test(n)).sort().map((n) => join(p, n)) : [p];
    } catch (e) {
      throw new CtlError(`cannot read ${p} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): pass -f FILE or -f DIR`);
    }
    if (files.length === 0) throw new CtlError(`${p} holds no *.yaml file`);
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        throw new CtlError(`cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      parseAllDocuments(text).forEach((d, i) => {
        if (d.errors.length > 0) throw new CtlError(`${file}: document ${i + 1}: not valid YAML (${d.errors[0].message.split('\n')[0]})`);
        const value: unknown = d.toJS({ maxAliasCount: 100 });
        if (value === null || value === undefined) return;
        docs.push(value);
        origins.push({ file, doc: i + 1 });
      });
    }
  }
  if (docs.length === 0) throw new CtlError(`no documents in ${paths.join(', ')}`);
  return { docs, origins };
}


const labelText = (l: Record<string, string> | undefined) => Object.entries(l ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '-';

function summary(r: StoredResourceView): string {
  const s = r.spec;
  switch (r.kind) {
    case 'Gateway': return `url=${String(s.url)}`;
    case 'View': return `driver=${String(s.driver)} gateway=${String(s.gateway)}`;
    case 'Pipe': {
      const who = typeof s.agent === 'string' ? `agent=${s.agent}` : `selector=${labelText((s.agentSelector as { matchLabels?: Record<string, string> }).matchLabels)}`;
      return `view=${String(s.view)} ${who} uri=${String((s.source as Json).uri)}`;
    }
    case 'Secret': return `keys=${Object.keys(s.data as Json).join(',')}`;
    case 'QueryKey': return `views=${(s.views as string[]).join(',')}`;
    default: return '';
  }
}


// ---- commands ----------------------------------------------------------------------------------


export function registerCtl(program: Command): Command {
  const ctl = program
    .command('ctl')
    // Errors are one line (the contract); subcommands created below inherit this.
    .showHelpAfterError(false)
    .description('operator client of the controller: apply/diff/get/delete resources, tokens, keys, history')
    .option('--server <url>', `controller URL (env FUSTOR_CONTROLLER or FUSTOR_SERVER; default ${DEFAULT_CONTROLLER_URL})`)
    .option('--token <token>', 'operator token (env FUSTOR_TOKEN)');

  const token = ctl.command('token').description('create enrollment and operator tokens');
  token.command('create')
    .description('create an enrollment token for agents or gateways; prints only the token')
    .addOption(new Option('--kind <kind>', 'who enrolls with it').choices(['agent', 'gateway']).makeOptionMandatory())
    .option('--labels <k=v,...>', 'labels given to members enrolled with it', parseLabels)
    .option('--uses <n>', 'how many enrollments it allows (default 1)', parsePositive)
    .option('--ttl <duration>', 'lifetime: 90s, 30m, 1h (default), 7d', parseDuration)
    .action(run(async (flags: { kind: string; labels?: Record<string, string>; uses?: number; ttl?: number }, cmd: Command) => {
      const body: Json = { kind: flags.kind };
      if (flags.labels !== undefined) body.labels = flags.labels;
      if (flags.uses !== undefined) body.uses = flags.uses;
      if (flags.ttl !== undefined) body.ttl_seconds = flags.ttl;
      out((await client(cmd).call<{ token: string }>('POST', '/api/v1/tokens/enrollment', body)).token);
    }));
  token.command('operator <name>')
    .description('create an operator token (admin only); prints only the token')
    .addOption(new Option('--role <role>', 'what it may do').choices(['admin', 'operator', 'viewer']).makeOptionMandatory())
    .option('--ttl <duration>', 'lifetime (default: no expiry)', parseDuration)
    .action(run(async (name: string, flags: { role: string; ttl?: number }, cmd: Command) => {
      const body: Json = { name, role: flags.role };
      if (flags.ttl !== undefined) body.ttl_seconds = flags.ttl;
      out((await client(cmd).call<{ token: string }>('POST', '/api/v1/tokens/operator', body)).token);
    }));

  ctl.command('key').description('query keys').command('create <name>')
    .description('create a QueryKey for some views; prints only the key (shown once)')
    .requiredOption('--views <v1,v2>', 'views the key may query', list)
    .action(run(async (name: string, flags: { views: string[] }, cmd: Command) => {
      out((await client(cmd).call<{ key: string }>('POST', '/api/v1/keys', { name, views: flags.views })).key);
    }));

  ctl.command('apply')
    .description('apply YAML documents (a file, or every *.yaml of a directory in name order) as one revision')
    .requiredOption('-f, --filename <path...>', 'file or directory')
    .option('--prune', 'also delete every resource the documents do not name')
    .action(run(async (flags: { filename: string[]; prune?: boolean }, cmd: Command) => {
      const { docs, origins } = readDocuments(flags.filename);
      const res = await client(cmd).call<ApplyResult>('POST', `/api/v1/apply${flags.prune === true ? '?prune=true' : ''}`, docs, origins);
      out(res.revision === null ? `revision ${res.current_revision} (unchanged)` : `revision ${res.revision}`);
      for (const r of res.resources) out(`${r.kind}/${r.name} ${r.action}${r.key === undefined ? '' : ` (key, shown once: ${r.key})`}`);
    }));

  ctl.command('diff')
    .description('show what apply -f would change and which agents and gateways it touches')
    .requiredOption('-f, --filename <path...>', 'file or directory')
    .option('--prune', 'as apply --prune')
    .addOption(formatOption(['text', 'json'], 'text'))
    .action(run(async (flags: { filename: string[]; prune?: boolean; output: string }, cmd: Command) => {
      const { docs, origins } = readDocuments(flags.filename);
      const res = await client(cmd).call<DiffResult>('POST', `/api/v1/diff${flags.prune === true ? '?prune=true' : ''}`, docs, origins);
      if (flags.output === 'json') {
        out(JSON.stringify(res, null, 2));
        return;
      }
      for (const r of res.resources) {
        const parts = [`${r.kind}/${r.name} ${r.action}`];
        if (r.fields.length > 0) parts.push(`(${r.fields.join(', ')})`);
        if (r.agents.length > 0) parts.push(`agents: ${r.agents.join(',')}`);
        if (r.gateways.length > 0) parts.push(`gateways: ${r.gateways.join(',')}`);
        out(parts.join('  '));
      }
      out(`touches agents: ${res.agents.join(',') || '-'}; gateways: ${res.gateways.join(',') || '-'}`);
    }));

  ctl.command('get <kind> [name]')
    .description('list resources of a kind (views, pipes, gateways, secrets, querykeys), enrolled members (agents, gateway-members), targeted commands (commands) or the fleet summary (fleet)')
    .addOption(formatOption(['table', 'json', 'yaml'], 'table'))
    .action(run(async (kindArg: string, name: string | undefined, flags: { output: string }, cmd: Command) => {
      await get(client(cmd), kindArg, name, flags.output);
    }));

  ctl.command('delete <kind> <name>')
    .description('delete a resource (refused while others reference it)')
    .action(run(async (kindArg: string, name: string, _flags: unknown, cmd: Command) => {
      const kind = resourceKind(kindArg);
      const res = await client(cmd).call<{ revision: number }>('DELETE', `/api/v1/resources/${kind}/${encodeURIComponent(name)}`);
      out(`${kind}/${name} deleted (revision ${res.revision})`);
    }));

  ctl.command('revoke <kind> <name>')
    .description('revoke an enrolled agent or gateway: its channel closes at once and its credential is not renewed')
    .action(run(async (kindArg: string, name: string, _flags: unknown, cmd: Command) => {
      const kind = kindArg.toLowerCase();
      if (kind !== 'agent' && kind !== 'gateway') throw new CtlError(`'${kindArg}' cannot be revoked: use agent or gateway`);
      await client(cmd).call('POST', `/api/v1/members/${kind}/${encodeURIComponent(name)}/revoke`);
      out(`${kind}/${name} revoked`);
    }));

  const signingKey = ctl.command('signing-key').description("the controller's credential-signing keys (rotation)");
  signingKey.command('list')
    .description('which key signs member credentials, which are published and until when')
    .addOption(formatOption(['table', 'json', 'yaml'], 'table'))
    .action(run(async (flags: { output: string }, cmd: Command) => {
      const { items } = await client(cmd).call<{ items: SigningKeyInfo[] }>('GET', '/api/v1/signing-keys');
      print(flags.output, items, () => keyTable(items));
    }));
  signingKey.command('rotate')
    .description('new signing key (admin): published now, signing after the activation delay; the old key stays published while its credentials can be presented')
    .action(run(async (_flags: unknown, cmd: Command) => {
      const r = await client(cmd).call<{ kid: string; active_from: string; keys: SigningKeyInfo[] }>('POST', '/api/v1/signing-keys/rotate');
      out(`signing key ${r.kid} published; it signs from ${r.active_from}`);
      for (const k of r.keys) if (k.kid !== r.kid && k.published_until !== null) out(`key ${k.kid} retires then; published until ${k.published_until}`);
    }));

  ctl.command('history')
    .description('the audit log, newest first')
    .option('--limit <n>', 'entries (default 50)', parsePositive)
    .addOption(formatOption(['table', 'json'], 'table'))
    .action(run(async (flags: { limit?: number; output: string }, cmd: Command) => {
      const page = await client(cmd).call<HistoryPage>('GET', `/api/v1/history?limit=${flags.limit ?? 50}`);
      print(flags.output, page.items, () => table(['ID', 'REVISION', 'TIME', 'ACTOR', 'ACTION', 'RESOURCE'],
        page.items.map((e) => [String(e.id), e.revision === null ? '-' : String(e.revision), e.time, e.actor, e.action, `${e.kind}/${e.name}`])));
    }));
  ctl.command('sync')
    .description('with controller --git: fetch the branch now and apply its head commit; prints the commit or why it was not applied')
    .action(run(async (_flags: unknown, cmd: Command) => {
      let res: { outcome: string; commit: string | null; revision: number | null; status: { last_applied_revision: number | null; last_error: { message: string; details: string[] } | null } };
      try {
        res = await client(cmd).call('POST', '/api/v1/sync');
      } catch (e) {
        if (e instanceof CtlError && e.message.startsWith('404:')) throw new CtlError('the controller does not run with --git: start it with fustor controller --git REPO[#branch[:dir]]');
        throw e;
      }
      const rev = res.revision ?? res.status.last_applied_revision;
      if (res.outcome === 'applied') out(`commit ${res.commit} applied (revision ${rev}${res.revision === null ? ', unchanged' : ''})`);
      else if (res.outcome === 'up-to-date') out(`commit ${res.commit} already applied (revision ${rev})`);
      else {
        const err = res.status.last_error;
        const what = res.commit === null ? 'sync failed' : `commit ${res.commit} not applied`;
        throw new CtlError(`${what}: ${err?.message ?? 'unknown error'}`, (err?.details ?? []).slice(1, 20).map((d) => `  ${d}`));
      }
    }));
  return ctl;
}

function keyTable(items: SigningKeyInfo[]): void {
  table(['KID', 'SIGNING', 'ACTIVE-FROM', 'RETIRED', 'PUBLISHED-UNTIL'], items.map((k) => [k.kid, k.signing ? 'yes' : 'no', k.active_from, k.retired_at ?? '-', k.published_until ?? '-']));
}

function resourceKind(input: string): string {
  const kind = normalizeKind(input);
  if (kind === undefined) throw new CtlError(`unknown kind '${input}': use views, pipes, gateways, secrets, querykeys (or agents, gateway-members, fleet for get)`);
  return kind;
}

async function get(c: Client, kindArg: string, name: string | undefined, format: string): Promise<void> {
  const low = kindArg.toLowerCase();
  // Enrolled members (fleet health). `gateways` stays the Gateway resources; the enrolled gateways are `gateway-members`.
  const member = low === 'agents' || low === 'agent' || low === 'members' ? 'agent' : MEMBER_KINDS.has(low) ? 'gateway' : undefined;
  if (member !== undefined) return getMembers(c, member, name, format);
  if (low === 'commands' || low === 'command') return getCommands(c, name, format);
  if (low === 'fleet') {
    const f = await c.call<FleetStatus>('GET', '/api/v1/fleet');
    return print(format, f, () => {
      const t = fleetText(f);
      t.before.forEach(out);
      table(t.table.header, t.table.rows);
      t.after.forEach(out);
    });
  }
  const kind = resourceKind(kindArg);
  if (name !== undefined) {
    const r = await c.call<StoredResourceView>('GET', `/api/v1/resources/${kind}/${encodeURIComponent(name)}`);
    return print(format, r, () => table(['NAME', 'REVISION', 'SPEC'], [[r.metadata.name, String(r.metadata.revision), summary(r)]]));
  }
  const { items } = await c.call<{ items: StoredResourceView[] }>('GET', `/api/v1/resources/${kind}`);
  print(format, items, () => table(['NAME', 'REVISION', 'SPEC'], items.map((r) => [r.metadata.name, String(r.metadata.revision), summary(r)])));
}

const MEMBER_KINDS = new Set(['gateway-members', 'gateway-member', 'gatewaymembers', 'gatewaymember']);

async function getMembers(c: Client, kind: 'agent' | 'gateway', name: string | undefined, format: string): Promise<void> {
  const path = `/api/v1/${kind === 'agent' ? 'agents' : 'gateways'}`;
  if (name === undefined) {
    const { items } = await c.call<{ items: (AgentInfo | GatewayMemberInfo)[] }>('GET', path);
    const t = memberTable(items, kind);
    return print(format, items, () => table(t.header, t.rows));
  }
  const m = await c.call<AgentInfo | GatewayMemberInfo>('GET', `${path}/${encodeURIComponent(name)}`);
  // The table form ends with the member's last commands (what was asked of it lately, and how it went).
  const recent = format === 'table' ? (await c.call<CommandList>('GET', `/api/v1/commands?kind=${kind}&name=${encodeURIComponent(name)}&limit=5`)).items : [];
  print(format, m, () => {
    const t = memberTable([m], kind);
    table(t.header, t.rows);
    memberDetails(m).forEach(out);
    const parts = componentTable(m);
    if (parts.rows.length > 0) {
      out('');
      table(parts.header, parts.rows);
    }
    if (recent.length > 0) {
      out('');
      table(['COMMAND', 'PIPE', 'STATE', 'CREATED', 'MESSAGE'], recent.map((x) => [x.command, x.pipe ?? '-', x.state, x.created_at, x.message ?? '-']));
    }
  });
}
