/**
 * Manifests (spec 50): what one member must run, computed from the desired state. Pure functions of the
 * stored resources, the enrolled members and a secret opener; the hash is sha256 of the canonical JSON of
 * the content, so a member's running hash equals the desired hash exactly when nothing must change.
 *
 * Agent manifest: the Pipes that name the agent (`agent`) or select its labels (`agentSelector.matchLabels`),
 * each with its source, the gateway URL of its View's Gateway and the decrypted data of the Secret that
 * pipe references — never any other Secret. Gateway manifest: the Views of the Gateway resource named like
 * the member, the pipes allowed to push to each (with the ids of the agents that run them), the issuer and
 * JWKS URL to trust, the revoked member ids, and the QueryKeys (their sha256, never the key) that may read
 * those views.
 */
import type { AgentManifest, AgentManifestPipe, GatewayManifest, Manifest, PipeSpec, ViewSpec, GatewaySpec } from '../../protocol/index.ts';
import { canonicalJson } from '../resources/canonical.ts';
import { createHash } from 'node:crypto';
import type { StoredResource } from '../store/store.ts';
import type { MemberRecord } from '../identity/member-store.ts';

export interface ManifestInputs {
  resources: readonly StoredResource[];
  members: readonly MemberRecord[];
  /** Decrypt a Secret's sealed data (AAD `Secret/<name>`). */
  openSecret: (name: string, sealed: string) => Record<string, string>;
  trust: { issuer: string; jwks_url: string };
}

export function manifestHash(content: Manifest): string {
  return `sha256:${createHash('sha256').update(canonicalJson(content), 'utf8').digest('hex')}`;
}

const specs = <T>(resources: readonly StoredResource[], kind: string): Map<string, T> =>
  new Map(resources.filter((r) => r.kind === kind).map((r) => [r.name, r.doc.spec as T]));

export function pipeRunsOn(pipe: PipeSpec, member: Pick<MemberRecord, 'name' | 'labels'>): boolean {
  if (pipe.agent !== undefined) return pipe.agent === member.name;
  const sel = pipe.agentSelector?.matchLabels;
  if (sel === undefined) return false;
  return Object.entries(sel).every(([k, v]) => member.labels[k] === v);
}

export function agentManifest(member: MemberRecord, inp: ManifestInputs): AgentManifest {
  const views = specs<ViewSpec>(inp.resources, 'View');
  const gateways = specs<GatewaySpec>(inp.resources, 'Gateway');
  const sealed = new Map(inp.resources.filter((r) => r.kind === 'Secret').map((r) => [r.name, r.sealed]));
  const pipes: AgentManifestPipe[] = [];
  for (const [id, pipe] of [...specs<PipeSpec>(inp.resources, 'Pipe')].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!pipeRunsOn(pipe, member)) continue;
    const view = views.get(pipe.view);
    const gw = view === undefined ? undefined : gateways.get(view.gateway);
    if (view === undefined || gw === undefined) continue;
    const p: AgentManifestPipe = { id, view: pipe.view, gateway: view.gateway, gateway_url: gw.url, source: pipe.source };
    if (pipe.audit_interval_sec !== undefined) p.audit_interval_sec = pipe.audit_interval_sec;
    if (pipe.sentinel_interval_sec !== undefined) p.sentinel_interval_sec = pipe.sentinel_interval_sec;
    if (pipe.fields_mapping !== undefined) p.fields_mapping = pipe.fields_mapping;
    const ref = pipe.source.credentialRef;
    if (ref !== undefined) {
      const s = sealed.get(ref);
      if (s === undefined || s === null) continue; // reference checked at apply; a missing Secret skips the pipe
      p.credential = inp.openSecret(ref, s);
    }
    pipes.push(p);
  }
  return { kind: 'agent', member: member.name, pipes };
}

export function gatewayManifest(member: MemberRecord, inp: ManifestInputs): GatewayManifest {
  const pipes = [...specs<PipeSpec>(inp.resources, 'Pipe')];
  const agents = inp.members.filter((m) => m.kind === 'agent' && m.revokedAt === null);
  const views = [...specs<ViewSpec>(inp.resources, 'View')]
    .filter(([, v]) => v.gateway === member.name)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([id, v]) => ({
      id,
      driver: v.driver,
      ...(v.driver_params === undefined ? {} : { driver_params: v.driver_params }),
      ...(v.live_mode === undefined ? {} : { live_mode: v.live_mode }),
      pipes: pipes.filter(([, p]) => p.view === id).map(([pid, p]) => ({ id: pid, agents: agents.filter((a) => pipeRunsOn(p, a)).map((a) => a.id).sort() })),
    }));
  const revoked = inp.members.filter((m) => m.revokedAt !== null).map((m) => m.id).sort();
  const served = new Set(views.map((v) => v.id));
  const queryKeys = inp.resources
    .filter((r) => r.kind === 'QueryKey' && r.sealed !== null)
    .map((r) => ({ name: r.name, hash: r.sealed ?? '', views: ((r.doc.spec as { views: string[] }).views).filter((v) => served.has(v)).sort() }))
    .filter((k) => k.views.length > 0)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { kind: 'gateway', member: member.name, views, trust: inp.trust, revoked_members: revoked, query_keys: queryKeys };
}

export function manifestFor(member: MemberRecord, inp: ManifestInputs): Manifest {
  return member.kind === 'agent' ? agentManifest(member, inp) : gatewayManifest(member, inp);
}
