/**
 * The desired-state operations behind the management API: apply, diff, list, get, delete, and the
 * QueryKey shortcut. Static validation runs before the transaction; references, planning and writes run
 * inside ONE store transaction (`store.mutate`), so an apply is all-or-nothing and gets one revision.
 */
import { FustorError } from '../../kernel/errors.ts';
import {
  API_VERSION, REFERENCE_RULES, RESOURCE_KINDS, normalizeKind,
  type ApplyResult, type DeleteResult, type DiffResult, type FieldProblem, type KeyCreated, type ResourceKind, type StoredResourceView,
} from '../../protocol/index.ts';
import { planApply, planDelete, toWrites, type PlannedChange, type Sealer } from '../resources/plan.ts';
import { DesiredState, sortedUnique, touchedBy } from '../resources/touches.ts';
import { checkReferences, resourceKey, validateDocuments, type ValidDocument } from '../resources/validate.ts';
import type { ControllerStore, StateSnapshot, StoredResource } from '../store/store.ts';

export class ResourceService {
  constructor(private readonly store: ControllerStore, private readonly sealer: Sealer) {}

  async apply(input: readonly unknown[], actor: string, opts: { prune?: boolean } = {}): Promise<ApplyResult> {
    const prune = opts.prune === true;
    const docs = this.validated(input);
    const res = await this.store.mutate(actor, (state) => {
      const changes = this.plan(docs, state, prune);
      return { writes: toWrites(changes), value: changes };
    });
    return {
      revision: res.revision,
      current_revision: res.currentRevision,
      resources: res.value.map((c) => ({ kind: c.kind, name: c.name, action: c.action, ...(c.key === undefined ? {} : { key: c.key }) })),
    };
  }

  async diff(input: readonly unknown[], opts: { prune?: boolean } = {}): Promise<DiffResult> {
    const prune = opts.prune === true;
    const docs = this.validated(input);
    // A plan with no writes: the store runs it on a consistent snapshot and commits nothing.
    const res = await this.store.mutate('diff', (state) => {
      const changes = this.plan(docs, state, prune);
      const before = new DesiredState(state.resources.map((r) => r.doc));
      const after = before.with(changes);
      const resources = changes.map((c) => ({ kind: c.kind, name: c.name, action: c.action, fields: c.fields, ...touchedBy(c, before, after, state.agents) }));
      return { writes: [], value: { current_revision: state.currentRevision, resources } };
    });
    const { resources } = res.value;
    return { ...res.value, agents: sortedUnique(resources.flatMap((r) => r.agents)), gateways: sortedUnique(resources.flatMap((r) => r.gateways)) };
  }

  async list(kind: ResourceKind): Promise<StoredResourceView[]> {
    return (await this.store.listResources(kind)).map(publicView);
  }

  async get(kind: ResourceKind, name: string): Promise<StoredResourceView> {
    const r = await this.store.getResource(kind, name);
    if (r === undefined) throw new FustorError('NOT_FOUND', `${kind}/${name} does not exist`);
    return publicView(r);
  }

  async delete(kind: ResourceKind, name: string, actor: string): Promise<DeleteResult> {
    const res = await this.store.mutate(actor, (state) => {
      const r = state.resources.find((x) => x.kind === kind && x.name === name);
      if (r === undefined) throw new FustorError('NOT_FOUND', `${kind}/${name} does not exist`);
      const referrers = referrersOf(kind, name, state.resources);
      if (referrers.length > 0) {
        throw new FustorError('CONFLICT', `${kind}/${name} is referenced by ${referrers.join(', ')}: delete or change those first`, { details: { referrers } });
      }
      return { writes: toWrites([planDelete(r)]), value: null };
    });
    return { revision: res.revision as number, kind, name, action: 'deleted' };
  }

  /** `POST /keys`: create a QueryKey (never replaces one: rotating = delete + create). */
  async createKey(name: string, views: string[], actor: string): Promise<KeyCreated> {
    const docs = this.validated([{ apiVersion: API_VERSION, kind: 'QueryKey', metadata: { name }, spec: { views } }]);
    const res = await this.store.mutate(actor, (state) => {
      if (state.resources.some((r) => r.kind === 'QueryKey' && r.name === name)) {
        throw new FustorError('CONFLICT', `QueryKey/${name} already exists: pick another name, or delete it first to rotate the key`);
      }
      const changes = this.plan(docs, state, false);
      return { writes: toWrites(changes), value: changes[0].key as string };
    });
    return { name, views, revision: res.revision as number, key: res.value };
  }

  private validated(input: readonly unknown[]): ValidDocument[] {
    const { docs, problems } = validateDocuments(input);
    if (problems.length > 0) throw invalid(problems);
    return docs;
  }

  private plan(docs: readonly ValidDocument[], state: StateSnapshot, prune: boolean): PlannedChange[] {
    const problems = checkReferences(docs, state.resources, prune);
    if (problems.length > 0) throw invalid(problems);
    return planApply(docs, state.resources, this.sealer, prune);
  }
}

/** `views` / `View` → View; anything else is a 400 naming the kinds. */
export function parseKind(input: string): ResourceKind {
  const kind = normalizeKind(input);
  if (kind === undefined) {
    throw new FustorError('BAD_REQUEST', `unknown kind ${JSON.stringify(input.slice(0, 64))}: one of ${RESOURCE_KINDS.map((k) => k.toLowerCase() + 's').join(', ')}`);
  }
  return kind;
}

export function publicView(r: StoredResource): StoredResourceView {
  return {
    ...r.doc,
    metadata: { ...r.doc.metadata, revision: r.revision, created_revision: r.createdRevision, updated_at: r.updatedAt, hash: r.hash },
  };
}

function referrersOf(kind: ResourceKind, name: string, resources: readonly StoredResource[]): string[] {
  const out: string[] = [];
  for (const rule of REFERENCE_RULES) {
    if (rule.to !== kind) continue;
    for (const r of resources) if (r.kind === rule.from && rule.get(r.doc.spec).includes(name)) out.push(`${resourceKey(r.kind, r.name)} (${rule.path})`);
  }
  return out;
}

export function invalid(problems: FieldProblem[]): FustorError {
  const first = problems[0];
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
  return new FustorError('VALIDATION', `nothing applied: ${first.path}: ${first.message}${more}`, { details: problems });
}
