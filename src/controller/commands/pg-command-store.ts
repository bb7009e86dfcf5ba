/**
 * CommandStore on PostgreSQL, for controller replicas sharing one database (same semantics as
 * SqliteCommandStore: conditional UPDATEs decide which replica delivers and which answer counts). Uses the
 * pool of the PgStore of its process and never closes it.
 */
import type { CommandInfo } from '../../protocol/index.ts';
import type { Sql } from '../store/pg-connect.ts';
import { memberAuditKind } from '../store/rows.ts';
import { toCommandInfo, type CommandRow, type CommandStore, type NewCommand, type OpenCommand } from './command-store.ts';

export class PgCommandStore implements CommandStore {
  constructor(private readonly sql: Sql) {}

  async create(c: NewCommand): Promise<CommandInfo> {
    const created = new Date(c.now);
    const row = await this.sql.begin(async (tx) => {
      const [r] = await tx<CommandRow[]>`INSERT INTO member_commands (id, member_id, kind, member, command, pipe, state, actor, created_at, expires_at)
        VALUES (${c.id}, ${c.memberId}, ${c.kind}, ${c.member}, ${c.command}, ${c.pipe}, 'pending', ${c.actor}, ${created}, ${new Date(c.expiresAt)}) RETURNING *`;
      await tx`INSERT INTO audit (revision, actor, time, action, kind, name) VALUES (NULL, ${c.actor}, ${created}, ${`command.${c.command}`}, ${memberAuditKind(c.kind)}, ${c.member})`;
      return r;
    }) as CommandRow;
    return toCommandInfo(row, c.now);
  }

  async get(id: string, now = Date.now()): Promise<CommandInfo | undefined> {
    const [r] = await this.sql<CommandRow[]>`SELECT * FROM member_commands WHERE id = ${id}`;
    return r === undefined ? undefined : toCommandInfo(r, now);
  }

  async list(opts: { memberId?: string; limit: number }, now: number): Promise<CommandInfo[]> {
    const rows = opts.memberId === undefined
      ? await this.sql<CommandRow[]>`SELECT * FROM member_commands ORDER BY created_at DESC, id LIMIT ${opts.limit}`
      : await this.sql<CommandRow[]>`SELECT * FROM member_commands WHERE member_id = ${opts.memberId} ORDER BY created_at DESC, id LIMIT ${opts.limit}`;
    return rows.map((r) => toCommandInfo(r, now));
  }

  async pending(now: number): Promise<OpenCommand[]> {
    const rows = await this.sql<{ id: string; member_id: string; command: OpenCommand['command']; pipe: string | null }[]>`
      SELECT id, member_id, command, pipe FROM member_commands WHERE state = 'pending' AND expires_at > ${new Date(now)} ORDER BY created_at, id`;
    return rows.map((r) => ({ id: r.id, memberId: r.member_id, command: r.command, pipe: r.pipe }));
  }

  async claim(id: string, now: number): Promise<boolean> {
    const t = new Date(now);
    const r = await this.sql`UPDATE member_commands SET state = 'delivered', delivered_at = ${t} WHERE id = ${id} AND state = 'pending' AND expires_at > ${t}`;
    return r.count === 1;
  }

  async finish(id: string, memberId: string, ok: boolean, message: string, now: number): Promise<boolean> {
    const r = await this.sql`UPDATE member_commands SET state = ${ok ? 'succeeded' : 'failed'}, message = ${message}, finished_at = ${new Date(now)}
      WHERE id = ${id} AND member_id = ${memberId} AND state = 'delivered'`;
    return r.count === 1;
  }

  dispose(): void { /* the pool belongs to the PgStore */ }
}
