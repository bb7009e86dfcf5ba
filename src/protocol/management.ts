/**
 * Bodies of the controller's management API (`/api/v1/…`, spec 50): apply, diff, history, tokens, keys,
 * fleet lists. `fustor ctl` and the dashboard are clients of exactly these shapes; the controller's routes
 * declare them and the OpenAPI document (`/api/v1/openapi.json`) is generated from them.
 */
import { Type, type Static } from 'typebox';
import { Labels, ResourceName, StoredResourceView } from './resources.ts';

export const OPERATOR_ROLES = ['admin', 'operator', 'viewer'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];
export const OperatorRoleSchema = Type.Union(OPERATOR_ROLES.map((r) => Type.Literal(r)));

/** What happened (or would happen) to one resource. */
export const ResourceAction = Type.Union([Type.Literal('created'), Type.Literal('changed'), Type.Literal('unchanged'), Type.Literal('deleted')]);
export type ResourceAction = Static<typeof ResourceAction>;

/** One field-level problem; `path` is `[index].spec.view` for the document at `index` of an apply. */
export const FieldProblem = Type.Object({
  path: Type.String(),
  message: Type.String(),
  document: Type.Optional(Type.String({ description: '`Kind/name` of the document, when known' })),
});
export type FieldProblem = Static<typeof FieldProblem>;

/** POST /apply and /diff take a JSON array of documents; `?prune=true` also deletes what the array omits. */
export const ApplyBody = Type.Array(Type.Unknown(), { maxItems: 1000, description: 'resource documents ({apiVersion, kind, metadata, spec})' });
export const ApplyQuery = Type.Object({
  prune: Type.Optional(Type.Boolean({ description: 'delete every stored resource that the documents do not name' })),
}, { additionalProperties: false });

export const AppliedResource = Type.Object({
  kind: Type.String(),
  name: Type.String(),
  action: ResourceAction,
  key: Type.Optional(Type.String({ description: 'QueryKey created by this apply: the key value, shown only here' })),
});
export type AppliedResource = Static<typeof AppliedResource>;

export const ApplyResult = Type.Object({
  revision: Type.Union([Type.Integer(), Type.Null()], { description: 'the new revision, or null when nothing changed' }),
  current_revision: Type.Integer({ description: 'the latest revision after this request (0 before the first change)' }),
  resources: Type.Array(AppliedResource),
});
export type ApplyResult = Static<typeof ApplyResult>;

export const DiffEntry = Type.Object({
  kind: Type.String(),
  name: Type.String(),
  action: ResourceAction,
  fields: Type.Array(Type.String(), { description: 'changed fields (paths); Secret values are never shown' }),
  agents: Type.Array(Type.String(), { description: 'enrolled agents whose manifest this change touches' }),
  gateways: Type.Array(Type.String(), { description: 'gateways whose topology this change touches' }),
});
export type DiffEntry = Static<typeof DiffEntry>;

export const DiffResult = Type.Object({
  current_revision: Type.Integer(),
  resources: Type.Array(DiffEntry),
  agents: Type.Array(Type.String()),
  gateways: Type.Array(Type.String()),
});
export type DiffResult = Static<typeof DiffResult>;

export const KindNameParams = Type.Object({ kind: Type.String({ maxLength: 64 }), name: ResourceName });
export const KindParams = Type.Object({ kind: Type.String({ maxLength: 64 }) });

export const ResourceList = Type.Object({ items: Type.Array(StoredResourceView) });

export const DeleteResult = Type.Object({ revision: Type.Integer(), kind: Type.String(), name: Type.String(), action: Type.Literal('deleted') });
export type DeleteResult = Static<typeof DeleteResult>;

export const AuditEntry = Type.Object({
  id: Type.Integer(),
  revision: Type.Union([Type.Integer(), Type.Null()], { description: 'null for changes that are not desired state (tokens)' }),
  actor: Type.String({ description: 'name of the operator token' }),
  time: Type.String(),
  action: Type.String({ description: 'created | changed | deleted | token.created' }),
  kind: Type.String(),
  name: Type.String(),
  before_hash: Type.Union([Type.String(), Type.Null()]),
  after_hash: Type.Union([Type.String(), Type.Null()]),
});
export type AuditEntry = Static<typeof AuditEntry>;

export const HistoryQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  before: Type.Optional(Type.Integer({ minimum: 1, description: 'cursor: only entries with an id below this' })),
}, { additionalProperties: false });
export const HistoryPage = Type.Object({
  items: Type.Array(AuditEntry, { description: 'newest first' }),
  next_before: Type.Optional(Type.Integer({ description: 'pass as `before` for the next (older) page' })),
});
export type HistoryPage = Static<typeof HistoryPage>;

export const OperatorTokenCreate = Type.Object({
  name: ResourceName,
  role: OperatorRoleSchema,
  ttl_seconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 10 * 365 * 86400 })),
}, { additionalProperties: false });
export type OperatorTokenCreate = Static<typeof OperatorTokenCreate>;
export const OperatorTokenCreated = Type.Object({
  name: Type.String(),
  role: OperatorRoleSchema,
  expires_at: Type.Union([Type.String(), Type.Null()]),
  token: Type.String({ description: 'shown only in this answer; stored hashed' }),
});
export type OperatorTokenCreated = Static<typeof OperatorTokenCreated>;

export const MemberKind = Type.Union([Type.Literal('agent'), Type.Literal('gateway')]);
export type MemberKind = Static<typeof MemberKind>;

export const EnrollmentTokenCreate = Type.Object({
  kind: MemberKind,
  labels: Type.Optional(Labels),
  uses: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: 1 })),
  ttl_seconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 30 * 86400, default: 3600 })),
}, { additionalProperties: false });
export type EnrollmentTokenCreate = Static<typeof EnrollmentTokenCreate>;
export const EnrollmentTokenCreated = Type.Object({
  id: Type.String(),
  kind: MemberKind,
  labels: Labels,
  uses: Type.Integer(),
  expires_at: Type.String(),
  token: Type.String({ description: 'shown only in this answer; stored hashed' }),
});
export type EnrollmentTokenCreated = Static<typeof EnrollmentTokenCreated>;

export const KeyCreate = Type.Object({
  name: ResourceName,
  views: Type.Array(ResourceName, { minItems: 1, maxItems: 256, uniqueItems: true }),
}, { additionalProperties: false });
export type KeyCreate = Static<typeof KeyCreate>;
export const KeyCreated = Type.Object({
  name: Type.String(),
  views: Type.Array(Type.String()),
  revision: Type.Integer(),
  key: Type.String({ description: 'shown only in this answer; stored hashed' }),
});
export type KeyCreated = Static<typeof KeyCreated>;


/** Fleet lists (agents, gateways, fleet status) are in fleet.ts. */
export const ControllerHealth = Type.Object({
  status: Type.Literal('ok'),
  revision: Type.Integer(),
  replica: Type.Optional(Type.String({ description: 'the answering controller process (host:pid:random); differs per replica' })),
  leader: Type.Optional(Type.Boolean({ description: 'whether this replica holds the reconciler lease (runs GitOps); always true with SQLite' })),
  leader_replica: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'the lease holder as this replica last saw it; null when none' })),
  store: Type.Optional(Type.Union([Type.Literal('sqlite'), Type.Literal('postgres')])),
});
export type ControllerHealth = Static<typeof ControllerHealth>;
