/**
 * Validation of applied documents, all-or-nothing: every problem of every document is collected (envelope,
 * kind's spec, `agent` XOR `agentSelector`, duplicates, references) so one 422 lists them all. Paths are
 * `[index].field`, index = position in the applied array (for `fustor ctl`, the document order of the files).
 */
import { Compile } from 'typebox/compile';
import type { TSchema } from 'typebox';
import {
  API_VERSION, REFERENCE_RULES, RESOURCE_KINDS, ResourceEnvelope, SPEC_SCHEMAS,
  type FieldProblem, type ResourceDocument, type ResourceKind,
} from '../../protocol/index.ts';
import { schemaProblems } from './schema-problems.ts';

export interface ValidDocument { index: number; kind: ResourceKind; name: string; doc: ResourceDocument }

const envelope = Compile(ResourceEnvelope as TSchema);
const specCheckers = Object.fromEntries(RESOURCE_KINDS.map((k) => [k, Compile(SPEC_SCHEMAS[k])])) as Record<ResourceKind, ReturnType<typeof Compile>>;

export const resourceKey = (kind: string, name: string) => `${kind}/${name}`;

export function validateDocuments(input: readonly unknown[]): { docs: ValidDocument[]; problems: FieldProblem[] } {
  const docs: ValidDocument[] = [];
  const problems: FieldProblem[] = [];
  const firstIndex = new Map<string, number>();
  input.forEach((raw, index) => {
    const at = `[${index}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.push({ path: at, message: 'must be a resource document (an object with apiVersion, kind, metadata, spec)' });
      return;
    }
    const d = raw as Record<string, unknown>;
    const meta = d.metadata as Record<string, unknown> | undefined;
    const label = typeof d.kind === 'string' && typeof meta?.name === 'string' ? resourceKey(d.kind, meta.name) : undefined;
    const own: FieldProblem[] = [];
    if (typeof d.kind === 'string' && !(RESOURCE_KINDS as readonly string[]).includes(d.kind)) {
      own.push({ path: `${at}.kind`, message: `unknown kind ${JSON.stringify(d.kind.slice(0, 64))}: must be one of ${RESOURCE_KINDS.join(', ')}` });
    }
    for (const p of schemaProblems(envelope.Errors(raw), at)) {
      if (p.path === `${at}.kind` && own.length > 0) continue;
      if (p.path === `${at}.apiVersion`) p.message = `must be ${JSON.stringify(API_VERSION)}`;
      own.push(p);
    }
    const kind = (RESOURCE_KINDS as readonly string[]).includes(d.kind as string) ? d.kind as ResourceKind : undefined;
    if (kind !== undefined && typeof d.spec === 'object' && d.spec !== null && !Array.isArray(d.spec)) {
      own.push(...schemaProblems(specCheckers[kind].Errors(d.spec), `${at}.spec`));
      if (kind === 'Pipe') {
        const spec = d.spec as Record<string, unknown>;
        const both = spec.agent !== undefined && spec.agentSelector !== undefined;
        if (both || (spec.agent === undefined && spec.agentSelector === undefined)) {
          own.push({ path: `${at}.spec.agent`, message: both ? 'give either agent or agentSelector, not both' : 'required: agent (one agent name) or agentSelector ({matchLabels})' });
        }
      }
    }
    if (own.length > 0) {
      problems.push(...own.map((p) => (label === undefined ? p : { ...p, document: label })));
      return;
    }
    const doc = normalize(d as ResourceDocument);
    const key = resourceKey(doc.kind, doc.metadata.name);
    const first = firstIndex.get(key);
    if (first !== undefined) {
      problems.push({ path: `${at}.metadata.name`, message: `${key} appears twice in this apply (first at [${first}])`, document: key });
      return;
    }
    firstIndex.set(key, index);
    docs.push({ index, kind: kind as ResourceKind, name: doc.metadata.name, doc });
  });
  return { docs, problems };
}

/**
 * References must resolve in the desired state: the applied documents plus (unless `prune`) the stored
 * resources they do not replace.
 */
export function checkReferences(docs: readonly ValidDocument[], stored: ReadonlyArray<{ kind: string; name: string }>, prune: boolean): FieldProblem[] {
  const exists = new Set(docs.map((d) => resourceKey(d.kind, d.name)));
  if (!prune) for (const s of stored) exists.add(resourceKey(s.kind, s.name));
  const problems: FieldProblem[] = [];
  for (const d of docs) {
    for (const rule of REFERENCE_RULES) {
      if (rule.from !== d.kind) continue;
      for (const target of rule.get(d.doc.spec)) {
        if (exists.has(resourceKey(rule.to, target))) continue;
        const message = prune
          ? `${rule.to} ${JSON.stringify(target)} is not in this apply (with prune, only the applied documents remain)`
          : `${rule.to} ${JSON.stringify(target)} does not exist (neither in this apply nor in the controller)`;
        problems.push({ path: `[${d.index}].${rule.path}`, message, document: resourceKey(d.kind, d.name) });
      }
    }
  }
  return problems;
}

/** Canonical stored shape: exactly the envelope fields; empty label maps dropped. */
function normalize(d: ResourceDocument): ResourceDocument {
  const metadata: ResourceDocument['metadata'] = { name: d.metadata.name };
  if (d.metadata.labels !== undefined && Object.keys(d.metadata.labels).length > 0) metadata.labels = d.metadata.labels;
  return { apiVersion: d.apiVersion, kind: d.kind, metadata, spec: d.spec };
}
