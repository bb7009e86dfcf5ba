/**
 * Everything one fs view holds, plus the few mutations that must keep two structures in step:
 * the suspect list and FLAG_SUSPECT, blind-spot additions and FLAG_BLIND_SPOT, `known_by_agent` and
 * FLAG_AGENT_MISSING, and subtree removal (which drops the suspect entries of the removed nodes).
 *
 * Flag changes pass `now = 0` to the tree so they do not count as changes for `lastChangeAt`:
 * `settled` (spec 30) is about data changes, and clearing a suspect mark is bookkeeping.
 */
import { TreeStore, FLAG_AGENT_MISSING, FLAG_BLIND_SPOT, FLAG_SUSPECT } from '../tree/tree-store.ts';
import type { Clock, FsViewSettings } from '../view/view-driver.ts';
import { AuditWindow } from './audit-window.ts';
import { BlindSpotDeletions } from './blind-spots.ts';
import { ChangeJournal } from './change-journal.ts';
import { LogicalClock } from './logical-clock.ts';
import { SuspectList } from './suspects.ts';
import { Tombstones } from './tombstones.ts';

export interface ViewCounters {
  rowsApplied: number;
  rowsIgnored: number;
  rowsRejected: number;
  tombstoneBlocked: number;
  compensatingDeletes: number;
  compensatingDeletesRefused: number;
  missingItemDeletes: number;
  tombstonesPurged: number;
}

export function zeroCounters(): ViewCounters {
  return {
    rowsApplied: 0, rowsIgnored: 0, rowsRejected: 0, tombstoneBlocked: 0, compensatingDeletes: 0,
    compensatingDeletesRefused: 0, missingItemDeletes: 0, tombstonesPurged: 0,
  };
}

/** A scan's start, on both clocks: wall (gateway) and logical (storage time domain). */
export interface ScanStart { wall: number; logical: number }

export class ViewState {
  readonly tree: TreeStore;
  readonly logical = new LogicalClock();
  readonly suspects = new SuspectList();
  readonly tombstones = new Tombstones();
  readonly deletions = new BlindSpotDeletions();
  readonly audit = new AuditWindow();
  counters = zeroCounters();

  /** Wall time the view was created or last reset (floor for "quiet for"). */
  createdAt: number;
  /** Wall time of the last applied event, 0 if none. */
  lastEventAt = 0;
  /** Lag of the last realtime row: watermark − mtime, in ms. */
  lastLatencyMs = 0;
  /** Start of the current session's snapshot (evidence bound for snapshot deletes). */
  sessionStart: ScanStart | null = null;
  /** When the sentinel last took its task list (evidence bound for sentinel "missing"). */
  sentinelStart: ScanStart | null = null;

  constructor(readonly settings: FsViewSettings, readonly clock: Clock, readonly journal: ChangeJournal, readonly member = 0) {
    this.tree = new TreeStore({ maxNodes: settings.maxNodes });
    this.createdAt = clock.now();
  }

  get hot(): number { return this.settings.hotFileThreshold; }

  // --- suspects ------------------------------------------------------------------------------

  markSuspect(id: number, path: string, expiry: number, recordedMtime: number): void {
    this.suspects.set(path, expiry, recordedMtime);
    this.tree.setFlag(id, FLAG_SUSPECT, true, 0);
  }

  clearSuspect(id: number, path: string): void {
    if (!this.tree.hasFlag(id, FLAG_SUSPECT)) return;
    this.suspects.delete(path);
    this.tree.setFlag(id, FLAG_SUSPECT, false, 0);
  }

  // --- agent knowledge and blind spots --------------------------------------------------------

  /** known_by_agent = true: clears agent_missing and the blind-spot addition mark. */
  knownByAgent(id: number): void {
    const tree = this.tree;
    if ((tree.flags(id) & (FLAG_AGENT_MISSING | FLAG_BLIND_SPOT)) === 0) return;
    tree.setFlag(id, FLAG_AGENT_MISSING, false, 0);
    tree.setFlag(id, FLAG_BLIND_SPOT, false, 0);
  }

  /** Rule 4: an audit / on-demand row created or changed the node. */
  blindSpotAddition(id: number, isDirectory: boolean): void {
    this.tree.setFlag(id, FLAG_AGENT_MISSING, true, 0);
    if (!isDirectory) this.tree.setFlag(id, FLAG_BLIND_SPOT, true, 0);
  }

  // --- removal -------------------------------------------------------------------------------

  private readonly dropSuspectOf = (n: number): void => {
    if (this.tree.hasFlag(n, FLAG_SUSPECT)) this.suspects.delete(this.tree.path(n));
  };

  /** Remove a node and its subtree (never the root); suspect entries go with it. Returns nodes removed. */
  removeNode(id: number, now: number): number {
    const tree = this.tree;
    const visit = tree.hasFlag(id, FLAG_SUSPECT) || (tree.isDirectory(id) && tree.aggregates(id).suspectCount > 0);
    return tree.removeSubtree(id, now, visit ? this.dropSuspectOf : undefined);
  }

  /** The view's current scan bounds: now on both clocks. */
  nowScan(): ScanStart {
    const now = this.clock.now();
    return { wall: now, logical: this.logical.watermark(now) };
  }

  /** Empty the view (reset): new tree contents, no marks, no windows; the journal instance changes. */
  clear(): void {
    this.tree.clear();
    this.logical.clear();
    this.suspects.clear();
    this.tombstones.clear();
    this.deletions.clear();
    this.audit.reset();
    this.counters = zeroCounters();
    this.createdAt = this.clock.now();
    this.lastEventAt = 0;
    this.lastLatencyMs = 0;
    this.sessionStart = null;
    this.sentinelStart = null;
    this.journal.rotate();
  }
}
