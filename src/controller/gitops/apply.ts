/**
 * Planning a Git commit (pure): the commit's documents are the WHOLE desired state of the Git-managed
 * kinds (prune within those kinds only). Secrets and QueryKeys stay API-managed: a commit may reference
 * them but not define them, and a commit may not remove a View that an API-managed QueryKey still names.
 */
import { REFERENCE_RULES, type FieldProblem, type ResourceKind } from '../../protocol/index.ts';
import { planApply, type PlannedChange, type Sealer } from '../resources/plan.ts';
import { checkReferences, resourceKey, type ValidDocument } from '../resources/validate.ts';
import type { StateSnapshot } from '../store/store.ts';

export const GIT_MANAGED_KINDS: readonly ResourceKind[] = ['Gateway', 'View', 'Pipe'];
const managed = new Set<string>(GIT_MANAGED_KINDS);
export const isGitManaged = (kind: string) => managed.has(kind);

/** Git-managed kinds never need sealing or key issuing; reaching this is a bug. */
const NO_SEALER: Sealer = {
  seal: () => { throw new Error('Git-managed kinds are never sealed'); },
  open: () => { throw new Error('Git-managed kinds are never sealed'); },
  mac: () => { throw new Error('Git-managed kinds are never sealed'); },
  newQueryKey: () => { throw new Error('Git-managed kinds never issue keys'); },
};

export function planGitCommit(docs: readonly ValidDocument[], state: StateSnapshot): { changes: PlannedChange[]; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  for (const d of docs) {
    if (!managed.has(d.kind)) {
      problems.push({ path: `[${d.index}].kind`, message: `${d.kind} is API-managed, not Git-managed (Git manages ${GIT_MANAGED_KINDS.join(', ')}): remove it from the repository and use fustor ctl`, document: resourceKey(d.kind, d.name) });
    }
  }
  if (problems.length > 0) return { changes: [], problems };
  const outside = state.resources.filter((r) => !managed.has(r.kind));
  // References resolve against the commit plus the API-managed resources (never the old Git state).
  problems.push(...checkReferences(docs, outside, false));
  const defined = new Set(docs.map((d) => resourceKey(d.kind, d.name)));
  for (const r of outside) {
    for (const rule of REFERENCE_RULES) {
      if (rule.from !== r.kind || !managed.has(rule.to)) continue;
      for (const target of rule.get(r.doc.spec)) {
        if (defined.has(resourceKey(rule.to, target))) continue;
        problems.push({ path: `${resourceKey(r.kind, r.name)}.${rule.path}`, message: `${rule.to} ${JSON.stringify(target)} is still referenced by the API-managed ${resourceKey(r.kind, r.name)}: keep it in the repository or delete that first` });
      }
    }
  }
  if (problems.length > 0) return { changes: [], problems };
  return { changes: planApply(docs, state.resources.filter((r) => managed.has(r.kind)), NO_SEALER, true), problems };
}
