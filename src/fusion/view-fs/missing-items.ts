/**
 * Audit end (spec 20): purge old tombstones, then missing-item detection.
 *
 * For every directory the audit saw and did not mark `audit_skipped`, each child the audit did not
 * see is gone from disk — unless one of these says the evidence is stale:
 *  - the child is tombstoned (a realtime delete already handled it);
 *  - it was created while the window was open (the walk listed its directory before it existed);
 *  - its `last_updated_at` is later than the audit start (realtime touched it during the audit,
 *    e.g. a `cp -p` whose mtime is old);
 *  - its mtime (or anything below it) is newer than the logical time at the audit start — unless that
 *    mtime is in the future (beyond the logical now), which tells nothing about when it changed.
 * Removed children go to `blind_spot_deletions` and the change journal.
 */
import type { Arbiter } from './arbitration.ts';
import type { ViewState } from './view-state.ts';
import { FLAG_AUDIT_SKIPPED } from '../tree/tree-store.ts';

/** Returns the number of children removed (subtrees count as one). */
export function finishAudit(s: ViewState, arbiter: Arbiter, now: number): number {
  const audit = s.audit;
  if (!audit.isOpen) return 0;
  s.counters.tombstonesPurged += s.tombstones.purge(now - s.settings.tombstoneTtlSeconds);

  const tree = s.tree;
  const candidates: number[] = [];
  for (const dir of audit.seenDirectories()) {
    if (!tree.exists(dir) || !audit.isSeen(dir) || !tree.isDirectory(dir) || tree.hasFlag(dir, FLAG_AUDIT_SKIPPED)) continue;
    for (let c = tree.firstChild(dir); c !== -1; c = tree.nextSibling(c)) {
      if (!audit.isSeen(c) && !audit.bornInWindow(c)) candidates.push(c);
    }
  }

  arbiter.beginHousekeeping(now);
  let removed = 0;
  const wall = audit.startedAt;
  const logical = audit.startWatermark;
  for (const id of candidates) {
    if (!tree.exists(id)) continue; // went with an earlier candidate's subtree
    const path = tree.path(id);
    if (s.tombstones.has(path)) continue;
    if (!arbiter.evidenceHolds(id, logical, wall, true)) continue;
    s.removeNode(id, now);
    s.deletions.add(path);
    s.journal.append(path, 'delete', 'audit', s.member);
    removed++;
  }
  s.counters.missingItemDeletes += removed;
  audit.close(now, true);
  return removed;
}
