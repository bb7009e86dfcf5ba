/**
 * GitOps (spec 50): a Git branch (and sub-directory) is the source of truth of the Git-managed kinds. On
 * start, every `intervalSeconds` and on `POST /api/v1/sync`, the controller fetches the branch; when its head
 * differs from the last applied commit it applies the commit's YAML documents as ONE revision with prune
 * (actor `git:<short sha>`). An invalid commit changes nothing: the last good revision stays and the failure
 * is kept in the status (`GET /api/v1/gitops`) and logged. Syncs never overlap.
 *
 * With controller replicas only the holder of the reconciler lease syncs on its own (start, interval): the
 * controller calls `lead` when it gains the lease and `stopTimer` when it loses it, and those syncs write
 * with the lease fence, so a replica that lost the lease mid-sync writes nothing. `POST /sync` is an
 * operator's explicit request and runs on whichever replica receives it (writes are serialised by the store);
 * every sync compares its fetch with the commit recorded as applied by any replica and fetches again when that
 * commit is not in it, so a replica with an older fetch does not put an older commit back.
 */
import { parseAllDocuments } from 'yaml';
import { FustorError } from '../../kernel/errors.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { FieldProblem } from '../../protocol/index.ts';
import { toWrites } from '../resources/plan.ts';
import { validateDocuments } from '../resources/validate.ts';
import { LeaseLostError, type ControllerStore, type LeaseFence } from '../store/store.ts';
import { planGitCommit } from './apply.ts';
import { GitError, GitMirror, type GitFile } from './git.ts';
import { describeSource, type GitSource } from './source.ts';

export const DEFAULT_GIT_INTERVAL_SECONDS = 30;
const META_KEY = 'gitops_last_applied';

export interface GitOpsError { commit: string | null; message: string; details: string[] }

export interface GitOpsStatus {
  repo: string;
  branch: string;
  dir: string;
  last_applied_commit: string | null;
  last_applied_revision: number | null;
  last_seen_commit: string | null;
  last_error: GitOpsError | null;
  last_sync_at: string | null;
}

export interface SyncOutcome {
  outcome: 'applied' | 'up-to-date' | 'failed';
  commit: string | null;
  /** The revision the commit made (applied), null when it changed nothing or failed. */
  revision: number | null;
  status: GitOpsStatus;
}

class InvalidCommit extends Error {
  constructor(message: string, readonly details: string[] = []) {
    super(message);
  }
}

export const shortSha = (commit: string) => commit.slice(0, 12);

export class GitOps {
  private status: GitOpsStatus;
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private disposed = false;

  private constructor(
    readonly source: GitSource & { branch: string },
    private readonly mirror: GitMirror,
    private readonly store: ControllerStore,
    private readonly log: Logger,
    /** The lease fence of this replica's automatic syncs (undefined: a single controller, no fence). */
    private readonly fence: () => LeaseFence | undefined,
  ) {
    this.status = {
      repo: source.repo, branch: source.branch, dir: source.dir,
      last_applied_commit: null, last_applied_revision: null, last_seen_commit: null, last_error: null, last_sync_at: null,
    };
  }

  /** Open the mirror under `gitDir` and resolve the branch; a GitError here is a startup failure. */
  static async open(source: GitSource, gitDir: string, store: ControllerStore, log: Logger, opts: { fence?: () => LeaseFence | undefined } = {}): Promise<GitOps> {
    const mirror = await GitMirror.open(gitDir, source.repo);
    const branch = source.branch ?? await mirror.defaultBranch();
    const g = new GitOps({ ...source, branch }, mirror, store, log, opts.fence ?? (() => undefined));
    await g.loadApplied();
    return g;
  }

  /** The last applied commit as recorded in the store (by this or by a previous leader). */
  private async loadApplied(): Promise<void> {
    const s = await this.recordedCommit();
    if (s !== null) {
      this.status.last_applied_commit = s.commit;
      this.status.last_applied_revision = s.revision;
    }
  }

