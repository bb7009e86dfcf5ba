/**
 * Storage of targeted commands (SQLite here, PostgreSQL in pg-command-store.ts; same semantics).
 *
 * A command is claimed for delivery by a conditional UPDATE (`state = 'pending'`), so when several replicas
 * see the same pending command only the one that wins the update sends it; a result is recorded only for a
 * delivered command of the member that answers (a member cannot settle another member's command). Expiry is
 * computed at read time from `expires_at` (no sweeper), like member health.
 */
import type Database from 'better-sqlite3';
import type { CommandInfo, CommandState, MemberCommandName, MemberKind } from '../../protocol/index.ts';
import type { Disposable } from '../../kernel/disposable.ts';
import { isoTime, isoTimeOrNull, memberAuditKind, type DbTime } from '../store/rows.ts';
import { openSideConnection } from '../store/statement-cache.ts';

export interface NewCommand {
  id: string; memberId: string; kind: MemberKind; member: string; command: MemberCommandName; pipe: string | null; actor: string; now: number; expiresAt: number;
}

/** A command waiting to be sent: what the hub needs to route it to a connected member. */
export interface OpenCommand { id: string; memberId: string; command: MemberCommandName; pipe: string | null }

export interface CommandStore extends Disposable {
  create(c: NewCommand): Promise<CommandInfo>;
  get(id: string, now?: number): Promise<CommandInfo | undefined>;
  /** Newest first; `memberId` narrows to one member. */
  list(opts: { memberId?: string; limit: number }, now: number): Promise<CommandInfo[]>;
  /** Pending commands not yet expired, oldest first. */
  pending(now: number): Promise<OpenCommand[]>;
  /** pending → delivered; false when another replica claimed it first (or it expired meanwhile). */
  claim(id: string, now: number): Promise<boolean>;
  /** delivered → succeeded/failed for this member's command; false when it was not delivered to this member. */
  finish(id: string, memberId: string, ok: boolean, message: string, now: number): Promise<boolean>;
}

/** A `member_commands` row as either driver returns it. */
export interface CommandRow {
  id: string; member_id: string; kind: string; member: string; command: string; pipe: string | null; state: string; message: string | null; actor: string;
  created_at: DbTime; delivered_at: DbTime | null; finished_at: DbTime | null; expires_at: DbTime;
}

export function toCommandInfo(r: CommandRow, now: number): CommandInfo {
  const expiresAt = isoTime(r.expires_at);
  const open = r.state === 'pending' || r.state === 'delivered';
  return {
    id: r.id, kind: r.kind as MemberKind, member: r.member, command: r.command as MemberCommandName, pipe: r.pipe,
    state: (open && Date.parse(expiresAt) <= now ? 'expired' : r.state) as CommandState,
    message: r.message, actor: r.actor, created_at: isoTime(r.created_at), delivered_at: isoTimeOrNull(r.delivered_at),
    finished_at: isoTimeOrNull(r.finished_at), expires_at: expiresAt,
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

export class SqliteCommandStore implements CommandStore {
  private readonly db: Database.Database;
  private readonly sql: (text: string) => Database.Statement;

  constructor(file: string) {
    ({ db: this.db, sql: this.sql } = openSideConnection(file));
  }

  async create(c: NewCommand): Promise<CommandInfo> {
    // The command and its audit row together, as on PostgreSQL.
    this.db.transaction(() => {
      this.sql(`INSERT INTO member_commands (id, member_id, kind, member, command, pipe, state, actor, created_at, expires_at)
        VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`).run(c.id, c.memberId, c.kind, c.member, c.command, c.pipe, c.actor, iso(c.now), iso(c.expiresAt));
      this.sql(`INSERT INTO audit (revision, actor, time, action, kind, name, before_hash, after_hash) VALUES (NULL, ?, ?, ?, ?, ?, NULL, NULL)`)
        .run(c.actor, iso(c.now), `command.${c.command}`, memberAuditKind(c.kind), c.member);
    }).immediate();
    return toCommandInfo(this.sql('SELECT * FROM member_commands WHERE id = ?').get(c.id) as CommandRow, c.now);
  }

  async get(id: string, now = Date.now()): Promise<CommandInfo | undefined> {
    const r = this.sql('SELECT * FROM member_commands WHERE id = ?').get(id) as CommandRow | undefined;
    return r === undefined ? undefined : toCommandInfo(r, now);
  }

  async list(opts: { memberId?: string; limit: number }, now: number): Promise<CommandInfo[]> {
    const rows = (opts.memberId === undefined
      ? this.sql('SELECT * FROM member_commands ORDER BY created_at DESC, id LIMIT ?').all(opts.limit)
      : this.sql('SELECT * FROM member_commands WHERE member_id = ? ORDER BY created_at DESC, id LIMIT ?').all(opts.memberId, opts.limit)) as CommandRow[];
    return rows.map((r) => toCommandInfo(r, now));
  }

  async pending(now: number): Promise<OpenCommand[]> {
    const rows = this.sql("SELECT id, member_id, command, pipe FROM member_commands WHERE state = 'pending' AND expires_at > ? ORDER BY created_at, id").all(iso(now)) as
      { id: string; member_id: string; command: string; pipe: string | null }[];
    return rows.map((r) => ({ id: r.id, memberId: r.member_id, command: r.command as MemberCommandName, pipe: r.pipe }));
  }

  async claim(id: string, now: number): Promise<boolean> {
    return this.sql("UPDATE member_commands SET state = 'delivered', delivered_at = ? WHERE id = ? AND state = 'pending' AND expires_at > ?").run(iso(now), id, iso(now)).changes === 1;
  }

  async finish(id: string, memberId: string, ok: boolean, message: string, now: number): Promise<boolean> {
    return this.sql("UPDATE member_commands SET state = ?, message = ?, finished_at = ? WHERE id = ? AND member_id = ? AND state = 'delivered'")
      .run(ok ? 'succeeded' : 'failed', message, iso(now), id, memberId).changes === 1;
  }

  dispose(): void {
    if (this.db.open) this.db.close();
  }
}
