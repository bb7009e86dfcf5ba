/**
 * Storage of enrolled members (agents, gateways). Async interface (PostgreSQL: pg-member-store.ts); the SQLite
 * implementation uses its own connection to the controller database (WAL; writes serialised by
 * `BEGIN IMMEDIATE`), so it needs nothing from the resource store but the file. Enrollment consumes one use
 * of the token and records the member in ONE transaction: a refused enrollment never costs a use.
 */
import { isoTime, isoTimeOrNull, memberAuditKind, type DbTime } from '../store/rows.ts';
import { openSideConnection } from '../store/statement-cache.ts';
import type Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import type { Labels, MemberKind, MemberPublicKey } from '../../protocol/index.ts';
import type { Disposable } from '../../kernel/disposable.ts';

export interface MemberRecord {
  id: string;
  kind: MemberKind;
  name: string;
  labels: Labels;
  publicJwk: MemberPublicKey;
  jkt: string;
  state: string;
  enrolledAt: string;
  revokedAt: string | null;
  lastSeen: string | null;
  /** JSON of the member's last `report` frame (null before the first); health is computed from it at read time. */
  lastReport: string | null;
  /** The controller replica that received that report over an open channel (null once it saw the channel close). */
  channelReplica: string | null;
}

/** What `recordReport` stores: the state the report implies on its own, the report as JSON, its arrival time, the replica it reached. */
export interface ReportRecord { state: string; report: string; now: number; replica: string }

export interface EnrollmentTokenRow { id: string; kind: MemberKind; labels: Labels; usesLeft: number; hash: string; expiresAt: string; revokedAt: string | null }

export type EnrollOutcome =
  | { ok: true; member: MemberRecord }
  | { ok: false; reason: 'used_up' | 'expired' | 'name_taken' };

export interface MemberStore extends Disposable {
  findEnrollmentToken(id: string): Promise<EnrollmentTokenRow | undefined>;
  /** Atomically: re-check the token (uses left, not expired/revoked), consume one use, insert the member. */
  enroll(tokenId: string, member: { kind: MemberKind; name: string | undefined; publicJwk: MemberPublicKey; jkt: string }, now: number): Promise<EnrollOutcome>;
  getMember(id: string): Promise<MemberRecord | undefined>;
  findMember(kind: MemberKind, name: string): Promise<MemberRecord | undefined>;
  listMembers(kind?: MemberKind): Promise<MemberRecord[]>;
  revoke(id: string, now: number): Promise<MemberRecord | undefined>;
  /** Records a proof id; false when it was already used (replay). Forgets expired ids. */
  useProof(jti: string, memberId: string, expiresAtSec: number, nowSec: number): Promise<boolean>;
  /**
   * Stores the member's last report: last_seen = now, last_report = report, state = rec.state (stays
   * 'revoked' once revoked). One row write per report (the fleet tables are not touched: `members` is the
   * source of truth for monitoring). Unknown ids are ignored.
   */
  recordReport(id: string, rec: ReportRecord): Promise<void>;
  /** The channel of `id` to `replica` closed: forget the replica, unless a newer report named another one. */
  channelClosed(id: string, replica: string): Promise<void>;
  /**
   * A cheap value that changes whenever a member is enrolled or revoked — by this process or by another
   * controller replica on the same database. The channel hub polls it with the revision, so manifests and
   * open channels follow member changes made anywhere. Reports do not change it (they do not change manifests).
   */
  changeMarker(): Promise<string>;
}

/** A `members` row as either driver returns it (timestamps: ISO text in SQLite, Date in PostgreSQL). */
export interface MemberRow { id: string; kind: string; name: string; labels: string; public_jwk: string; jkt: string; state: string; enrolled_at: DbTime; revoked_at: DbTime | null; last_seen: DbTime | null; last_report: string | null; channel_replica?: string | null }

export const toMember = (r: MemberRow): MemberRecord => ({
  id: r.id, kind: r.kind as MemberKind, name: r.name, labels: JSON.parse(r.labels) as Labels, publicJwk: JSON.parse(r.public_jwk) as MemberPublicKey,
  jkt: r.jkt, state: r.state, enrolledAt: isoTime(r.enrolled_at), revokedAt: isoTimeOrNull(r.revoked_at), lastSeen: isoTimeOrNull(r.last_seen),
  lastReport: r.last_report ?? null,
  channelReplica: r.channel_replica ?? null,
});

export class SqliteMemberStore implements MemberStore {
  private readonly db: Database.Database;
  private readonly sql: (text: string) => Database.Statement;

  constructor(file: string) {
    ({ db: this.db, sql: this.sql } = openSideConnection(file));
  }

  async findEnrollmentToken(id: string): Promise<EnrollmentTokenRow | undefined> {
    const r = this.sql('SELECT id, kind, labels, uses_left, hash, expires_at, revoked_at FROM enrollment_tokens WHERE id = ?').get(id) as
      { id: string; kind: string; labels: string; uses_left: number; hash: string; expires_at: string; revoked_at: string | null } | undefined;
    return r === undefined ? undefined : { id: r.id, kind: r.kind as MemberKind, labels: JSON.parse(r.labels) as Labels, usesLeft: r.uses_left, hash: r.hash, expiresAt: r.expires_at, revokedAt: r.revoked_at };
  }

