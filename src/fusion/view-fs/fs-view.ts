/**
 * FsView: the `fs` view engine (spec 20 + 30). Wires the parts together; each rule lives in the module
 * named for it (arbitration, missing-items, sentinel, …). Synchronous, no I/O, no timers: the gateway
 * calls `tick()` for housekeeping, and every wall-clock read goes through the injected Clock.
 */
import type { ChangesQuery, ChangesResult, Event, FsNode, MessageSource, SearchQuery, SentinelUpdate, StatsQuery, TreeQuery } from '../../protocol/index.ts';
import { NO_NODE } from '../tree/tree-store.ts';
import { systemClock, type ApplyResult, type Clock, type FsViewSettings, type Lineage, type ViewDriver } from '../view/view-driver.ts';
import { Arbiter } from './arbitration.ts';
import { additionCount, additionIds, listBlindSpots, type BlindSpotPage } from './blind-spots.ts';
import { ChangeJournal } from './change-journal.ts';
import { readChanges } from './changes.ts';
import { finishAudit } from './missing-items.ts';
import { fsNode } from './node-format.ts';
import { checkPath, validateDelete, validateUpsert } from './row-validation.ts';
import { search } from './search.ts';
import { sentinelFeedback, sentinelTasks, stabilityEvidence, sweepSuspects } from './sentinel.ts';
import { bestMetric, pathStats, viewStats } from './stats.ts';
import { TreeCache, treeCacheKey } from './tree-cache.ts';
import { ChunkWriter, checkTreeSize, chunksToBuffer, planTree, resolvePath, treeJson, writeTree, type TreePlan } from './tree-json.ts';
import { ViewState } from './view-state.ts';
import { FLAG_BLIND_SPOT } from '../tree/tree-store.ts';

/** Reasons kept in an ApplyResult. */
const MAX_ERRORS = 5;

export interface FsViewOptions {
  /** A journal shared with other views (forest members); default: a journal of `settings.journalSize`. */
  journal?: ChangeJournal;
  /** Tag of this view's entries in a shared journal. */
  member?: number;
}

export class FsView implements ViewDriver {
  readonly kind = 'fs' as const;
  private readonly s: ViewState;
  private readonly arbiter: Arbiter;
  /** Encoded /tree answers, valid while nothing in them changed (tree-cache.ts). */
  private readonly treeCache = new TreeCache();

  constructor(readonly viewId: string, readonly settings: FsViewSettings, clock: Clock = systemClock, options: FsViewOptions = {}) {
    this.s = new ViewState(settings, clock, options.journal ?? new ChangeJournal(settings.journalSize), options.member ?? 0);
    this.arbiter = new Arbiter(this.s);
  }

  electionKey(_pipeId: string): string { return this.viewId; }

  // ---- ingest ---------------------------------------------------------------------------------

  applyEvent(event: Event, source: MessageSource, lineage: Lineage): ApplyResult {
    const s = this.s;
    const result: ApplyResult = { applied: 0, rejected: 0, errors: [] };
    const rows = event.rows;
    if (!Array.isArray(rows) || rows.length === 0) return result;
    const now = s.clock.now();
    const arbiter = this.arbiter;
    // The per-event context starts at the first valid row: an event whose rows are all malformed
    // changes nothing (beginning an audit event would open an audit window, spec 60 "no state change").
    const begin = (): void => arbiter.begin(source, s.tree.internLineage(lineage.agentId ?? '', lineage.sourceUri ?? ''), now);
    let changed = 0;
    if (event.event_type === 'delete') {
      for (let i = 0; i < rows.length; i++) {
        const row = validateDelete(rows[i]);
        if (typeof row === 'string') { this.reject(result, i, row); continue; }
        if (result.applied++ === 0) begin();
        if (arbiter.delete(row)) changed++;
      }
    } else {
      for (let i = 0; i < rows.length; i++) {
        const row = validateUpsert(rows[i]);
        if (typeof row === 'string') { this.reject(result, i, row); continue; }
        if (result.applied++ === 0) begin();
        if (arbiter.upsert(row)) changed++;
      }
    }
    s.counters.rowsApplied += result.applied;
    s.counters.rowsIgnored += result.applied - changed;
    s.counters.rowsRejected += result.rejected;
    if (result.applied > 0) s.lastEventAt = now;
    return result;
  }

  private reject(result: ApplyResult, i: number, reason: string): void {
    result.rejected++;
    if (result.errors.length < MAX_ERRORS) result.errors.push(`row ${i}: ${reason}`);
  }

  auditStart(_pipeId: string): void {
    const now = this.s.clock.now();
    this.s.audit.start(now, this.s.logical.watermark(now));
  }

  auditEnd(_pipeId: string): void {
    finishAudit(this.s, this.arbiter, this.s.clock.now());
  }

  sessionStart(_pipeId: string): void {
    const s = this.s;
    const now = s.clock.now();
    for (const id of additionIds(s.tree)) s.tree.setFlag(id, FLAG_BLIND_SPOT, false, 0);
    s.deletions.clear();
    s.audit.close(now, false);
    s.sessionStart = s.nowScan();
  }

