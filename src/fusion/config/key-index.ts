/**
 * Who a key is (spec 10, "Authentication"): a receiver key authorises ingest for exactly one pipe; a view
 * key (`api_keys`) authorises queries of that view; an admin key (`admin_keys`) also authorises
 * `DELETE /reset` of that view (and its queries). One key may hold several grants (e.g. a query key
 * shared by two views). Built from the resolved config and swapped whole on reload.
 *
 * Managed mode (spec 50) adds two kinds of grant from the controller's manifest: query keys known only by
 * their sha256 (the gateway never holds the key itself), and agents identified by a verified credential,
 * whose grant is computed per request from the pipe they name (`agentGrant`), so a newer manifest takes
 * effect at once.
 */
import { createHash } from 'node:crypto';
import { forbidden } from '../../kernel/errors.ts';
import type { ManagedAccess, ResolvedConfig } from './resolved-config.ts';

export interface KeyGrant {
  /** Set for receiver keys and agent credentials: the pipe it may push to and the receiver serving it. */
  pipe: { pipeId: string; receiverId: string } | null;
  views: Set<string>;
  adminViews: Set<string>;
  /** Set for agent credentials: the controller's member id of the agent (its principal is `agent:<id>`). */
  member: string | null;
}

/** What a session remembers of its creator, to check it again after a reload. */
export interface SessionOwner { principal: string; memberId: string | null; pipeId: string }

/** `sha256:<hex>` of the UTF-8 key: the form in which the controller hands query keys to gateways. */
export function keyHash(key: string): string {
  return `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

export class KeyIndex {
  private constructor(
    private readonly grants: Map<string, KeyGrant>,
    private readonly hashed: Map<string, KeyGrant>,
    private readonly access: ManagedAccess | undefined,
    private readonly receiverOf: Map<string, string>,
  ) {}

  static build(config: ResolvedConfig): KeyIndex {
    const grants = new Map<string, KeyGrant>();
    const grantOf = (key: string): KeyGrant => {
      let g = grants.get(key);
      if (g === undefined) {
        g = { pipe: null, views: new Set(), adminViews: new Set(), member: null };
        grants.set(key, g);
      }
      return g;
    };
    for (const r of config.receivers.values()) {
      if (r.disabled) continue;
      for (const k of r.keys) grantOf(k.key).pipe = { pipeId: k.pipeId, receiverId: r.id };
    }
    for (const v of config.views.values()) {
      if (v.disabled) continue;
      for (const k of v.apiKeys) grantOf(k).views.add(v.id);
      for (const k of v.adminKeys) {
        const g = grantOf(k);
        g.views.add(v.id);
        g.adminViews.add(v.id);
      }
    }
    const hashed = new Map<string, KeyGrant>();
    for (const [hash, views] of config.access?.queryKeys ?? []) {
      const enabled = [...views].filter((v) => config.views.get(v)?.disabled === false);
      hashed.set(hash, { pipe: null, views: new Set(enabled), adminViews: new Set(), member: null });
    }
    const receiverOf = new Map([...config.pipes.values()].map((p) => [p.id, p.receiverId]));
    return new KeyIndex(grants, hashed, config.access, receiverOf);
  }

  lookup(key: string): KeyGrant | undefined {
    return this.grants.get(key) ?? (this.hashed.size > 0 ? this.hashed.get(keyHash(key)) : undefined);
  }

  /** True when the controller feeds this gateway: agent credentials may then be presented. */
  get managed(): boolean {
    return this.access !== undefined;
  }

  /** Managed mode: the grant of agent `memberId` pushing for `pipeId`; throws FORBIDDEN naming why not. */
  agentGrant(memberId: string, pipeId: string): KeyGrant {
    const problem = this.agentProblem(memberId, pipeId);
    if (problem !== null) throw forbidden(problem);
    return { pipe: { pipeId, receiverId: this.receiverOf.get(pipeId)! }, views: new Set(), adminViews: new Set(), member: memberId };
  }

  /** Whether the creator of a session may still push to its pipe (checked after every reload). */
  allows(owner: SessionOwner): boolean {
    if (owner.memberId !== null) return this.agentProblem(owner.memberId, owner.pipeId) === null;
    return this.grants.get(owner.principal)?.pipe?.pipeId === owner.pipeId;
  }

  private agentProblem(memberId: string, pipeId: string): string | null {
    const access = this.access;
    if (access === undefined) return 'this gateway is not managed by a controller: agent credentials are not accepted';
    if (access.revoked.has(memberId)) return `agent ${memberId} was revoked by the controller: its data is refused`;
    const agents = access.pipeAgents.get(pipeId);
    if (agents === undefined || !this.receiverOf.has(pipeId)) return `pipe '${pipeId}' is not served by this gateway`;
    if (!agents.has(memberId)) return `agent ${memberId} is not assigned to pipe '${pipeId}' (the controller assigns pipes to agents)`;
    return null;
  }
}
