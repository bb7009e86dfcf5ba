/**
 * `GET /stats` (spec 30). Everything here is O(1): counts come from the root or directory aggregates
 * the tree maintains incrementally, never from a walk.
 *
 * View-wide (`path` absent or `/`): the spec's fields plus `audit_windows_abandoned`,
 * `max_nodes_refused` and a few engine counters. `sessions` and `leader` belong to the gateway, which
 * adds them. `staleness_seconds` is the time since the view last applied an event (null before the
 * first), a deliberate change from the predecessor's "watermark − oldest directory mtime", which
 * needed a full scan per call.
 *
 * Sub-path: the directory aggregates (`dir_count` includes the directory itself, as the predecessor's
 * subtree stats did), plus `settled` = no suspect file below and no change for `quiet_seconds`
 * (default: the hot-file threshold), and `quiet_for_seconds`.
 */
import type { StatsQuery } from '../../protocol/index.ts';
import { FLAG_SUSPECT, type TreeStore } from '../tree/tree-store.ts';
import { resolvePath } from './tree-json.ts';
import type { ViewState } from './view-state.ts';

/** Wall time of the last data change at or below `id` (creation of the node included). */
function lastChange(tree: TreeStore, id: number, floor: number): number {
  let t = tree.isDirectory(id) ? tree.aggregates(id).lastChangeAt : tree.lastUpdatedAt(id);
  // Nothing recorded below the node itself: its parent's record includes the node's own creation.
  if (t === 0 && id !== tree.root) t = tree.aggregates(tree.parent(id)).lastChangeAt;
  return Math.max(t, floor);
}

function settledFields(s: ViewState, id: number, suspectCount: number, quietSeconds: number | undefined, now: number): Record<string, unknown> {
  const quiet = quietSeconds ?? s.hot;
  const quietFor = Math.max(0, now - lastChange(s.tree, id, s.createdAt));
  return { settled: suspectCount === 0 && quietFor >= quiet, quiet_seconds: quiet, quiet_for_seconds: quietFor };
}

export function viewStats(s: ViewState, q: StatsQuery, now: number): Record<string, unknown> {
  const tree = s.tree;
  const a = tree.aggregates(tree.root);
  const audit = s.audit;
  const mode = s.logical.mode();
  return {
    path: '/',
    item_count: tree.liveCount,
    total_files: a.fileCount,
    total_directories: a.dirCount + 1,
    total_size: a.totalSize,
    latest_mtime: a.latestMtime,
    suspect_file_count: a.suspectCount,
    has_blind_spot: a.blindSpotCount > 0 || s.deletions.size > 0,
    blind_spot_additions: a.blindSpotCount,
    blind_spot_deletions: s.deletions.size,
    logical_now: s.logical.watermark(now),
    clock_skew_seconds: mode ?? null,
    clock_skew_samples: s.logical.sampleCount,
    latency_ms: s.lastLatencyMs,
    staleness_seconds: s.lastEventAt === 0 ? null : Math.max(0, now - s.lastEventAt),
    audit_cycle_count: audit.cycleCount,
    last_audit_finished_at: audit.lastFinishedAt === 0 ? null : audit.lastFinishedAt,
    is_auditing: audit.isOpen,
    audit_started_at: audit.isOpen ? audit.startedAt : null,
    audit_windows_abandoned: audit.abandonedCount,
    tombstone_count: s.tombstones.size,
    max_nodes: s.settings.maxNodes,
    max_nodes_refused: tree.refusedCount,
    rows_applied: s.counters.rowsApplied,
    rows_ignored: s.counters.rowsIgnored,
    rows_rejected: s.counters.rowsRejected,
    compensating_deletes: s.counters.compensatingDeletes + s.counters.missingItemDeletes,
    compensating_deletes_refused: s.counters.compensatingDeletesRefused,
    ...settledFields(s, tree.root, a.suspectCount, q.quiet_seconds, now),
  };
}

export function pathStats(s: ViewState, q: StatsQuery, now: number): Record<string, unknown> {
  const path = q.path ?? '/';
  const tree = s.tree;
  const id = resolvePath(tree, path);
  if (id === tree.root) return viewStats(s, q, now);
  if (!tree.isDirectory(id)) {
    const suspect = tree.hasFlag(id, FLAG_SUSPECT) ? 1 : 0;
    return {
      path, content_type: 'file', file_count: 1, dir_count: 0, total_size: tree.size(id), latest_mtime: tree.mtime(id),
      suspect_count: suspect, blind_spot_count: tree.aggregates(id).blindSpotCount,
      last_change_at: lastChange(tree, id, 0) || null,
      ...settledFields(s, id, suspect, q.quiet_seconds, now),
    };
  }
  const a = tree.aggregates(id);
  return {
    path, content_type: 'directory', file_count: a.fileCount, dir_count: a.dirCount + 1, total_size: a.totalSize,
    latest_mtime: a.latestMtime, suspect_count: a.suspectCount, blind_spot_count: a.blindSpotCount,
    last_change_at: lastChange(tree, id, 0) || null,
    ...settledFields(s, id, a.suspectCount, q.quiet_seconds, now),
  };
}

/** Metric used by forest views to pick the "best" member. */
export function bestMetric(s: ViewState, path: string, metric: 'file_count' | 'total_size' | 'latest_mtime'): number | undefined {
  const tree = s.tree;
  const id = tree.lookup(path);
  if (id < 0) return undefined;
  const a = tree.aggregates(id);
  return metric === 'file_count' ? a.fileCount : metric === 'total_size' ? a.totalSize : a.latestMtime;
}