  /** What the store says was applied last from this source, by any replica. */
  private async recordedCommit(): Promise<{ commit: string; revision: number | null } | null> {
    const saved = await this.store.getMeta(META_KEY);
    if (saved === undefined) return null;
    const s = JSON.parse(saved) as { source: string; commit: string; revision: number | null };
    return s.source === this.describe() ? { commit: s.commit, revision: s.revision } : null;
  }

  /** This replica became the lease holder: take over where the previous leader got, sync now, then every interval. */
  async lead(intervalSeconds: number): Promise<SyncOutcome> {
    this.startTimer(intervalSeconds);
    await this.loadApplied();
    return this.sync('lease');
  }

  /** `REPO#branch[:dir]`. */
  describe(): string {
    return describeSource(this.source, this.source.branch);
  }

  getStatus(): GitOpsStatus {
    return structuredClone(this.status);
  }

  startTimer(intervalSeconds: number): void {
    if (this.timer !== undefined || this.disposed) return;
    // A store failure (e.g. the database restarting) must not become an unhandled rejection: log, retry next tick.
    this.timer = setInterval(() => void this.sync('interval').catch((e: unknown) => this.log.error({ err: e }, 'gitops: sync failed')), intervalSeconds * 1000);
    this.timer.unref();
  }

  /** The lease was lost: no more automatic syncs (a sync in flight is fenced by the store). */
  stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Fetch and, when the head moved (or the last attempt failed), apply. Serialised. */
  sync(trigger: string): Promise<SyncOutcome> {
    const next = this.queue.then(() => this.syncNow(trigger));
    this.queue = next.catch(() => undefined);
    return next;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.queue;
  }

  private async syncNow(trigger: string): Promise<SyncOutcome> {
    if (this.disposed) return this.outcome('failed', null, null);
    this.status.last_sync_at = new Date().toISOString();
    let commit: string;
    try {
      commit = await this.mirror.fetch(this.source.branch);
    } catch (e) {
      this.fail(null, e instanceof GitError ? `cannot fetch ${this.describe()}: ${e.message}` : (e as Error).message, [], trigger);
      return this.outcome('failed', null, null);
    }
    // Another replica (the lease holder, or one answering POST /sync) may have applied a commit this fetch
    // does not contain: our fetch may be older than theirs. Fetch once more and go by the branch's head then
    // (a newer commit, or — when it still does not contain the applied one — a rollback by force push).
    const recorded = await this.recordedCommit();
    if (recorded !== null && recorded.commit !== commit) {
      try {
        if (!(await this.mirror.hasCommit(recorded.commit) && await this.mirror.isAncestor(recorded.commit, commit))) commit = await this.mirror.fetch(this.source.branch);
      } catch (e) {
        if (!(e instanceof GitError)) throw e;
        this.fail(null, `cannot fetch ${this.describe()}: ${e.message}`, [], trigger);
        return this.outcome('failed', null, null);
      }
    }
    if (recorded !== null && recorded.commit === commit) {
      this.status.last_applied_commit = recorded.commit;
      this.status.last_applied_revision = recorded.revision;
    }
    this.status.last_seen_commit = commit;
    if (commit === this.status.last_applied_commit) {
      this.status.last_error = null;
      return this.outcome('up-to-date', commit, this.status.last_applied_revision);
    }
    try {
      const docs = parseFiles(await this.mirror.yamlFiles(commit, this.source.dir), this.source.dir);
      const { docs: valid, problems } = validateDocuments(docs.values);
      if (problems.length > 0) throw invalidCommit(problems, docs.origins);
      const actor = `git:${shortSha(commit)}`;
      const fence = trigger === 'api' ? undefined : this.fence();
      const res = await this.store.mutate(actor, (state) => {
        const plan = planGitCommit(valid, state);
        if (plan.problems.length > 0) throw invalidCommit(plan.problems, docs.origins);
        return { writes: toWrites(plan.changes), value: plan.changes };
      }, { fence });
      const revision = res.revision ?? res.currentRevision;
      this.status.last_applied_commit = commit;
      this.status.last_applied_revision = revision;
      this.status.last_error = null;
      await this.store.setMeta(META_KEY, JSON.stringify({ source: this.describe(), commit, revision }));
      const changed = res.value.filter((c) => c.action !== 'unchanged').map((c) => `${c.kind}/${c.name} ${c.action}`);
      this.log.info({ commit, revision: res.revision, changed, trigger }, `gitops: applied commit ${shortSha(commit)}`);
      return this.outcome('applied', commit, res.revision);
    } catch (e) {
      if (e instanceof LeaseLostError) {
        this.log.warn({ commit, trigger }, `gitops: commit ${shortSha(commit)} not applied here: this replica lost the reconciler lease (the new leader applies it)`);
        return this.outcome('failed', commit, null);
      }
      if (e instanceof InvalidCommit) this.fail(commit, e.message, e.details, trigger);
      else if (e instanceof GitError) this.fail(commit, `cannot read commit ${shortSha(commit)}: ${e.message}`, [], trigger);
      else throw e;
      return this.outcome('failed', commit, null);
    }
  }

