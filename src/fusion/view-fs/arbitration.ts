/**
 * The authority matrix (spec 20, rules 1–8): how one row from one source changes the tree.
 *
 * | source        | overwrite                  | last_updated_at | known_by_agent      | blind spots            | suspects                         |
 * |---------------|----------------------------|-----------------|---------------------|------------------------|----------------------------------|
 * | realtime      | always (rule 2)            | now             | true                | clears both for path   | partial write marks, else clears |
 * | snapshot      | only if row mtime is newer | kept (0 if new) | true                | clears the addition    | rule 5 (hot marks, cold clears)  |
 * | audit         | idem + rule 3 for new paths| kept            | false if new/changed| addition if new/changed| rule 5                           |
 * | on_demand_job | idem                       | kept            | false if new/changed| addition if new/changed| rule 5                           |
 *
 * This is the ingest hot path: one reusable per-event context, no per-row objects beyond the row
 * itself, `ensurePath` straight away for sources that may create (the tree caches the last parent
 * directory, so consecutive rows of one directory hash only their last segment).
 */
import type { FsUpsertRow, MessageSource } from '../../protocol/index.ts';
import { parentPath } from '../../protocol/index.ts';
import { FLAG_AGENT_MISSING, FLAG_AUDIT_SKIPPED, FLAG_SUSPECT, NO_NODE, NotADirectoryError } from '../tree/tree-store.ts';
import type { ChangeSource } from './change-journal.ts';
import type { DeleteRow } from './row-validation.ts';
import type { ScanStart, ViewState } from './view-state.ts';

/** Float tolerance when comparing mtimes that travelled as JSON floats. */
export const MTIME_EPSILON = 1e-6;

/** Rule 5: how long a hot file stays suspect. */
export function hotExpiry(now: number, hot: number, age: number): number {
  return now + Math.min(hot, Math.max(1, hot - age));
}

export class Arbiter {
  /** Per-event context, set by `begin()`. */
  private now = 0;
  private watermark = 0;
  private lineageId = 0;
  private source: MessageSource = 'realtime';
  /** Id of the last node `ensurePath` created (to tell "created" from "found"). */
  private lastCreated = NO_NODE;
  private markAgentMissing = false;

  private readonly onCreate = (id: number): void => {
    this.lastCreated = id;
    this.s.audit.nodeCreated(id);
    if (this.markAgentMissing) this.s.tree.setFlag(id, FLAG_AGENT_MISSING, true, 0);
  };

  constructor(private readonly s: ViewState) {}

  begin(source: MessageSource, lineageId: number, now: number): void {
    this.source = source;
    this.lineageId = lineageId;
    this.now = now;
    this.watermark = this.s.logical.watermark(now);
    this.s.tree.maxNodes = this.s.settings.maxNodes;
    if (source === 'audit' && !this.s.audit.isOpen) this.s.audit.start(now, this.watermark);
  }

  // --- upserts -------------------------------------------------------------------------------

  /** Apply one validated upsert row. Returns true when the tree changed. */
  upsert(row: FsUpsertRow): boolean {
    const s = this.s;
    const path = row.path;
    const mtime = row.modified_time;
    const realtime = this.source === 'realtime';
    if (realtime) {
      s.logical.sample(this.now, mtime);
      this.watermark = s.logical.watermark(this.now);
      s.lastLatencyMs = Math.max(0, this.watermark - mtime) * 1000;
    }
    // Rule 1: the tombstone gate, every source.
    if (s.tombstones.size !== 0) {
      const gate = s.tombstones.gate(path, mtime, !realtime);
      if (gate === 'blocked') {
        s.counters.tombstoneBlocked++;
        return false;
      }
      if (realtime) s.tombstones.dropAncestors(path);
    }
    return realtime ? this.realtimeUpsert(row) : this.compensatingUpsert(row);
  }

  /** Rule 2. */
  private realtimeUpsert(row: FsUpsertRow): boolean {
    const s = this.s;
    const tree = s.tree;
    const path = row.path;
    const isDir = row.is_directory;
    let id = this.ensure(path, isDir, true);
    if (id === NO_NODE) return false;
    let created = id === this.lastCreated;
    if (!created && tree.isDirectory(id) !== isDir) {
      id = this.replace(id, path, isDir, true);
      if (id === NO_NODE) return false;
      created = true;
    }
    tree.setAttrs(id, row.size, row.modified_time, row.created_time ?? (created ? 0 : tree.ctime(id)), this.lineageId, this.now);
    tree.setLastUpdatedAt(id, this.now);
    s.knownByAgent(id);
    s.deletions.delete(path);
    if (!isDir) {
      if (row.is_atomic_write === false) s.markSuspect(id, path, this.now + s.hot, row.modified_time);
      else s.clearSuspect(id, path);
    }
    s.journal.append(path, 'upsert', 'realtime', s.member);
    return true;
  }