  async enroll(tokenId: string, m: { kind: MemberKind; name: string | undefined; publicJwk: MemberPublicKey; jkt: string }, now: number): Promise<EnrollOutcome> {
    const run = this.db.transaction((): EnrollOutcome => {
      const tok = this.sql('SELECT labels, uses_left, expires_at, revoked_at FROM enrollment_tokens WHERE id = ?').get(tokenId) as
        { labels: string; uses_left: number; expires_at: string; revoked_at: string | null } | undefined;
      if (tok === undefined || tok.uses_left <= 0 || tok.revoked_at !== null) return { ok: false, reason: 'used_up' };
      if (Date.parse(tok.expires_at) <= now) return { ok: false, reason: 'expired' };
      const id = `m-${randomBytes(12).toString('hex')}`;
      const name = m.name ?? `${m.kind}-${id.slice(2, 10)}`;
      const taken = this.sql('SELECT 1 FROM members WHERE kind = ? AND name = ?').get(m.kind, name);
      if (taken !== undefined) return { ok: false, reason: 'name_taken' };
      const time = new Date(now).toISOString();
      this.sql('UPDATE enrollment_tokens SET uses_left = uses_left - 1 WHERE id = ?').run(tokenId);
      this.sql(`INSERT INTO members (id, kind, name, labels, public_jwk, jkt, state, enrolled_at, enrollment_token)
        VALUES (?, ?, ?, ?, ?, ?, 'enrolled', ?, ?)`).run(id, m.kind, name, tok.labels, JSON.stringify(m.publicJwk), m.jkt, time, tokenId);
      // The fleet tables (diff "touches", planning) list members by name; monitoring reads `members`.
      const fleet = m.kind === 'agent' ? 'agents' : 'gateway_members';
      this.sql(`INSERT INTO ${fleet} (name, labels, state, enrolled_at) VALUES (?, ?, 'enrolled', ?)
        ON CONFLICT (name) DO UPDATE SET labels = excluded.labels, state = excluded.state, enrolled_at = excluded.enrolled_at`).run(name, tok.labels, time);
      this.sql(`INSERT INTO audit (revision, actor, time, action, kind, name, before_hash, after_hash) VALUES (NULL, ?, ?, 'member.enrolled', ?, ?, NULL, NULL)`)
        .run(`enrollment-token:${tokenId}`, time, memberAuditKind(m.kind), name);
      return { ok: true, member: toMember(this.sql('SELECT * FROM members WHERE id = ?').get(id) as MemberRow) };
    });
    return run.immediate();
  }

  async getMember(id: string): Promise<MemberRecord | undefined> {
    const r = this.sql('SELECT * FROM members WHERE id = ?').get(id) as MemberRow | undefined;
    return r === undefined ? undefined : toMember(r);
  }

  async findMember(kind: MemberKind, name: string): Promise<MemberRecord | undefined> {
    const r = this.sql('SELECT * FROM members WHERE kind = ? AND name = ?').get(kind, name) as MemberRow | undefined;
    return r === undefined ? undefined : toMember(r);
  }

  async listMembers(kind?: MemberKind): Promise<MemberRecord[]> {
    const rows = (kind === undefined ? this.sql('SELECT * FROM members ORDER BY kind, name').all() : this.sql('SELECT * FROM members WHERE kind = ? ORDER BY name').all(kind)) as MemberRow[];
    return rows.map(toMember);
  }

  async revoke(id: string, now: number): Promise<MemberRecord | undefined> {
    const run = this.db.transaction((): MemberRecord | undefined => {
      const r = this.sql('SELECT * FROM members WHERE id = ?').get(id) as MemberRow | undefined;
      if (r === undefined) return undefined;
      if (r.revoked_at === null) {
        const time = new Date(now).toISOString();
        this.sql("UPDATE members SET state = 'revoked', revoked_at = ? WHERE id = ?").run(time, id);
        this.sql(`UPDATE ${r.kind === 'agent' ? 'agents' : 'gateway_members'} SET state = 'revoked' WHERE name = ?`).run(r.name);
      }
      return toMember(this.sql('SELECT * FROM members WHERE id = ?').get(id) as MemberRow);
    });
    return run.immediate();
  }

  async useProof(jti: string, memberId: string, expiresAtSec: number, nowSec: number): Promise<boolean> {
    const run = this.db.transaction((): boolean => {
      this.sql('DELETE FROM used_proofs WHERE expires_at < ?').run(nowSec);
      const r = this.sql('INSERT INTO used_proofs (jti, member_id, expires_at) VALUES (?, ?, ?) ON CONFLICT (jti) DO NOTHING').run(jti, memberId, expiresAtSec);
      return r.changes === 1;
    });
    return run.immediate();
  }

  async recordReport(id: string, rec: ReportRecord): Promise<void> {
    this.sql("UPDATE members SET last_seen = ?, last_report = ?, channel_replica = ?, state = CASE WHEN revoked_at IS NULL THEN ? ELSE 'revoked' END WHERE id = ?")
      .run(new Date(rec.now).toISOString(), rec.report, rec.replica, rec.state, id);
  }

  async channelClosed(id: string, replica: string): Promise<void> {
    this.sql('UPDATE members SET channel_replica = NULL WHERE id = ? AND channel_replica = ?').run(id, replica);
  }

  async changeMarker(): Promise<string> {
    const r = this.sql('SELECT COUNT(*) AS n, COUNT(revoked_at) AS r, MAX(enrolled_at) AS e, MAX(revoked_at) AS x FROM members').get() as
      { n: number; r: number; e: string | null; x: string | null };
    return `${r.n}:${r.r}:${r.e ?? ''}:${r.x ?? ''}`;
  }

  dispose(): void {
    if (this.db.open) this.db.close();
  }
}
