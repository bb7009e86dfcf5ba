/**
 * MemberStore on PostgreSQL, for controller replicas sharing one database (same semantics as
 * SqliteMemberStore). It uses the pool of the PgStore of its process and never closes it.
 *
 * Concurrency across replicas: enrollment locks the token row (`FOR UPDATE`), so two enrollments with the
 * same N-use token consume uses one after the other and never below zero; a name taken by a concurrent
 * enrollment loses on the UNIQUE (kind, name) constraint (`ON CONFLICT DO NOTHING`) and costs no use;
 * revocation is a conditional UPDATE, so revoking twice keeps the first time.
 */
import { randomBytes } from 'node:crypto';
import type { Labels, MemberKind, MemberPublicKey } from '../../protocol/index.ts';
import type { Sql } from '../store/pg-connect.ts';
import { isoTime, isoTimeOrNull, memberAuditKind } from '../store/rows.ts';
import { toMember, type EnrollOutcome, type EnrollmentTokenRow, type MemberRecord, type MemberRow, type MemberStore, type ReportRecord } from './member-store.ts';


export class PgMemberStore implements MemberStore {
  constructor(private readonly sql: Sql) {}

  async findEnrollmentToken(id: string): Promise<EnrollmentTokenRow | undefined> {
    const [r] = await this.sql<{ id: string; kind: string; labels: string; uses_left: number; hash: string; expires_at: Date; revoked_at: Date | null }[]>`
      SELECT id, kind, labels, uses_left, hash, expires_at, revoked_at FROM enrollment_tokens WHERE id = ${id}`;
    return r === undefined ? undefined : {
      id: r.id, kind: r.kind as MemberKind, labels: JSON.parse(r.labels) as Labels, usesLeft: r.uses_left, hash: r.hash, expiresAt: isoTime(r.expires_at), revokedAt: isoTimeOrNull(r.revoked_at),
    };
  }

  async enroll(tokenId: string, m: { kind: MemberKind; name: string | undefined; publicJwk: MemberPublicKey; jkt: string }, now: number): Promise<EnrollOutcome> {
    return this.sql.begin(async (tx): Promise<EnrollOutcome> => {
      const [tok] = await tx<{ labels: string; uses_left: number; expires_at: Date; revoked_at: Date | null }[]>`
        SELECT labels, uses_left, expires_at, revoked_at FROM enrollment_tokens WHERE id = ${tokenId} FOR UPDATE`;
      if (tok === undefined || tok.uses_left <= 0 || tok.revoked_at !== null) return { ok: false, reason: 'used_up' };
      if (tok.expires_at.getTime() <= now) return { ok: false, reason: 'expired' };
      const id = `m-${randomBytes(12).toString('hex')}`;
      const name = m.name ?? `${m.kind}-${id.slice(2, 10)}`;
      const time = new Date(now);
      const [row] = await tx<MemberRow[]>`INSERT INTO members (id, kind, name, labels, public_jwk, jkt, state, enrolled_at, enrollment_token)
        VALUES (${id}, ${m.kind}, ${name}, ${tok.labels}, ${JSON.stringify(m.publicJwk)}, ${m.jkt}, 'enrolled', ${time}, ${tokenId})
        ON CONFLICT (kind, name) DO NOTHING RETURNING *`;
      if (row === undefined) return { ok: false, reason: 'name_taken' };
      await tx`UPDATE enrollment_tokens SET uses_left = uses_left - 1 WHERE id = ${tokenId}`;
      // The fleet tables (diff "touches", planning) list members by name.
      const fleet = m.kind === 'agent' ? 'agents' : 'gateway_members';
      await tx`INSERT INTO ${tx(fleet)} (name, labels, state, enrolled_at) VALUES (${name}, ${tok.labels}, 'enrolled', ${time})
        ON CONFLICT (name) DO UPDATE SET labels = excluded.labels, state = excluded.state, enrolled_at = excluded.enrolled_at`;
      await tx`INSERT INTO audit (revision, actor, time, action, kind, name) VALUES (NULL, ${`enrollment-token:${tokenId}`}, ${time}, 'member.enrolled', ${memberAuditKind(m.kind)}, ${name})`;
      return { ok: true, member: toMember(row) };
    }) as Promise<EnrollOutcome>;
  }

  async getMember(id: string): Promise<MemberRecord | undefined> {
    const [r] = await this.sql<MemberRow[]>`SELECT * FROM members WHERE id = ${id}`;
    return r === undefined ? undefined : toMember(r);
  }

  async findMember(kind: MemberKind, name: string): Promise<MemberRecord | undefined> {
    const [r] = await this.sql<MemberRow[]>`SELECT * FROM members WHERE kind = ${kind} AND name = ${name}`;
    return r === undefined ? undefined : toMember(r);
  }

  async listMembers(kind?: MemberKind): Promise<MemberRecord[]> {
    const rows = kind === undefined
      ? await this.sql<MemberRow[]>`SELECT * FROM members ORDER BY kind, name`
      : await this.sql<MemberRow[]>`SELECT * FROM members WHERE kind = ${kind} ORDER BY name`;
    return rows.map(toMember);
  }

  async revoke(id: string, now: number): Promise<MemberRecord | undefined> {
    return this.sql.begin(async (tx): Promise<MemberRecord | undefined> => {
      const [changed] = await tx<{ kind: string; name: string }[]>`
        UPDATE members SET state = 'revoked', revoked_at = ${new Date(now)} WHERE id = ${id} AND revoked_at IS NULL RETURNING kind, name`;
      if (changed !== undefined) await tx`UPDATE ${tx(changed.kind === 'agent' ? 'agents' : 'gateway_members')} SET state = 'revoked' WHERE name = ${changed.name}`;
      const [r] = await tx<MemberRow[]>`SELECT * FROM members WHERE id = ${id}`;
      return r === undefined ? undefined : toMember(r);
    }) as Promise<MemberRecord | undefined>;
  }

  async useProof(jti: string, memberId: string, expiresAtSec: number, nowSec: number): Promise<boolean> {
    await this.sql`DELETE FROM used_proofs WHERE expires_at < ${nowSec}`;
    const r = await this.sql`INSERT INTO used_proofs (jti, member_id, expires_at) VALUES (${jti}, ${memberId}, ${expiresAtSec}) ON CONFLICT (jti) DO NOTHING RETURNING jti`;
    return r.length === 1;
  }

  async recordReport(id: string, rec: ReportRecord): Promise<void> {
    await this.sql`UPDATE members SET last_seen = ${new Date(rec.now)}, last_report = ${rec.report}, channel_replica = ${rec.replica},
      state = CASE WHEN revoked_at IS NULL THEN ${rec.state} ELSE 'revoked' END WHERE id = ${id}`;
  }

  async channelClosed(id: string, replica: string): Promise<void> {
    await this.sql`UPDATE members SET channel_replica = NULL WHERE id = ${id} AND channel_replica = ${replica}`;
  }

  async changeMarker(): Promise<string> {
    const [r] = await this.sql<{ n: string; r: string; e: Date | null; x: Date | null }[]>`
      SELECT COUNT(*) AS n, COUNT(revoked_at) AS r, MAX(enrolled_at) AS e, MAX(revoked_at) AS x FROM members`;
    return `${r.n}:${r.r}:${r.e?.toISOString() ?? ''}:${r.x?.toISOString() ?? ''}`;
  }

  dispose(): void {
    // The pool belongs to the PgStore of this process.
  }
}
