/**
 * Declarative resources of the control plane (spec 50): `{apiVersion: fustor.io/v1, kind, metadata, spec}`.
 * One schema per kind's spec; the controller validates each applied document against the envelope and
 * its kind's spec, and reports every bad field (not just the first). Reference rules (which field names
 * which other resource) are data here so the controller, `fustor ctl` and the dashboard agree on them.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { FsViewParams, ID_PATTERN } from './fusion-config.ts';

export const API_VERSION = 'fustor.io/v1';

/** Resource names are ids: they become view/pipe ids on gateways and agents (no `/`, no `..`). */
export const ResourceName = Type.String({ pattern: ID_PATTERN, description: 'letters, digits, `_`, `.`, `-`; starts with a letter or digit; at most 64 characters' });

const LABEL_KEY = '^[A-Za-z0-9]([A-Za-z0-9_./-]{0,62}[A-Za-z0-9])?$';
export const Labels = Type.Record(Type.String({ pattern: LABEL_KEY }), Type.String({ maxLength: 256 }), { maxProperties: 64, additionalProperties: false });
export type Labels = Static<typeof Labels>;

export const Metadata = Type.Object({
  name: ResourceName,
  labels: Type.Optional(Labels),
}, { additionalProperties: false });
export type Metadata = Static<typeof Metadata>;

export const GatewaySpec = Type.Object({
  url: Type.String({ pattern: '^https?://[^\\s/]+(/\\S*)?$', maxLength: 2048, description: 'data URL agents use to reach this gateway' }),
  labels: Type.Optional(Labels),
}, { additionalProperties: false });

export const ViewSpec = Type.Object({
  driver: Type.Union([Type.Literal('fs'), Type.Literal('forest-fs')]),
  gateway: ResourceName,
  driver_params: Type.Optional(FsViewParams),
  live_mode: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });

export const AgentSelector = Type.Object({
  matchLabels: Labels,
}, { additionalProperties: false });

export const PipeSource = Type.Object({
  driver: Type.Literal('fs'),
  uri: Type.String({ minLength: 1, maxLength: 4096 }),
  driver_params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  credentialRef: Type.Optional(ResourceName),
}, { additionalProperties: false });

/** `agent` XOR `agentSelector` is checked by the controller (a union would blur the field errors). */
export const PipeSpec = Type.Object({
  agent: Type.Optional(ResourceName),
  agentSelector: Type.Optional(AgentSelector),
  source: PipeSource,
  view: ResourceName,
  audit_interval_sec: Type.Optional(Type.Number({ minimum: 0 })),
  sentinel_interval_sec: Type.Optional(Type.Number({ minimum: 0 })),
  fields_mapping: Type.Optional(Type.Array(Type.Record(Type.String(), Type.Unknown()), { maxItems: 256 })),
}, { additionalProperties: false });

export const SecretSpec = Type.Object({
  data: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,128}$' }), Type.String({ maxLength: 65536 }), { maxProperties: 64, additionalProperties: false }),
}, { additionalProperties: false });

export const QueryKeySpec = Type.Object({
  views: Type.Array(ResourceName, { minItems: 1, maxItems: 256, uniqueItems: true }),
}, { additionalProperties: false });

export const RESOURCE_KINDS = ['Gateway', 'View', 'Pipe', 'Secret', 'QueryKey'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

export const SPEC_SCHEMAS: Record<ResourceKind, TSchema> = {
  Gateway: GatewaySpec,
  View: ViewSpec,
  Pipe: PipeSpec,
  Secret: SecretSpec,
  QueryKey: QueryKeySpec,
};

export type GatewaySpec = Static<typeof GatewaySpec>;
export type ViewSpec = Static<typeof ViewSpec>;
export type PipeSpec = Static<typeof PipeSpec>;
export type SecretSpec = Static<typeof SecretSpec>;
export type QueryKeySpec = Static<typeof QueryKeySpec>;

/** The envelope of every document; `spec` is checked against SPEC_SCHEMAS[kind] afterwards. */
export const ResourceEnvelope = Type.Object({
  apiVersion: Type.Literal(API_VERSION),
  kind: Type.Union(RESOURCE_KINDS.map((k) => Type.Literal(k))),
  metadata: Metadata,
  spec: Type.Record(Type.String(), Type.Unknown()),
}, { additionalProperties: false });

export const ResourceDocument = Type.Object({
  apiVersion: Type.Literal(API_VERSION),
  kind: Type.String(),
  metadata: Metadata,
  spec: Type.Record(Type.String(), Type.Unknown()),
});
export type ResourceDocument = Static<typeof ResourceDocument>;

/** A resource as the API returns it: the document plus what the controller knows about it. */
export const StoredResourceView = Type.Object({
  apiVersion: Type.Literal(API_VERSION),
  kind: Type.String(),
  metadata: Type.Object({
    name: Type.String(),
    labels: Type.Optional(Labels),
    revision: Type.Integer({ description: 'revision that last changed this resource' }),
    created_revision: Type.Integer(),
    updated_at: Type.String({ description: 'ISO 8601 time of the last change' }),
    hash: Type.String({ description: 'content hash (keyed for Secrets), as in the audit log' }),
  }),
  spec: Type.Record(Type.String(), Type.Unknown()),
});
export type StoredResourceView = Static<typeof StoredResourceView>;

/** Value shown instead of Secret data in every answer. */
export const REDACTED = '[redacted]';

/** A reference from one field of a kind to a resource of another kind. */
export interface ReferenceRule { from: ResourceKind; path: string; to: ResourceKind; get: (spec: Record<string, unknown>) => string[] }

const str = (v: unknown): string[] => (typeof v === 'string' ? [v] : []);

export const REFERENCE_RULES: readonly ReferenceRule[] = [
  { from: 'View', path: 'spec.gateway', to: 'Gateway', get: (s) => str(s.gateway) },
  { from: 'Pipe', path: 'spec.view', to: 'View', get: (s) => str(s.view) },
  { from: 'Pipe', path: 'spec.source.credentialRef', to: 'Secret', get: (s) => str((s.source as Record<string, unknown> | undefined)?.credentialRef) },
  { from: 'QueryKey', path: 'spec.views', to: 'View', get: (s) => (Array.isArray(s.views) ? s.views.filter((v): v is string => typeof v === 'string') : []) },
];

const KIND_ALIASES: Record<string, ResourceKind> = {};
for (const k of RESOURCE_KINDS) {
  const low = k.toLowerCase();
  KIND_ALIASES[low] = k;
  KIND_ALIASES[`${low}s`] = k;
}
KIND_ALIASES.keys = 'QueryKey';
KIND_ALIASES.key = 'QueryKey';

/** `views`, `View`, `PIPE`, `querykeys` → the canonical kind; undefined when unknown. */
export function normalizeKind(input: string): ResourceKind | undefined {
  return KIND_ALIASES[input.toLowerCase()];
}