  reset(_pipeId?: string): void {
    this.s.clear();
    this.treeCache.clear();
  }

  tick(): void {
    const s = this.s;
    const now = s.clock.now();
    sweepSuspects(s, now);
    const interval = s.settings.auditIntervalSec;
    if (s.audit.isOpen && interval > 0 && now - s.audit.startedAt >= 2 * interval) s.audit.abandon(now);
  }

  sentinelTasks(_pipeId?: string): string[] { return sentinelTasks(this.s); }

  sentinelFeedback(updates: SentinelUpdate[], _pipeId?: string): number {
    return sentinelFeedback(this.s, this.arbiter, updates, this.s.clock.now());
  }

  suspectEvidence(updates: { path: string; mtime: number }[]): number {
    const now = this.s.clock.now();
    let n = 0;
    for (const u of updates) {
      // `current_mtime` is the predecessor's spelling.
      const mtime = typeof u.mtime === 'number' ? u.mtime : (u as { current_mtime?: unknown }).current_mtime;
      if (checkPath(u.path) !== null || typeof mtime !== 'number' || !Number.isFinite(mtime)) continue;
      if (stabilityEvidence(this.s, u.path, mtime, undefined, now)) n++;
    }
    return n;
  }

  // ---- queries --------------------------------------------------------------------------------

  tree(q: TreeQuery): string[] { return treeJson(this.s.tree, q, this.settings.maxTreeItems); }

  /** The /tree answer as one UTF-8 body; from the cache while nothing in it changed since it was built. */
  treeBody(q: TreeQuery): Buffer {
    const tree = this.s.tree;
    const id = resolvePath(tree, q.path ?? '/');
    const key = treeCacheKey(q);
    const hit = this.treeCache.get(key, tree, id);
    if (hit !== undefined) {
      checkTreeSize(hit.count, this.settings.maxTreeItems);
      return hit.body;
    }
    const plan = planTree(tree, q);
    checkTreeSize(plan.count, this.settings.maxTreeItems);
    const w = new ChunkWriter();
    writeTree(tree, plan, w);
    const body = chunksToBuffer(w.finish());
    this.treeCache.set(key, { body, id, generation: tree.generation(id), count: plan.count, builtSeq: tree.mutationSeq, builtAt: this.s.clock.now() });
    return body;
  }

  /** Plan a tree response without the max_tree_items check (forest views check the sum). */
  planTree(q: TreeQuery): TreePlan { return planTree(this.s.tree, q); }
  writeTree(plan: TreePlan, w: ChunkWriter): void { writeTree(this.s.tree, plan, w); }
  checkTreeSize(count: number): void { checkTreeSize(count, this.settings.maxTreeItems); }

  search(q: SearchQuery): { items: FsNode[]; next_cursor?: string } { return search(this.s.tree, q); }

  stats(q: StatsQuery): Record<string, unknown> {
    const now = this.s.clock.now();
    return q.path === undefined || q.path === '/' ? { ...viewStats(this.s, q, now), tree_cache: this.treeCache.stats() } : pathStats(this.s, q, now);
  }

  /** The metric a forest view ranks members by, or undefined when `path` is absent here. */
  bestMetric(path: string, metric: 'file_count' | 'total_size' | 'latest_mtime'): number | undefined {
    return bestMetric(this.s, path, metric);
  }

  metadata(path: string): FsNode { return fsNode(this.s.tree, resolvePath(this.s.tree, path), path); }

  /** The node at `path` now, or undefined. */
  nodeAt(path: string): FsNode | undefined {
    const id = this.s.tree.lookup(path);
    return id === NO_NODE ? undefined : fsNode(this.s.tree, id, path);
  }

  changes(q: ChangesQuery): ChangesResult {
    return readChanges(this.s.journal, q, (_m, path) => this.nodeAt(path));
  }

  blindSpots(q: { limit?: number; cursor?: string }): BlindSpotPage { return listBlindSpots(this.s.tree, this.s.deletions, q); }

  /** Sizes of the two blind-spot lists (O(1)). */
  blindSpotCounts(): { additions: number; deletions: number } {
    return { additions: additionCount(this.s.tree), deletions: this.s.deletions.size };
  }

  suspectList(): { path: string; suspect_until: number; recorded_mtime: number }[] {
    const out: { path: string; suspect_until: number; recorded_mtime: number }[] = [];
    for (const [path, e] of this.s.suspects.entriesIterator()) out.push({ path, suspect_until: e.expiry, recorded_mtime: e.recordedMtime });
    return out.sort((a, b) => a.suspect_until - b.suspect_until || (a.path < b.path ? -1 : 1));
  }

  has(path: string): boolean { return checkPath(path) === null && this.s.tree.lookup(path) !== NO_NODE; }

  itemCount(): number { return this.s.tree.liveCount; }

  /** The engine's state, for tests and diagnostics only (the gateway uses the ViewDriver surface). */
  internals(): ViewState { return this.s; }
}
