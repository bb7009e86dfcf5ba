/**
 * Which members a change touches — what `diff` shows before an apply. A change touches every member whose
 * manifest it alters, in the state before OR after the change (a selector that moves a pipe touches the
 * agents it leaves and the ones it joins):
 *
 * - Pipe: the agents it selects (`agent` / `agentSelector` among enrolled agents), the gateway of its view;
 * - View: its gateway, and the agents of the pipes that feed it (their gateway URL may change);
 * - Gateway: itself, and the agents of pipes feeding views placed on it;
 * - Secret: the agents of the pipes whose `source.credentialRef` names it;
 * - QueryKey: the gateways of its views.
 */
import type { ResourceDocument } from '../../protocol/index.ts';
import type { AgentRecord } from '../store/store.ts';
import type { PlannedChange } from './plan.ts';
import { resourceKey } from './validate.ts';

type Spec = Record<string, unknown>;

/** A desired state indexed for lookups. */
export class DesiredState {
  private readonly docs = new Map<string, ResourceDocument>();

  constructor(docs: Iterable<ResourceDocument>) {
    for (const d of docs) this.docs.set(resourceKey(d.kind, d.metadata.name), d);
  }

  with(changes: readonly PlannedChange[]): DesiredState {
    const next = new DesiredState(this.docs.values());
    for (const c of changes) {
      if (c.action === 'deleted') next.docs.delete(resourceKey(c.kind, c.name));
      else if (c.after !== undefined) next.docs.set(resourceKey(c.kind, c.name), c.after.doc);
    }
    return next;
  }

  spec(kind: string, name: string): Spec | undefined {
    return this.docs.get(resourceKey(kind, name))?.spec;
  }

  pipes(pred: (spec: Spec) => boolean): Spec[] {
    return [...this.docs.values()].filter((d) => d.kind === 'Pipe' && pred(d.spec)).map((d) => d.spec);
  }

  views(pred: (spec: Spec) => boolean): string[] {
    return [...this.docs.values()].filter((d) => d.kind === 'View' && pred(d.spec)).map((d) => d.metadata.name);
  }
}

export function agentsOfPipe(pipe: Spec, agents: readonly AgentRecord[]): string[] {
  if (typeof pipe.agent === 'string') return agents.filter((a) => a.name === pipe.agent).map((a) => a.name);
  const selector = (pipe.agentSelector as { matchLabels?: Record<string, string> } | undefined)?.matchLabels;
  if (selector === undefined) return [];
  return agents.filter((a) => Object.entries(selector).every(([k, v]) => a.labels[k] === v)).map((a) => a.name);
}

function touchesIn(state: DesiredState, kind: string, name: string, agents: readonly AgentRecord[]): { agents: string[]; gateways: string[] } {
  const spec = state.spec(kind, name);
  if (spec === undefined) return { agents: [], gateways: [] };
  const gatewayOfView = (view: unknown) => (typeof view === 'string' ? state.spec('View', view)?.gateway : undefined);
  const agentsOfPipes = (pipes: Spec[]) => pipes.flatMap((p) => agentsOfPipe(p, agents));
  const gw: unknown[] = [];
  let ag: string[] = [];
  switch (kind) {
    case 'Pipe':
      gw.push(gatewayOfView(spec.view));
      ag = agentsOfPipe(spec, agents);
      break;
    case 'View':
      gw.push(spec.gateway);
      ag = agentsOfPipes(state.pipes((p) => p.view === name));
      break;
    case 'Gateway': {
      gw.push(name);
      const views = new Set(state.views((v) => v.gateway === name));
      ag = agentsOfPipes(state.pipes((p) => views.has(p.view as string)));
      break;
    }
    case 'Secret':
      ag = agentsOfPipes(state.pipes((p) => (p.source as Spec | undefined)?.credentialRef === name));
      break;
    case 'QueryKey':
      for (const v of (spec.views as unknown[] | undefined) ?? []) gw.push(gatewayOfView(v));
      break;
  }
  return { agents: ag, gateways: gw.filter((g): g is string => typeof g === 'string') };
}

/** Members touched by `change`, looked up in the states before and after the whole apply. */
export function touchedBy(change: PlannedChange, before: DesiredState, after: DesiredState, agents: readonly AgentRecord[]): { agents: string[]; gateways: string[] } {
  if (change.action === 'unchanged') return { agents: [], gateways: [] };
  const a = touchesIn(before, change.kind, change.name, agents);
  const b = touchesIn(after, change.kind, change.name, agents);
  return { agents: sortedUnique([...a.agents, ...b.agents]), gateways: sortedUnique([...a.gateways, ...b.gateways]) };
}

export const sortedUnique = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();
