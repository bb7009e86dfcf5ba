/**
 * The controller's persistent state behind one interface, so that SQLite (embedded default) and
 * PostgreSQL (several replicas on one database) are interchangeable. Methods are async for the sake of
 * PostgreSQL.
 *
 * Invariant: every change of desired state goes through `mutate`, which runs the caller's pure planning
 * function on a consistent snapshot inside ONE transaction and — when the plan writes anything — allocates
 * ONE revision (monotonic, never reused, also across restarts) and one audit row per written resource.
 * A plan that throws leaves nothing behind.
 */
import type { Disposable } from '../../kernel/disposable.ts';
import type { AuditEntry, Labels, MemberKind, OperatorRole, ResourceDocument, ResourceKind } from '../../protocol/index.ts';

/** The store cannot be opened or used as configured (one line for the operator: cause and fix). */
export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

export interface StoredResource {
  kind: ResourceKind;
  name: string;
  /** The public form: Secret values already replaced by REDACTED; never a QueryKey value. */
  doc: ResourceDocument;
  /** Secret: AES-GCM ciphertext of the data; QueryKey: hash of the key; otherwise null. */
  sealed: string | null;
  hash: string;
  revision: number;
  createdRevision: number;
  updatedAt: string;
}

export interface ResourceWrite {
  kind: ResourceKind;
  name: string;
  action: 'created' | 'changed' | 'deleted';
  beforeHash: string | null;
  /** Absent for `deleted`. */
  after?: { doc: ResourceDocument; sealed: string | null; hash: string };
}

export interface AgentRecord { name: string; labels: Labels; state: string; enrolledAt: string; lastSeen: string | null }
export interface GatewayMemberRecord extends AgentRecord { url: string | null }

/** What a planning function sees: the whole desired state and the enrolled agents, as of the transaction. */
export interface StateSnapshot {
  currentRevision: number;
  resources: StoredResource[];
  agents: AgentRecord[];
}

export interface MutationPlan<T> { writes: ResourceWrite[]; value: T }
export interface MutationResult<T> { revision: number | null; currentRevision: number; value: T }

export interface OperatorTokenRecord { id: string; name: string; role: OperatorRole; hash: string; expiresAt: string | null; revokedAt: string | null }
export interface EnrollmentTokenRecord { id: string; kind: MemberKind; labels: Labels; usesLeft: number; hash: string; expiresAt: string }

/**
 * A lease this replica must still hold when the mutation commits (checked inside the transaction). It fences
 * a reconciler that lost its lease mid-run (a pause, a partition) from writing over its successor's work.
 */
export interface LeaseFence { lease: string; holder: string }
export interface MutateOptions { fence?: LeaseFence }

/** `mutate` with a fence when the lease is no longer held by this replica: nothing was written. */
export class LeaseLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeaseLostError';
  }
}

export interface ControllerStore extends Disposable {
  currentRevision(): Promise<number>;
  listResources(kind?: ResourceKind): Promise<StoredResource[]>;
  getResource(kind: ResourceKind, name: string): Promise<StoredResource | undefined>;
  /** See the invariant above. `plan` must be synchronous and free of side effects. */
  mutate<T>(actor: string, plan: (state: StateSnapshot) => MutationPlan<T>, opts?: MutateOptions): Promise<MutationResult<T>>;
  history(opts: { limit: number; before?: number }): Promise<AuditEntry[]>;

  /** Inserts the token and its audit row; false when the name is taken. */
  insertOperatorToken(token: OperatorTokenRecord, actor: string): Promise<boolean>;
  findOperatorToken(id: string): Promise<OperatorTokenRecord | undefined>;
  insertEnrollmentToken(token: EnrollmentTokenRecord, actor: string): Promise<void>;

  /** An audit row outside any revision: security actions on members and keys (who revoked, who rotated). */
  appendAudit(actor: string, action: string, kind: string, name: string): Promise<void>;

  listAgents(): Promise<AgentRecord[]>;
  upsertAgent(agent: AgentRecord): Promise<void>;
  listGatewayMembers(): Promise<GatewayMemberRecord[]>;

  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  /**
   * Insert-if-absent: stores `value` unless the key already has one, and returns the stored value. Replicas
   * starting together agree on one value (the first writer wins), e.g. the secret key fingerprint.
   */
  claimMeta(key: string, value: string): Promise<string>;
}