  /** Rules 3–6 for snapshot, audit and on-demand rows. */
  private compensatingUpsert(row: FsUpsertRow): boolean {
    const s = this.s;
    const tree = s.tree;
    const path = row.path;
    const isDir = row.is_directory;
    const mtime = row.modified_time;
    const audit = this.source === 'audit';
    const snapshot = this.source === 'snapshot';
    if (audit) s.deletions.delete(path); // the audit sees the path again

    let id: number;
    let created: boolean;
    if (audit && row.parent_mtime !== undefined) {
      this.lastCreated = NO_NODE;
      id = tree.lookup(path);
      if (id === NO_NODE) {
        // Rule 3: the file is older than the directory state we already know.
        const parent = tree.lookup(parentPath(path));
        if (parent !== NO_NODE && tree.mtime(parent) > row.parent_mtime + MTIME_EPSILON) return false;
        id = this.ensure(path, isDir, false);
        if (id === NO_NODE) return false;
      }
      created = id === this.lastCreated;
    } else {
      id = this.ensure(path, isDir, false);
      if (id === NO_NODE) return false;
      created = id === this.lastCreated;
    }

    if (!created) {
      const sameType = tree.isDirectory(id) === isDir;
      if (audit) {
        // The path exists on disk whatever wins below; its children count as listed only when the
        // audit saw it as the directory we hold.
        s.audit.markSeen(id, isDir && sameType);
        if (isDir && sameType) tree.setFlag(id, FLAG_AUDIT_SKIPPED, row.audit_skipped === true, 0);
      }
      if (tree.mtime(id) >= mtime) {
        // Rule 3 (first half): never overwrite newer or equal knowledge.
        if (sameType) this.unchanged(id, path, isDir);
        return false;
      }
      if (!sameType) {
        id = this.replace(id, path, isDir, false);
        if (id === NO_NODE) return false;
        created = true;
      }
    }

    tree.setAttrs(id, row.size, mtime, row.created_time ?? (created ? 0 : tree.ctime(id)), this.lineageId, this.now);
    if (audit && created) {
      s.audit.markSeen(id, isDir);
      if (isDir) tree.setFlag(id, FLAG_AUDIT_SKIPPED, row.audit_skipped === true, 0);
    }
    if (snapshot) s.knownByAgent(id);
    else s.blindSpotAddition(id, isDir); // rule 4
    if (!isDir) this.hotCheck(id, path, mtime, true);
    if (s.tombstones.directoryCount !== 0) s.tombstones.dropAncestors(path);
    s.journal.append(path, 'upsert', this.source, s.member);
    return true;
  }

  /** A compensating row that did not change the node (its mtime is not newer). */
  private unchanged(id: number, path: string, isDir: boolean): void {
    const s = this.s;
    if (this.source === 'snapshot') s.knownByAgent(id);
    if (!isDir && s.tree.hasFlag(id, FLAG_SUSPECT)) this.hotCheck(id, path, s.tree.mtime(id), false);
  }

  /** Rule 5: hot marks (only when the row changed the node), cold clears. */
  private hotCheck(id: number, path: string, mtime: number, changed: boolean): void {
    const s = this.s;
    const hot = s.hot;
    const age = this.watermark - mtime;
    if (age < hot) {
      if (changed) s.markSuspect(id, path, hotExpiry(this.now, hot, age), mtime);
    } else {
      s.clearSuspect(id, path);
    }
  }

  /** ensurePath with this event's creation hook; a file in the middle of the path is replaced only for realtime. */
  private ensure(path: string, isDir: boolean, realtime: boolean): number {
    const tree = this.s.tree;
    this.lastCreated = NO_NODE;
    this.markAgentMissing = this.source === 'audit' || this.source === 'on_demand_job';
    for (let attempt = 0; ; attempt++) {
      try {
        return tree.ensurePath(path, isDir, this.now, this.onCreate);
      } catch (e) {
        if (!(e instanceof NotADirectoryError) || !realtime || attempt > 0) {
          if (e instanceof NotADirectoryError) return NO_NODE;
          throw e;
        }
        // A realtime row below a node we hold as a file: the file became a directory.
        this.journalDelete(e.path, 'realtime');
        this.s.removeNode(e.nodeId, this.now);
      }
    }
  }

