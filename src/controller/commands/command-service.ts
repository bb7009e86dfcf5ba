/**
 * Targeted commands (spec 50): checks what an operator asks of one member before it is stored — the member
 * exists and is not revoked, the command fits its kind, the pipe is one the desired state gives it — so a
 * typo is a clear 4xx at once instead of a command that fails later on the host. Delivery is the hub's
 * (channel/hub.ts), through the store, so it works whichever replica the member is connected to.
 */
import { randomBytes } from 'node:crypto';
import { FustorError } from '../../kernel/errors.ts';
import type { CommandInfo, CommandRequest, MemberKind, PipeSpec } from '../../protocol/index.ts';
import type { MemberStore } from '../identity/member-store.ts';
import { pipeRunsOn } from '../manifest/build.ts';
import type { ControllerStore } from '../store/store.ts';
import type { CommandStore } from './command-store.ts';

export const DEFAULT_COMMAND_TTL_SEC = 300;
const MAX_LIST = 500;

const FOR_KIND: Record<MemberKind, readonly string[]> = {
  agent: ['rescan', 'restart_pipe', 'renew_credential'],
  gateway: ['renew_credential'],
};

export class CommandService {
  constructor(
    private readonly members: MemberStore,
    private readonly commands: CommandStore,
    private readonly store: ControllerStore,
    /** Told after a command is stored, so this replica delivers it at once (others see it on their next watch). */
    private readonly onCreated: () => void,
  ) {}

  async create(kind: MemberKind, name: string, req: CommandRequest, actor: string, now = Date.now()): Promise<CommandInfo> {
    const member = await this.members.findMember(kind, name);
    if (member === undefined) throw new FustorError('NOT_FOUND', `no ${kind} named '${name}' is enrolled (see fustor ctl get ${kind === 'agent' ? 'agents' : 'gateway-members'})`);
    if (member.revokedAt !== null) throw new FustorError('CONFLICT', `${kind} '${name}' is revoked: it receives no commands`);
    if (!FOR_KIND[kind].includes(req.command)) {
      throw new FustorError('BAD_REQUEST', `${kind}s accept ${FOR_KIND[kind].join(', ')}; '${req.command}' is for agents`);
    }
    const pipe = req.pipe ?? null;
    if (req.command === 'restart_pipe' && pipe === null) throw new FustorError('BAD_REQUEST', 'restart_pipe needs the pipe to restart: pass "pipe"');
    if (req.command === 'renew_credential' && pipe !== null) throw new FustorError('BAD_REQUEST', 'renew_credential is about the member, not a pipe: leave "pipe" out');
    if (pipe !== null) {
      const pipes = (await this.store.listResources()).filter((r) => r.kind === 'Pipe' && pipeRunsOn(r.doc.spec as PipeSpec, member)).map((r) => r.name);
      if (!pipes.includes(pipe)) {
        throw new FustorError('NOT_FOUND', `agent '${name}' runs no pipe '${pipe}'${pipes.length === 0 ? ' (it runs no pipe)' : `; its pipes: ${pipes.sort().join(', ')}`}`);
      }
    }
    const ttl = req.ttl_sec ?? DEFAULT_COMMAND_TTL_SEC;
    const info = await this.commands.create({
      id: `c-${randomBytes(10).toString('hex')}`, memberId: member.id, kind, member: member.name, command: req.command, pipe, actor, now, expiresAt: now + ttl * 1000,
    });
    this.onCreated();
    return info;
  }

  async get(id: string): Promise<CommandInfo> {
    const c = await this.commands.get(id);
    if (c === undefined) throw new FustorError('NOT_FOUND', `no command '${id}'`);
    return c;
  }

  async list(filter: { kind?: MemberKind; name?: string; limit?: number }): Promise<CommandInfo[]> {
    const limit = Math.min(filter.limit ?? 100, MAX_LIST);
    if (filter.name === undefined) return this.commands.list({ limit }, Date.now());
    const member = await this.members.findMember(filter.kind ?? 'agent', filter.name);
    if (member === undefined) throw new FustorError('NOT_FOUND', `no ${filter.kind ?? 'agent'} named '${filter.name}' is enrolled`);
    return this.commands.list({ memberId: member.id, limit }, Date.now());
  }
}
