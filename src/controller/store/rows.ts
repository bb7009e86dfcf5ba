/**
 * Database rows → the store's records, shared by the SQLite and PostgreSQL stores. The two drivers differ
 * only in types: SQLite hands back ISO text and numbers, PostgreSQL `Date`s for timestamptz and strings for
 * BIGINT. Normalising here keeps both stores returning byte-identical records.
 */
import type { AuditEntry, Labels, MemberKind, ResourceDocument, ResourceKind } from '../../protocol/index.ts';
import type { AgentRecord, StoredResource } from './store.ts';

export type DbTime = string | Date;
export type DbInt = number | string;

export const isoTime = (t: DbTime): string => (typeof t === 'string' ? t : t.toISOString());
export const isoTimeOrNull = (t: DbTime | null): string | null => (t === null ? null : isoTime(t));

/** The `kind` column of audit rows about a member (the resources have kinds of their own; members do not). */
export const memberAuditKind = (kind: MemberKind): string => (kind === 'agent' ? 'Agent' : 'GatewayMember');

export interface ResourceRow { kind: string; name: string; doc: string; sealed: string | null; hash: string; revision: DbInt; created_revision: DbInt; updated_at: DbTime }
export interface AuditRow { id: DbInt; revision: DbInt | null; actor: string; time: DbTime; action: string; kind: string; name: string; before_hash: string | null; after_hash: string | null }
export interface FleetRow { name: string; labels: string; state: string; enrolled_at: DbTime; last_seen: DbTime | null; url?: string | null }

export function toResource(r: ResourceRow): StoredResource {
  return {
    kind: r.kind as ResourceKind,
    name: r.name,
    doc: JSON.parse(r.doc) as ResourceDocument,
    sealed: r.sealed,
    hash: r.hash,
    revision: Number(r.revision),
    createdRevision: Number(r.created_revision),
    updatedAt: isoTime(r.updated_at),
  };
}

export function toAuditEntry(a: AuditRow): AuditEntry {
  return {
    id: Number(a.id), revision: a.revision === null ? null : Number(a.revision), actor: a.actor, time: isoTime(a.time), action: a.action,
    kind: a.kind, name: a.name, before_hash: a.before_hash, after_hash: a.after_hash,
  };
}

export function toAgentRecord(r: FleetRow): AgentRecord {
  return { name: r.name, labels: JSON.parse(r.labels) as Labels, state: r.state, enrolledAt: isoTime(r.enrolled_at), lastSeen: isoTimeOrNull(r.last_seen) };
}