  /** Rule 6: a file↔directory change replaces the node and its subtree. */
  private replace(id: number, path: string, isDir: boolean, realtime: boolean): number {
    this.s.removeNode(id, this.now);
    this.journalDelete(path, this.source);
    return this.ensure(path, isDir, realtime);
  }

  private journalDelete(path: string, source: ChangeSource): void {
    this.s.journal.append(path, 'delete', source, this.s.member);
  }

  // --- deletes -------------------------------------------------------------------------------

  /** Apply one validated delete row of this event's source. Returns true when the tree changed. */
  delete(row: DeleteRow): boolean {
    if (this.source === 'realtime') return this.realtimeDelete(row.path);
    return this.compensatingDelete(row.path, this.source, row.modified_time, this.scanStart());
  }

  /** Rule 7. */
  private realtimeDelete(path: string): boolean {
    const s = this.s;
    if (path === '/') return false;
    const id = s.tree.lookup(path);
    const isDir = id !== NO_NODE && s.tree.isDirectory(id);
    s.tombstones.add(path, this.watermark, this.now, isDir);
    s.deletions.delete(path);
    if (id === NO_NODE) return false;
    s.removeNode(id, this.now);
    this.journalDelete(path, 'realtime');
    return true;
  }

  /** Where the evidence of this event's source comes from (rule 8's "start of the scan"). */
  private scanStart(): ScanStart {
    const s = this.s;
    if (this.source === 'audit' && s.audit.isOpen) return { wall: s.audit.startedAt, logical: s.audit.startWatermark };
    if (this.source === 'snapshot' && s.sessionStart !== null) return s.sessionStart;
    return { wall: this.now, logical: this.watermark };
  }

  /**
   * Rule 8: remove `path` on the word of a walk (audit / snapshot / on-demand delete rows, sentinel
   * "missing"), unless the path is tombstoned, or the node — or anything below it — changed after
   * the scan started (mtime newer than the evidence, or updated later than the scan start).
   */
  compensatingDelete(path: string, source: ChangeSource, evidenceMtime: number | undefined, scan: ScanStart): boolean {
    const s = this.s;
    const tree = s.tree;
    if (path === '/' || s.tombstones.has(path)) return false;
    const id = tree.lookup(path);
    if (id === NO_NODE) return false;
    if (!this.evidenceHolds(id, evidenceMtime ?? scan.logical, scan.wall)) {
      s.counters.compensatingDeletesRefused++;
      return false;
    }
    s.removeNode(id, this.now);
    s.deletions.add(path);
    s.counters.compensatingDeletes++;
    s.journal.append(path, 'delete', source, s.member);
    return true;
  }

  /**
   * False when the node or its subtree is newer than evidence taken at (`mtime`, `wall`).
   * `ignoreFuture` (audit-end missing-item detection): an mtime beyond the logical now (a future mtime:
   * `touch -d tomorrow`, a skewed client) says nothing about WHEN the node changed, so it is not taken as
   * "changed after the scan"; the wall-clock evidence (`last_updated_at`, the subtree's last change)
   * still protects it. Without this, a future-mtime file deleted where no watch sees it (or resurrected by
   * a stale walk row) stayed in the view — with every directory above it — until the clock caught up
   * with its mtime (found by the convergence oracle, test/agent-convergence.test.ts).
   */
  evidenceHolds(id: number, mtime: number, wall: number, ignoreFuture = false): boolean {
    const tree = this.s.tree;
    const limit = mtime + MTIME_EPSILON;
    const future = ignoreFuture ? this.watermark + MTIME_EPSILON : Infinity;
    const newer = (m: number) => m > limit && m <= future;
    if (newer(tree.mtime(id)) || tree.lastUpdatedAt(id) > wall) return false;
    if (tree.isDirectory(id)) {
      const agg = tree.aggregates(id);
      if (newer(agg.latestMtime) || agg.lastChangeAt > wall) return false;
    }
    return true;
  }

  /** Set the context for a compensating delete outside an event (sentinel feedback, audit end). */
  beginHousekeeping(now: number): void {
    this.now = now;
    this.watermark = this.s.logical.watermark(now);
  }
}