  private fail(commit: string | null, message: string, details: string[], trigger: string): void {
    const prev = this.status.last_error;
    this.status.last_error = { commit, message, details };
    // Logged once per distinct failure, not on every interval.
    if (prev === null || prev.commit !== commit || prev.message !== message) {
      this.log.warn({ commit, error: message, details: details.slice(0, 10), trigger }, `gitops: ${commit === null ? 'sync failed' : `commit ${shortSha(commit)} not applied`}: ${message}`);
    }
  }

  private outcome(outcome: SyncOutcome['outcome'], commit: string | null, revision: number | null): SyncOutcome {
    return { outcome, commit, revision, status: this.getStatus() };
  }

  /** The 409 for an API write to a Git-managed kind. */
  refusal(kind: string): FustorError {
    return new FustorError('CONFLICT', `${kind} is managed by Git (${describeSource(this.source, this.source.branch)}): change it in the repository`);
  }
}

interface Origin { file: string; doc: number }

function parseFiles(files: GitFile[], dir: string): { values: unknown[]; origins: Origin[] } {
  if (files.length === 0) throw new InvalidCommit(`no *.yaml or *.yml file ${dir === '' ? 'in the repository' : `under ${dir}/`}: refusing to delete every Git-managed resource`);
  const values: unknown[] = [];
  const origins: Origin[] = [];
  for (const f of files) {
    parseAllDocuments(f.text).forEach((d, i) => {
      if (d.errors.length > 0) throw new InvalidCommit(`${f.path}: document ${i + 1}: not valid YAML (${d.errors[0].message.split('\n')[0]})`);
      const value: unknown = d.toJS({ maxAliasCount: 100 });
      if (value === null || value === undefined) return;
      values.push(value);
      origins.push({ file: f.path, doc: i + 1 });
    });
  }
  return { values, origins };
}

function invalidCommit(problems: FieldProblem[], origins: Origin[]): InvalidCommit {
  const details = problems.map((p) => `${locate(p.path, origins)}: ${p.message}`);
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
  return new InvalidCommit(`${details[0]}${more}`, details);
}

/** `[3].spec.view` → `deploy/pipes.yaml (document 2) spec.view`. */
function locate(path: string, origins: Origin[]): string {
  const m = /^\[(\d+)\]\.?(.*)$/.exec(path);
  const o = m === null ? undefined : origins[Number(m[1])];
  if (m === null || o === undefined) return path;
  return `${o.file} (document ${o.doc})${m[2] === '' ? '' : ` ${m[2]}`}`;
}
