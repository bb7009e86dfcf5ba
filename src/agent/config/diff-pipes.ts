/**
 * Per-pipe diff between two loaded configurations (SIGHUP / `fustor agent reload`): added → start,
 * removed → stop, changed → restart that pipe only, unchanged → untouched. "Changed" compares the pipe's
 * whole resolved config — its own fields and the source and sender it points at (and the agent id).
 */
import { isDeepStrictEqual } from 'node:util';
import type { AgentConfig, ResolvedPipe } from './load-config.ts';

export interface PipeDiff { added: string[]; removed: string[]; changed: string[]; unchanged: string[] }

export function diffPipes(old: AgentConfig | Map<string, ResolvedPipe>, next: AgentConfig | Map<string, ResolvedPipe>): PipeDiff {
  const a = old instanceof Map ? old : old.pipes;
  const b = next instanceof Map ? next : next.pipes;
  const diff: PipeDiff = { added: [], removed: [], changed: [], unchanged: [] };
  for (const [id, p] of b) {
    const prev = a.get(id);
    if (prev === undefined) diff.added.push(id);
    else if (isDeepStrictEqual(prev, p)) diff.unchanged.push(id);
    else diff.changed.push(id);
  }
  for (const id of a.keys()) if (!b.has(id)) diff.removed.push(id);
  for (const list of Object.values(diff) as string[][]) list.sort();
  return diff;
}
