/**
 * `fustor ctl` verbs that send a targeted command to one member (spec 50) and wait for its outcome:
 *
 *   ctl rescan AGENT [--pipe P]           full audit now (leader) / scan of the root (follower), every pipe or one
 *   ctl restart-pipe AGENT PIPE           stop and start one pipe's worker
 *   ctl renew agent|gateway NAME          renew the member credential now
 *   ctl get commands [ID]                 the commands and their outcome, newest first
 *
 * Each verb prints `command ID STATE: MESSAGE` once the member answered (exit 0 when it succeeded, 1 when
 * it failed, expired or is still waiting after `--wait`, default 30s); `--no-wait` prints only the id.
 * `--ttl` (default 5m) is how long the controller keeps trying to reach a member that is not connected.
 */
import type { Command } from 'commander';
import type { CommandInfo, CommandList, CommandRequest } from '../../protocol/index.ts';
import { client, CtlError, out, parseDuration, print, run, table, type Client } from './ctl-client.ts';

interface WaitFlags { wait: number | false; ttl?: number }

const SETTLED = new Set(['succeeded', 'failed', 'expired']);

export function registerCommandVerbs(ctl: Command): Command {
  const waitOptions = (c: Command) => c
    .option('--wait <duration>', 'how long to wait for the answer (default 30s)', parseDuration, 30)
    .option('--no-wait', 'print the command id and return at once')
    .option('--ttl <duration>', 'how long the controller tries to reach the member (default 5m)', parseDuration);

  waitOptions(ctl.command('rescan <agent>')
    .description('make an agent audit its pipes now (leader: full audit, audit cache cleared; follower: scan of the whole root)')
    .option('--pipe <pipe>', 'only this pipe (default: every pipe of the agent)'))
    .action(run(async (agent: string, flags: WaitFlags & { pipe?: string }, cmd: Command) => {
      await send(client(cmd), 'agent', agent, { command: 'rescan', ...(flags.pipe === undefined ? {} : { pipe: flags.pipe }) }, flags);
    }));

  waitOptions(ctl.command('restart-pipe <agent> <pipe>')
    .description('restart one pipe of an agent (a fresh worker and gateway session, same configuration)'))
    .action(run(async (agent: string, pipe: string, flags: WaitFlags, cmd: Command) => {
      await send(client(cmd), 'agent', agent, { command: 'restart_pipe', pipe }, flags);
    }));

  waitOptions(ctl.command('renew <kind> <name>')
    .description('make an agent or gateway renew its credential now (instead of at half-life)'))
    .action(run(async (kindArg: string, name: string, flags: WaitFlags, cmd: Command) => {
      const kind = kindArg.toLowerCase();
      if (kind !== 'agent' && kind !== 'gateway') throw new CtlError(`'${kindArg}' has no credential to renew: use agent or gateway`);
      await send(client(cmd), kind, name, { command: 'renew_credential' }, flags);
    }));
  return ctl;
}

async function send(c: Client, kind: 'agent' | 'gateway', name: string, req: CommandRequest, flags: WaitFlags): Promise<void> {
  const body: CommandRequest = { ...req, ...(flags.ttl === undefined ? {} : { ttl_sec: flags.ttl }) };
  let cmd = await c.call<CommandInfo>('POST', `/api/v1/${kind}s/${encodeURIComponent(name)}/commands`, body);
  if (flags.wait === false) {
    out(cmd.id);
    return;
  }
  const deadline = Date.now() + flags.wait * 1000;
  while (!SETTLED.has(cmd.state) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    cmd = await c.call<CommandInfo>('GET', `/api/v1/commands/${encodeURIComponent(cmd.id)}`);
  }
  if (cmd.state === 'succeeded') {
    out(`command ${cmd.id} succeeded: ${cmd.message ?? ''}`);
    return;
  }
  if (cmd.state === 'failed') throw new CtlError(`command ${cmd.id} failed: ${cmd.message ?? 'no reason given'}`);
  if (cmd.state === 'expired') throw new CtlError(`command ${cmd.id} expired: ${kind} '${name}' did not ${cmd.delivered_at === null ? 'connect' : 'answer'} before ${cmd.expires_at} (see fustor ctl get ${kind === 'agent' ? 'agent' : 'gateway-members'} ${name})`);
  throw new CtlError(`command ${cmd.id} still ${cmd.state} after ${flags.wait}s: ${cmd.state === 'pending' ? `${kind} '${name}' is not connected; the controller keeps trying until ${cmd.expires_at}` : 'no answer yet'} (follow it with fustor ctl get commands ${cmd.id})`);
}

/** `ctl get commands [ID]`. */
export async function getCommands(c: Client, id: string | undefined, format: string): Promise<void> {
  const items = id === undefined
    ? (await c.call<CommandList>('GET', '/api/v1/commands')).items
    : [await c.call<CommandInfo>('GET', `/api/v1/commands/${encodeURIComponent(id)}`)];
  print(format, id === undefined ? items : items[0], () => table(['ID', 'MEMBER', 'COMMAND', 'PIPE', 'STATE', 'CREATED', 'ACTOR', 'MESSAGE'],
    items.map((x) => [x.id, `${x.kind}/${x.member}`, x.command, x.pipe ?? '-', x.state, x.created_at, x.actor, x.message ?? '-'])));
}

