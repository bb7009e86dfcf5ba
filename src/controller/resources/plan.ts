/**
 * Planning an apply (pure): validated documents + the stored state → one change per resource
 * (created / changed / unchanged / deleted) with the stored form of each new version. Secrets are sealed
 * here and their public form redacted; a new QueryKey gets its value here (returned once, stored hashed).
 * Unchanged resources keep their stored form untouched (a Secret is not re-encrypted, a key not rotated).
 */
import { REDACTED, type ResourceAction, type ResourceDocument } from '../../protocol/index.ts';
import type { ResourceWrite, StoredResource } from '../store/store.ts';
import { canonicalJson, changedPaths, contentHash } from './canonical.ts';
import { resourceKey, type ValidDocument } from './validate.ts';

/** The cryptography the planner needs (SecretBox + token issuing), injected to keep this file pure. */
export interface Sealer {
  seal(plaintext: string, aad: string): string;
  open(sealed: string, aad: string): string;
  mac(text: string): string;
  newQueryKey(): { token: string; hash: string };
}

export interface StoredForm { doc: ResourceDocument; sealed: string | null; hash: string }

export interface PlannedChange {
  kind: ValidDocument['kind'];
  name: string;
  action: ResourceAction;
  before?: StoredResource;
  after?: StoredForm;
  /** Changed field paths (for `changed`); Secret data keys only, never values. */
  fields: string[];
  /** The value of a QueryKey created by this change. */
  key?: string;
}

export function planApply(docs: readonly ValidDocument[], stored: readonly StoredResource[], sealer: Sealer, prune: boolean): PlannedChange[] {
  const byKey = new Map(stored.map((r) => [resourceKey(r.kind, r.name), r]));
  const changes = docs.map((d) => planOne(d, byKey.get(resourceKey(d.kind, d.name)), sealer));
  if (prune) {
    const named = new Set(docs.map((d) => resourceKey(d.kind, d.name)));
    for (const r of stored) if (!named.has(resourceKey(r.kind, r.name))) changes.push(planDelete(r));
  }
  return changes;
}

export function planDelete(r: StoredResource): PlannedChange {
  return { kind: r.kind, name: r.name, action: 'deleted', before: r, fields: [] };
}

export function toWrites(changes: readonly PlannedChange[]): ResourceWrite[] {
  return changes.filter((c) => c.action !== 'unchanged').map((c) => ({
    kind: c.kind,
    name: c.name,
    action: c.action as ResourceWrite['action'],
    beforeHash: c.before?.hash ?? null,
    ...(c.action === 'deleted' ? {} : { after: c.after }),
  }));
}

/** The stored form of a Secret (or any kind) built from a plaintext document. */
export function storedForm(doc: ResourceDocument, sealer: Sealer, before?: StoredResource): { form: StoredForm; key?: string } {
  if (doc.kind === 'Secret') {
    const data = doc.spec.data as Record<string, string>;
    const hash = `hmac-sha256:${sealer.mac(canonicalJson(doc))}`;
    const publicDoc = { ...doc, spec: { ...doc.spec, data: Object.fromEntries(Object.keys(data).sort().map((k) => [k, REDACTED])) } };
    const sealed = before?.hash === hash ? before.sealed : sealer.seal(canonicalJson(data), secretAad(doc.metadata.name));
    return { form: { doc: publicDoc, sealed, hash } };
  }
  const hash = contentHash(doc);
  if (doc.kind === 'QueryKey') {
    if (before?.sealed) return { form: { doc, sealed: before.sealed, hash } };
    const issued = sealer.newQueryKey();
    return { form: { doc, sealed: issued.hash, hash }, key: issued.token };
  }
  return { form: { doc, sealed: null, hash } };
}

export const secretAad = (name: string) => `Secret/${name}`;

function planOne(d: ValidDocument, before: StoredResource | undefined, sealer: Sealer): PlannedChange {
  const { form, key } = storedForm(d.doc, sealer, before);
  const base = { kind: d.kind, name: d.name, after: form };
  if (before === undefined) return { ...base, action: 'created', fields: [], ...(key === undefined ? {} : { key }) };
  if (before.hash === form.hash) return { ...base, action: 'unchanged', before, fields: [] };
  let fields = changedPaths(before.doc, form.doc, '');
  if (d.kind === 'Secret' && before.sealed !== null) {
    const old = JSON.parse(sealer.open(before.sealed, secretAad(d.name))) as Record<string, string>;
    const next = d.doc.spec.data as Record<string, string>;
    const dataFields = [...new Set([...Object.keys(old), ...Object.keys(next)])].filter((k) => old[k] !== next[k]).sort().map((k) => `spec.data.${k}`);
    fields = [...fields.filter((f) => !f.startsWith('spec.data.')), ...dataFields];
  }
  return { ...base, action: 'changed', before, fields };
}
