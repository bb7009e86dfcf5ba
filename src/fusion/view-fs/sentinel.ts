/**
 * Suspect resolution (spec 20 "Suspects"): the background sweep and stability evidence from the
 * sentinel (`exists` / `missing` feedback) or from `PUT /suspect-list`.
 *
 * Sweep, for each expired entry: node gone → drop; mtime changed since it was recorded → renew for a
 * full threshold with the new mtime; stable → clear the mark.
 * Evidence for a path on the list: same mtime (and size, when both are known) and cold → clear now;
 * same but still hot → keep until expiry; different → update the node's mtime/size and renew.
 * `missing` is a compensating delete (rule 8), never an mtime of 0.
 */
import type { SentinelUpdate } from '../../protocol/index.ts';
import { NO_NODE } from '../tree/tree-store.ts';
import { MTIME_EPSILON, type Arbiter } from './arbitration.ts';
import { checkPath } from './row-validation.ts';
import type { ViewState } from './view-state.ts';

export function sweepSuspects(s: ViewState, now: number): void {
  const tree = s.tree;
  for (const [path, e] of s.suspects.takeExpired(now)) {
    const id = tree.lookup(path);
    if (id === NO_NODE || tree.isDirectory(id)) continue;
    const mtime = tree.mtime(id);
    if (mtime !== e.recordedMtime) s.markSuspect(id, path, now + s.hot, mtime);
    else s.clearSuspect(id, path);
  }
}

/** Paths the sentinel should stat; remembers when, as the evidence time of its answers. */
export function sentinelTasks(s: ViewState): string[] {
  s.sentinelStart = s.nowScan();
  return [...s.suspects.paths()];
}

/**
 * Stability evidence for one path. Returns true when the path was on the suspect list (and the
 * evidence was used), false when it is ignored (unknown node, not suspect).
 */
export function stabilityEvidence(s: ViewState, path: string, mtime: number, size: number | undefined, now: number): boolean {
  const entry = s.suspects.get(path);
  if (entry === undefined) return false;
  const tree = s.tree;
  const id = tree.lookup(path);
  if (id === NO_NODE || tree.isDirectory(id)) {
    s.suspects.delete(path);
    return false;
  }
  const same = Math.abs(tree.mtime(id) - mtime) <= MTIME_EPSILON && (size === undefined || size === tree.size(id));
  if (same) {
    if (s.logical.watermark(now) - mtime >= s.hot) s.clearSuspect(id, path);
    return true;
  }
  tree.setAttrs(id, size ?? tree.size(id), mtime, tree.ctime(id), tree.lineageId(id), now);
  s.markSuspect(id, path, now + s.hot, mtime);
  s.journal.append(path, 'upsert', 'sentinel', s.member);
  return true;
}

export function sentinelFeedback(s: ViewState, arbiter: Arbiter, updates: SentinelUpdate[], now: number): number {
  let n = 0;
  arbiter.beginHousekeeping(now);
  const scan = s.sentinelStart ?? s.nowScan();
  for (const u of updates) {
    if (checkPath(u.path) !== null) continue;
    if (u.status === 'missing') {
      if (arbiter.compensatingDelete(u.path, 'sentinel', undefined, scan)) n++;
      continue;
    }
    if (typeof u.mtime !== 'number' || !Number.isFinite(u.mtime)) continue;
    if (stabilityEvidence(s, u.path, u.mtime, u.size, now)) n++;
  }
  return n;
}
